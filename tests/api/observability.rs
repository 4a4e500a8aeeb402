//! Metrics move with traffic; no secret ever reaches a log line.

use artgen_tests::upstream::{error, mount_failure, mount_images};
use artgen_tests::{logs, spawn_app, TestOptions, OPENAI_KEY};
use wiremock::ResponseTemplate;

use crate::helpers::body;

#[tokio::test]
async fn metrics_move_with_traffic() {
    let app = spawn_app(TestOptions::default()).await;
    mount_images(app.upstream.as_ref().expect("wiremock")).await;
    let before = app.metrics().await;
    assert!(!before.contains("artgen_images_total{model=\"gpt-image-1\"}"));

    let mut request = body("gpt-image-1", "1024x1024");
    request["n"] = 2.into();
    assert_eq!(
        app.generate(Some(&app.user_key), &request).await.status(),
        200
    );
    assert_eq!(app.generate(None, &request).await.status(), 401);

    let after = app.metrics().await;
    for line in [
        "artgen_requests_total{endpoint=\"/generate\",model=\"gpt-image-1\",status=\"200\"} 1",
        "artgen_requests_total{endpoint=\"/generate\",model=\"\",status=\"401\"} 1",
        "artgen_images_total{model=\"gpt-image-1\"} 2",
        "artgen_tokens_total{model=\"gpt-image-1\",kind=\"output_image\"} 2112",
        "artgen_upstream_duration_seconds_count{model=\"gpt-image-1\"} 1",
        "artgen_request_duration_seconds_count{endpoint=\"/generate\"} 2",
    ] {
        assert!(after.contains(line), "missing {line} in\n{after}");
    }
    assert!(after.contains("artgen_cost_usd_total{model=\"gpt-image-1\"} 0.084595"));
}

#[tokio::test]
async fn no_key_ever_appears_in_the_logs() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_images(server).await;
    mount_failure(
        server,
        ResponseTemplate::new(401).set_body_json(error("bad key", None)),
        1,
    )
    .await;
    mount_failure(server, ResponseTemplate::new(500), 1).await;

    for _ in 0..3 {
        app.generate(Some(&app.user_key), &body("gpt-image-1", "1024x1024"))
            .await;
    }
    app.generate(Some(&app.other_key), &body("nope", "1")).await;
    app.generate(Some("ag_live_guessing"), &body("dall-e-2", "256x256"))
        .await;

    let captured = logs::captured();
    assert!(
        captured.contains("artgen::access"),
        "the access log was captured"
    );
    for secret in [
        OPENAI_KEY,
        app.user_key.as_str(),
        app.other_key.as_str(),
        app.admin_key.as_str(),
    ] {
        assert!(!captured.contains(secret), "a key leaked into the logs");
    }
    assert!(
        !captured.contains("Bearer "),
        "an Authorization header leaked into the logs"
    );
}
