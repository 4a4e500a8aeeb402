//! `Idempotency-Key`: a retried request returns the first answer without a second upstream
//! call or charge; a different body is a 409; concurrent duplicates wait for the first.

use std::time::Duration;

use artgen_core::domain::UsageQuery;
use artgen_core::ports::UsageStore;
use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use serde_json::Value;

use crate::helpers::{assert_error, body};

async fn send(
    app: &TestApp,
    key: &str,
    idem: &str,
    request: &Value,
) -> (u16, Option<String>, String) {
    let response = app
        .client
        .post(format!("{}/generate", app.address))
        .bearer_auth(key)
        .header("idempotency-key", idem)
        .json(request)
        .send()
        .await
        .expect("reachable");
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, replayed, response.text().await.expect("body"))
}

async fn mock_app(latency: Duration) -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        mock_latency: latency,
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_retry_replays_the_first_answer_without_a_second_call_or_charge() {
    let app = mock_app(Duration::ZERO).await;
    let request = body("dall-e-2", "256x256");

    let first = send(&app, &app.user_key, "order-42", &request).await;
    let second = send(&app, &app.user_key, "order-42", &request).await;

    assert_eq!(first.0, 200);
    assert_eq!(second.0, 200);
    assert_eq!(first.2, second.2, "byte-identical body");
    assert_eq!(first.1, None);
    assert_eq!(second.1.as_deref(), Some("true"));
    assert_eq!(app.upstream_calls().await, 1);
    assert_eq!(
        app.store
            .list(&UsageQuery::default())
            .await
            .expect("rows")
            .len(),
        1
    );
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_409() {
    let app = mock_app(Duration::ZERO).await;
    send(&app, &app.user_key, "k1", &body("dall-e-2", "256x256")).await;

    let (status, _, text) = send(&app, &app.user_key, "k1", &body("dall-e-2", "512x512")).await;

    assert_eq!(status, 409);
    assert_error(
        &serde_json::from_str(&text).expect("json"),
        "conflict",
        None,
    );
    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn concurrent_duplicates_wait_for_the_first_and_share_its_answer() {
    let app = mock_app(Duration::from_millis(700)).await;
    let request = body("dall-e-2", "256x256");

    let (a, b) = tokio::join!(
        send(&app, &app.user_key, "dup", &request),
        send(&app, &app.user_key, "dup", &request)
    );

    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(a.2, b.2);
    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn keys_are_scoped_per_user() {
    let app = mock_app(Duration::ZERO).await;
    let request = body("dall-e-2", "256x256");

    let mine = send(&app, &app.user_key, "shared", &request).await;
    let theirs = send(&app, &app.other_key, "shared", &request).await;

    assert_eq!((mine.0, theirs.0), (200, 200));
    assert_ne!(mine.2, theirs.2);
    assert_eq!(app.upstream_calls().await, 2);
}

async fn send_to(app: &TestApp, path: &str, idem: &str, request: &Value) -> (u16, String) {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(&app.user_key)
        .header("idempotency-key", idem)
        .json(request)
        .send()
        .await
        .expect("reachable");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test]
async fn a_replay_is_rebuilt_from_the_stored_images_and_the_record_holds_no_image_bytes() {
    let app = mock_app(Duration::ZERO).await;
    let native =
        serde_json::json!({"model": "dall-e-2", "prompt": "a fox", "size": "256x256", "n": 2});
    let openai = serde_json::json!({
        "model": "dall-e-2", "prompt": "a fox", "size": "256x256", "response_format": "b64_json"
    });

    for (path, request) in [("/generate", &native), ("/v1/images/generations", &openai)] {
        let first = send_to(&app, path, path, request).await;
        let replay = send_to(&app, path, path, request).await;

        assert_eq!(first.0, 200, "{path}: {}", first.1);
        assert_eq!(replay.1, first.1, "{path}: the replay is byte-identical");
        let json: Value = serde_json::from_str(&first.1).expect("json");
        let images = json
            .get("images")
            .or_else(|| json.get("data"))
            .and_then(Value::as_array)
            .expect("images");
        let b64: Vec<&str> = images
            .iter()
            .map(|i| i["b64_json"].as_str().expect("inline image"))
            .collect();
        assert!(b64.iter().all(|b| b.len() > 1000), "{path}: real images");
        let (kept, refs): (Vec<u8>, Option<String>) =
            sqlx::query_as("SELECT body, images FROM idempotency WHERE idem_key = ?")
                .bind(path)
                .fetch_one(app.store.pool())
                .await
                .expect("record");
        assert!(
            kept.len() < 1024,
            "{path}: only the small fields are kept ({} bytes)",
            kept.len()
        );
        let kept = String::from_utf8(kept).expect("json text");
        assert!(
            b64.iter().all(|b| !kept.contains(&b[..64])),
            "{path}: {kept}"
        );
        let refs = refs.expect("image references");
        assert_eq!(
            refs.matches("image_id").count(),
            b64.len(),
            "{path}: {refs}"
        );
    }
    assert_eq!(app.upstream_calls().await, 2, "one call per route");
}
