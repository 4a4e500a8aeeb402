//! Answers ArtGen must not trust: malformed, URL-only, empty, or larger than the limit.

use std::net::SocketAddr;

use artgen_core::domain::GenerateParams;
use artgen_core::ports::ImageProvider;
use artgen_core::{Error, ErrorCode};
use artgen_openai::{OpenAiConfig, OpenAiError, OpenAiProvider};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use wiremock::{MockServer, ResponseTemplate};

use crate::helpers::{answer_with, b64, config, generate_err, png, read_request, request};

/// Asserts a non-retryable `upstream_error` and returns the crate's error kept as its cause.
fn unusable(err: &Error) -> &OpenAiError {
    assert_eq!(err.code(), ErrorCode::UpstreamError, "{err}");
    assert!(!err.is_retryable(), "{err}");
    std::error::Error::source(err)
        .and_then(|cause| cause.downcast_ref::<OpenAiError>())
        .expect("the OpenAiError is kept as the cause")
}

#[tokio::test]
async fn a_malformed_success_body_is_a_non_retryable_upstream_error() {
    let server = MockServer::start().await;
    answer_with(
        &server,
        ResponseTemplate::new(200).set_body_string("{\"data\": ["),
    )
    .await;

    let err = generate_err(&server).await;

    assert!(matches!(unusable(&err), OpenAiError::Decode(_)));
}

#[tokio::test]
async fn invalid_base64_is_a_non_retryable_upstream_error() {
    let server = MockServer::start().await;
    answer_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"data": [{"b64_json": "not base64!"}]})),
    )
    .await;

    let err = generate_err(&server).await;

    assert!(matches!(
        unusable(&err),
        OpenAiError::Base64 { index: 0, .. }
    ));
}

#[tokio::test]
async fn an_image_given_only_as_a_url_is_refused_and_never_fetched() {
    let server = MockServer::start().await;
    let url = format!("{}/files/image.png", server.uri());
    answer_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"data": [{"url": url}]})),
    )
    .await;

    let err = generate_err(&server).await;

    assert!(matches!(unusable(&err), OpenAiError::UrlOnly { index: 0 }));
    let calls = server.received_requests().await.expect("recording is on");
    assert_eq!(
        calls.len(),
        1,
        "only the generation call, no fetch of the URL"
    );
}

#[tokio::test]
async fn an_answer_without_images_is_an_upstream_error() {
    for body in [
        json!({"created": 1, "data": []}),
        json!({"created": 1}),
        json!({"data": null}),
    ] {
        let server = MockServer::start().await;
        answer_with(
            &server,
            ResponseTemplate::new(200).set_body_json(body.clone()),
        )
        .await;

        let err = generate_err(&server).await;

        assert!(matches!(unusable(&err), OpenAiError::NoImages), "{body}");
    }
}

#[tokio::test]
async fn an_answer_over_max_response_bytes_is_an_upstream_error() {
    let server = MockServer::start().await;
    let big = b64(&vec![7_u8; 8 * 1024]);
    answer_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"data": [{"b64_json": big}]})),
    )
    .await;
    let provider = OpenAiProvider::new(config(&server).with_max_response_bytes(4 * 1024))
        .expect("valid config");

    let err = provider
        .run(&request("gpt-image-1", GenerateParams::default()))
        .await
        .expect_err("the answer is too large");

    assert!(matches!(
        unusable(&err),
        OpenAiError::TooLarge { limit: 4096 }
    ));
    assert!(err.message().contains("4096 bytes"), "{}", err.message());
}

#[tokio::test]
async fn a_chunked_answer_is_read_whole_when_under_the_limit() {
    let body = json!({"data": [{"b64_json": b64(&png(5))}]})
        .to_string()
        .into_bytes();
    let chunks: Vec<Vec<u8>> = body.chunks(100).map(<[u8]>::to_vec).collect();
    let addr = serve_chunked(chunks).await;

    let response = chunked_provider(addr, body.len())
        .run(&request("gpt-image-1", GenerateParams::default()))
        .await
        .expect("the answer fits");

    assert_eq!(response.images[0].bytes, png(5));
}

#[tokio::test]
async fn a_chunked_answer_without_length_is_cut_off_past_the_limit() {
    let big = b64(&vec![7_u8; 48 * 1024]);
    let body = json!({"data": [{"b64_json": big}]})
        .to_string()
        .into_bytes();
    let addr = serve_chunked(body.chunks(1024).map(<[u8]>::to_vec).collect()).await;

    let err = chunked_provider(addr, 4 * 1024)
        .run(&request("gpt-image-1", GenerateParams::default()))
        .await
        .expect_err("the answer is too large");

    assert!(matches!(
        unusable(&err),
        OpenAiError::TooLarge { limit: 4096 }
    ));
}

fn chunked_provider(addr: SocketAddr, max_response_bytes: usize) -> OpenAiProvider {
    let config = OpenAiConfig::default()
        .with_base_url(format!("http://{addr}/v1"))
        .with_api_key("sk-test")
        .with_max_response_bytes(max_response_bytes);
    OpenAiProvider::new(config).expect("valid config")
}

/// A one-shot HTTP/1.1 server answering 200 with a chunked body and no `Content-Length`,
/// which wiremock cannot do.
async fn serve_chunked(chunks: Vec<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("the provider connects");
        read_request(&mut socket).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        let mut out = head.as_bytes().to_vec();
        for chunk in chunks {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(&chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        // The provider may hang up early once past its limit; that is the point.
        let _ = socket.write_all(&out).await;
        let _ = socket.shutdown().await;
    });
    addr
}
