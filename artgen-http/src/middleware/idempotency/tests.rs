//! The middleware on a tiny router whose handler counts its calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use artgen_core::domain::{Principal, Role};
use artgen_core::ports::SystemClock;
use artgen_core::testing::InMemoryIdempotencyStore;
use axum::extract::State as AxumState;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::post;
use axum::Router;
use tower::ServiceExt as _;

use super::*;

/// What the handler does: count, optionally wait, fail on its first call, or stream.
#[derive(Default)]
struct Handler {
    calls: AtomicUsize,
    delay: Duration,
    fail_first: bool,
    stream: bool,
}

async fn handle(AxumState(handler): AxumState<Arc<Handler>>, body: String) -> Response {
    let call = handler.calls.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(handler.delay).await;
    let content_type = if handler.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let status = if handler.fail_first && call == 1 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::CREATED
    };
    let body = format!(r#"{{"call":{call},"echo":{body:?}}}"#);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Stands in for the auth layer: the user comes from `x-user` (default `ann`).
async fn fake_auth(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get("x-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("ann")
        .to_owned();
    let principal = Principal::new(user, Role::User);
    let context = RequestContext {
        request_id: RequestId::generate(),
        principal,
        rate_limit: Default::default(),
    };
    request.extensions_mut().insert(context);
    next.run(request).await
}

struct TestApp {
    router: Router,
    handler: Arc<Handler>,
    layer: IdempotencyLayerState,
}

fn app(handler: Handler, config: IdempotencyConfig) -> TestApp {
    let handler = Arc::new(handler);
    let store = Arc::new(InMemoryIdempotencyStore::default());
    let layer = IdempotencyLayerState::new(store, Arc::new(SystemClock), config);
    let router = Router::new()
        .route("/generate", post(handle))
        .route_layer(from_fn_with_state(layer.clone(), idempotency))
        .layer(from_fn(fake_auth))
        .with_state(Arc::clone(&handler));
    TestApp {
        router,
        handler,
        layer,
    }
}

impl TestApp {
    fn calls(&self) -> usize {
        self.handler.calls.load(Ordering::SeqCst)
    }

    async fn send(&self, user: &str, key: Option<&[u8]>, body: &str) -> Sent {
        let mut request = Request::post("/generate")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-user", user);
        if let Some(key) = key {
            let value = HeaderValue::from_bytes(key).expect("a header value");
            request = request.header(IDEMPOTENCY_KEY, value);
        }
        let request = request
            .body(Body::from(body.to_owned()))
            .expect("a valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("body reads");
        let header = |name: &str| {
            let value = parts.headers.get(name);
            value.and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        Sent {
            status: parts.status,
            content_type: header("content-type"),
            replayed: header(IDEMPOTENT_REPLAYED).is_some_and(|v| v == "true"),
            retry_after: header("retry-after"),
            body: body.to_vec(),
        }
    }
}

#[derive(Debug)]
struct Sent {
    status: StatusCode,
    content_type: Option<String>,
    replayed: bool,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Sent {
    fn error_code(&self) -> String {
        let json: serde_json::Value = serde_json::from_slice(&self.body).expect("an error body");
        json["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_without_a_second_call() {
    let app = app(Handler::default(), IdempotencyConfig::default());

    let first = app.send("ann", Some(b"k1"), r#"{"p":1}"#).await;
    let retry = app.send("ann", Some(b"k1"), r#"{"p":1}"#).await;

    assert_eq!(app.calls(), 1);
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed);
    assert_eq!(retry.status, first.status);
    assert_eq!(retry.content_type, first.content_type);
    assert_eq!(retry.body, first.body);
    assert!(retry.replayed);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_conflict() {
    let app = app(Handler::default(), IdempotencyConfig::default());
    app.send("ann", Some(b"k1"), r#"{"p":1}"#).await;

    let other = app.send("ann", Some(b"k1"), r#"{"p":2}"#).await;

    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.error_code(), "conflict");
    assert_eq!(app.calls(), 1);
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_and_is_woken_with_the_first_answer() {
    let handler = Handler {
        delay: Duration::from_millis(300),
        ..Handler::default()
    };
    // Polling alone would take 30 s: only the in-process wake-up makes this fast.
    let config = IdempotencyConfig::default().with_poll(Duration::from_secs(30));
    let app = app(handler, config);
    let started = std::time::Instant::now();

    let (a, b) = tokio::join!(
        app.send("ann", Some(b"k1"), "{}"),
        app.send("ann", Some(b"k1"), "{}")
    );

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(app.calls(), 1);
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_eq!(a.body, b.body);
    assert_eq!(u8::from(a.replayed) + u8::from(b.replayed), 1);
    assert_eq!(
        app.layer.waiters.len(),
        0,
        "no wake-up entry is left behind"
    );
}

#[tokio::test]
async fn a_duplicate_that_waits_too_long_gets_in_progress_with_retry_after() {
    let handler = Handler {
        delay: Duration::from_millis(500),
        ..Handler::default()
    };
    let app = app(
        handler,
        IdempotencyConfig::default().with_wait(Duration::ZERO),
    );

    let (a, b) = tokio::join!(app.send("ann", Some(b"k1"), "{}"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.send("ann", Some(b"k1"), "{}").await
    });

    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(b.status, StatusCode::CONFLICT);
    assert_eq!(b.error_code(), "idempotency_in_progress");
    assert_eq!(b.retry_after.as_deref(), Some("1"));
    assert_eq!(app.calls(), 1);
}

#[tokio::test]
async fn keys_of_different_users_are_independent() {
    let app = app(Handler::default(), IdempotencyConfig::default());

    let ann = app.send("ann", Some(b"k1"), r#"{"p":1}"#).await;
    let bob = app.send("bob", Some(b"k1"), r#"{"p":2}"#).await;

    assert_eq!(
        (ann.status, bob.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert!(!bob.replayed);
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn a_server_error_is_not_kept_so_the_retry_runs_again() {
    let handler = Handler {
        fail_first: true,
        ..Handler::default()
    };
    let app = app(handler, IdempotencyConfig::default());

    let failed = app.send("ann", Some(b"k1"), "{}").await;
    let retry = app.send("ann", Some(b"k1"), "{}").await;
    let replay = app.send("ann", Some(b"k1"), "{}").await;

    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(!retry.replayed);
    assert!(replay.replayed);
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn streams_are_passed_through_and_never_replayed() {
    let handler = Handler {
        stream: true,
        ..Handler::default()
    };
    let app = app(handler, IdempotencyConfig::default());

    let first = app.send("ann", Some(b"k1"), "{}").await;
    let second = app.send("ann", Some(b"k1"), "{}").await;

    assert_eq!(first.content_type.as_deref(), Some("text/event-stream"));
    assert!(!second.replayed);
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn a_request_whose_client_went_away_releases_its_key() {
    let handler = Handler {
        delay: Duration::from_secs(30),
        ..Handler::default()
    };
    let app = app(
        handler,
        IdempotencyConfig::default().with_wait(Duration::ZERO),
    );
    let gone = tokio::time::timeout(
        Duration::from_millis(100),
        app.send("ann", Some(b"k1"), "{}"),
    );
    assert!(gone.await.is_err(), "the first request is cut off");

    // The abandon runs in a spawned task; give it a moment.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let retry = tokio::time::timeout(
        Duration::from_millis(200),
        app.send("ann", Some(b"k1"), "{}"),
    )
    .await;

    assert!(
        retry.is_err(),
        "the retry runs the handler, not a 409: {retry:?}"
    );
    assert_eq!(app.calls(), 2);
}

#[tokio::test]
async fn requests_without_a_key_pass_through_and_bad_keys_are_refused() {
    let app = app(Handler::default(), IdempotencyConfig::default());

    app.send("ann", None, "{}").await;
    app.send("ann", None, "{}").await;
    assert_eq!(app.calls(), 2);

    let long = [b'k'; 256];
    for bad in [&b""[..], &long, b"has space"] {
        let refused = app.send("ann", Some(bad), "{}").await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        let json: serde_json::Value = serde_json::from_slice(&refused.body).expect("json");
        assert_eq!(json["error"]["code"], "invalid_value");
        assert_eq!(json["error"]["param"], "Idempotency-Key");
    }
    assert_eq!(app.calls(), 2);
}
