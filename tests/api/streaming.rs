//! `stream: true`: the upstream's SSE events with our request id; usage recorded when the
//! stream completes; a client that leaves cancels the call.

use std::time::Duration;

use artgen_core::domain::{UsageQuery, UsageStatus};
use artgen_core::ports::UsageStore;
use artgen_tests::{spawn_app, TestOptions, Upstream};
use serde_json::{json, Value};

use crate::helpers::{assert_error, decoded_size, json_of};

/// Splits an SSE body into (event, data) pairs.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let event = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((
                event.to_owned(),
                serde_json::from_str(data).expect("JSON data"),
            ))
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_generation_sends_partials_then_the_completed_image() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await;
    let request = json!({
        "model": "gpt-image-1", "prompt": "a fox", "size": "1024x1024", "quality": "low",
        "stream": true, "partial_images": 2
    });

    let response = app.generate(Some(&app.user_key), &request).await;

    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/event-stream"));
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let events = events(&response.text().await.expect("body"));
    let names: Vec<_> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "image_generation.partial_image",
            "image_generation.partial_image",
            "image_generation.completed"
        ]
    );
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["request_id"], request_id.as_str());
        assert_eq!(data["output_format"], "png");
        if i < 2 {
            assert_eq!(data["partial_image_index"], i);
        }
    }
    let completed = &events[2].1;
    assert_eq!(
        decoded_size(completed["b64_json"].as_str().expect("b64")),
        (1024, 1024)
    );
    assert_eq!(completed["usage"]["output_tokens"], 272);

    // The last event leaves only after the usage row is committed: no waiting needed.
    let rows = app.store.list(&UsageQuery::default()).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, UsageStatus::Succeeded);
    assert_eq!(rows[0].request_id.as_str(), request_id);
    assert_eq!(rows[0].tokens.output_image_tokens, 272);
}

#[tokio::test]
async fn streaming_a_model_that_cannot_stream_is_a_400_before_any_event() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await;
    let request = json!({"model": "dall-e-2", "prompt": "a fox", "stream": true});
    let response = app.generate(Some(&app.user_key), &request).await;
    assert_eq!(response.status(), 400);
    assert_error(&json_of(response).await, "invalid_value", Some("stream"));
    assert_eq!(app.upstream_calls().await, 0);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_and_usage_records_it() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        mock_latency: Duration::from_millis(800),
        ..TestOptions::default()
    })
    .await;
    let request = json!({
        "model": "gpt-image-1", "prompt": "a fox", "size": "1024x1024", "quality": "low",
        "stream": true, "partial_images": 3
    });

    let response = app.generate(Some(&app.user_key), &request).await;
    assert_eq!(response.status(), 200);
    let mut response = response;
    let first = response
        .chunk()
        .await
        .expect("readable")
        .expect("a first chunk");
    assert!(String::from_utf8_lossy(&first).contains("partial_image"));
    drop(response);

    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = app.store.list(&UsageQuery::default()).await.expect("rows");
        // The row exists from the start (`started`); wait for its outcome.
        if rows.iter().any(|r| r.status.is_final()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 1, "the cancelled stream is recorded");
    assert_eq!(rows[0].status, UsageStatus::Failed);
    assert_eq!(rows[0].error_code.as_deref(), Some("cancelled"));
    assert_eq!(rows[0].images, 0);
    assert_eq!(
        rows[0].cost.micros(),
        0,
        "nothing was delivered, nothing billed"
    );
}
