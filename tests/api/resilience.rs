//! Upstream resilience through the real router: the per-model queue, the deadline,
//! fallbacks, and the upstream's quota headers.

use std::time::{Duration, Instant};

use artgen_core::domain::UsageQuery;
use artgen_core::ports::UsageStore;
use artgen_tests::upstream::{mount_failure, mount_images};
use artgen_tests::{spawn_app, TestOptions, Upstream};
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::{assert_error, body, json_of};

#[tokio::test]
async fn a_full_upstream_queue_answers_503_upstream_busy_with_retry_after() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        mock_latency: Duration::from_millis(1500),
        tweak: |s| {
            s.concurrency.max_in_flight = 1;
            s.concurrency.max_queue = 0;
        },
        ..TestOptions::default()
    })
    .await;
    let request = body("dall-e-2", "256x256");
    let slow = {
        let client = app.client.clone();
        let url = format!("{}/generate", app.address);
        let key = app.user_key.clone();
        let request = request.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&request)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let busy = app.generate(Some(&app.user_key), &request).await;

    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "refused at once, not queued"
    );
    assert_eq!(busy.status(), 503);
    assert!(busy.headers().get("retry-after").is_some());
    assert_error(&json_of(busy).await, "upstream_busy", None);
    // A different model has its own slots.
    let other = app
        .generate(
            Some(&app.user_key),
            &json!({"model": "gpt-image-1", "prompt": "x", "quality": "low", "size": "1024x1024"}),
        )
        .await;
    assert_eq!(other.status(), 200);
    assert_eq!(slow.await.expect("task").expect("answered").status(), 200);
    // The slot is free again.
    assert_eq!(
        app.generate(Some(&app.user_key), &request).await.status(),
        200
    );
}

#[tokio::test]
async fn the_deadline_answers_504_cancels_and_does_not_retry_a_possibly_billed_call() {
    let app = spawn_app(TestOptions {
        tweak: |s| s.deadline.timeout = Duration::from_millis(400),
        ..TestOptions::default()
    })
    .await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_failure(
        server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
        5,
    )
    .await;

    let started = Instant::now();
    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline cut it short"
    );
    assert_eq!(response.status(), 504);
    assert_error(&json_of(response).await, "upstream_timeout", None);
    assert_eq!(
        app.upstream_calls().await,
        1,
        "a timed-out call is not retried"
    );
    let rows = app.store.list(&UsageQuery::default()).await.expect("rows");
    assert_eq!(rows[0].error_code.as_deref(), Some("upstream_timeout"));
}

#[tokio::test]
async fn server_errors_fail_over_to_the_backup_and_usage_records_who_served() {
    let app = spawn_app(TestOptions {
        backup: true,
        ..TestOptions::default()
    })
    .await;
    let primary = app.upstream.as_ref().expect("wiremock");
    let backup = app.backup.as_ref().expect("backup");
    mount_failure(primary, ResponseTemplate::new(503), 100).await;
    mount_images(backup).await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["provider"], "backup");
    let rows = app.store.list(&UsageQuery::default()).await.expect("rows");
    assert_eq!(rows[0].provider, "backup");
    assert!(app.metrics().await.contains(
        "artgen_upstream_fallbacks_total{model=\"dall-e-2\",from=\"openai\",to=\"backup\"}"
    ));
}

#[tokio::test]
async fn client_errors_never_fail_over() {
    let app = spawn_app(TestOptions {
        backup: true,
        ..TestOptions::default()
    })
    .await;
    let primary = app.upstream.as_ref().expect("wiremock");
    let backup = app.backup.as_ref().expect("backup");
    let blocked = json!({"error": {"message": "rejected by the safety system", "type": "image_generation_user_error", "param": null, "code": "moderation_blocked"}});
    mount_failure(
        primary,
        ResponseTemplate::new(400).set_body_json(blocked),
        10,
    )
    .await;
    mount_images(backup).await;

    let response = app
        .generate(Some(&app.user_key), &body("gpt-image-1", "1024x1024"))
        .await;

    assert_eq!(response.status(), 400);
    assert_eq!(backup.received_requests().await.map_or(0, |r| r.len()), 0);
}

#[tokio::test]
async fn upstream_quota_headers_show_in_metrics_and_health() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    let engine_png = artgen_core::testing::render(
        artgen_core::domain::Dimensions::new(256, 256),
        artgen_core::domain::OutputFormat::Png,
        false,
        0,
    )
    .expect("renders");
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, engine_png);
    let answer = ResponseTemplate::new(200)
        .insert_header("x-ratelimit-remaining-requests", "41")
        .insert_header("x-ratelimit-remaining-tokens", "9000")
        .insert_header("x-ratelimit-reset-requests", "1s")
        .set_body_json(json!({"created": 1, "data": [{"b64_json": b64}]}));
    mount_failure(server, answer, 1).await;

    assert_eq!(
        app.generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await
            .status(),
        200
    );

    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains("artgen_upstream_quota_remaining{model=\"dall-e-2\",kind=\"requests\"} 41"),
        "{metrics}"
    );
    let health = json_of(app.get("/health", None).await).await;
    assert_eq!(
        health["upstream_quota"]["dall-e-2"]["remaining_requests"],
        41
    );
    assert_eq!(
        health["upstream_quota"]["dall-e-2"]["remaining_tokens"],
        9000
    );
}

#[tokio::test]
async fn a_stream_served_by_the_backup_is_recorded_under_the_backup() {
    let app = spawn_app(TestOptions {
        backup: true,
        ..TestOptions::default()
    })
    .await;
    let primary = app.upstream.as_ref().expect("wiremock");
    let backup = app.backup.as_ref().expect("backup");
    mount_failure(primary, ResponseTemplate::new(503), 100).await;
    let png = artgen_core::testing::render(
        artgen_core::domain::Dimensions::new(1024, 1024),
        artgen_core::domain::OutputFormat::Png,
        false,
        0,
    )
    .expect("renders");
    let completed = json!({
        "type": "image_generation.completed",
        "b64_json": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, png),
        "created_at": 1, "size": "1024x1024", "quality": "low", "background": "opaque", "output_format": "png",
        "usage": {"total_tokens": 280, "input_tokens": 8, "output_tokens": 272, "input_tokens_details": {"text_tokens": 8, "image_tokens": 0}}
    });
    let sse = format!("event: image_generation.completed\ndata: {completed}\n\n");
    mount_failure(
        backup,
        ResponseTemplate::new(200).set_body_raw(sse, "text/event-stream"),
        1,
    )
    .await;

    let request = json!({"model": "gpt-image-1", "prompt": "a fox", "quality": "low", "size": "1024x1024", "stream": true});
    let response = app.generate(Some(&app.user_key), &request).await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("image_generation.completed"));

    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = app.store.list(&UsageQuery::default()).await.expect("rows");
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows[0].provider, "backup");
    assert_eq!(rows[0].tokens.output_image_tokens, 272);
}
