//! The floor of any proxy on ArtGen's HTTP stack, for the `image_regime` bench: an axum server
//! that forwards each request's body to the upstream with reqwest, reads the whole answer and
//! sends it back. No auth, limiter, validation, image store, usage row, log or metric.
//!
//! `bare-proxy <upstream host:port>` binds `127.0.0.1:0` and prints `listening <addr>` on its
//! first line of standard output; the bench reads it, then sends requests as it does to ArtGen.
#![expect(
    clippy::print_stdout,
    reason = "the bench reads the bound address from it"
)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// What each request needs: the client and the upstream's origin.
#[derive(Clone)]
struct Upstream {
    client: reqwest::Client,
    origin: String,
}

/// Forwards the body to the same path upstream; 502 when the upstream cannot be read.
async fn forward(
    State(up): State<Upstream>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = up
        .client
        .post(format!("{}{}", up.origin, uri.path()))
        .body(body);
    if let Some(kind) = headers.get(header::CONTENT_TYPE) {
        request = request.header(header::CONTENT_TYPE, kind);
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    };
    let status = answer.status();
    let kind = answer.headers().get(header::CONTENT_TYPE).cloned();
    match answer.bytes().await {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            if let Some(kind) = kind {
                response.headers_mut().insert(header::CONTENT_TYPE, kind);
            }
            response
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

#[tokio::main]
async fn main() {
    let upstream = std::env::args()
        .nth(1)
        .expect("usage: bare-proxy <upstream host:port>");
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .expect("the HTTP client builds");
    let state = Upstream {
        client,
        origin: format!("http://{upstream}"),
    };
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    println!("listening {addr}");
    axum::serve(listener, app).await.expect("serves");
}
