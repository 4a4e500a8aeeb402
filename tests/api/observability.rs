//! Metrics move with traffic; no secret ever reaches a log line.

use artgen_tests::upstream::{error, mount_failure, mount_images};
use artgen_tests::{logs, spawn_app, TestOptions, OPENAI_KEY};
use wiremock::ResponseTemplate;

use serde_json::json;

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

/// A mock-provider server where `house` is an alias of `dall-e-2`.
async fn mock_with_alias() -> artgen_tests::TestApp {
    spawn_app(TestOptions {
        upstream: artgen_tests::Upstream::Mock,
        tweak: |s| {
            s.catalog.aliases.insert("house".into(), "dall-e-2".into());
        },
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_refused_request_counts_under_the_catalogue_model_its_body_named() {
    let app = mock_with_alias().await;
    let key = Some(app.user_key.as_str());
    let bad_size = |model: &str| json!({ "model": model, "prompt": "a fox", "size": "999x999" });

    for (body, status) in [
        (bad_size("dall-e-2"), 400),
        (bad_size("house"), 400),
        (
            json!({ "model": "dall-e-2", "prompt": "a fox", "n": "two" }),
            400,
        ),
        (json!({ "prompt": "a fox", "size": "999x999" }), 400),
        (
            json!({ "model": "made-up-model-123", "prompt": "a fox" }),
            404,
        ),
        (json!({ "model": 7, "prompt": "a fox" }), 400),
    ] {
        let response = app.generate(key, &body).await;
        assert_eq!(response.status(), status, "{body}");
    }
    let openai = json!({ "model": "gpt-image-2", "prompt": "a fox", "quality": "ultra" });
    let response = app
        .post_raw("/v1/images/generations", key, openai.to_string())
        .await;
    assert_eq!(response.status(), 400);
    let form = reqwest::multipart::Form::new()
        .text("model", "house")
        .text("prompt", "a boat");
    let response = app.post_form("/edit", &app.user_key, form).await;
    assert_eq!(response.status(), 400, "no image");

    let text = app.metrics().await;
    for line in [
        "artgen_requests_total{endpoint=\"/generate\",model=\"dall-e-2\",status=\"400\"} 3",
        "artgen_requests_total{endpoint=\"/generate\",model=\"\",status=\"400\"} 2",
        "artgen_requests_total{endpoint=\"/generate\",model=\"\",status=\"404\"} 1",
        "artgen_requests_total{endpoint=\"/v1/images/generations\",model=\"gpt-image-2\",status=\"400\"} 1",
        "artgen_requests_total{endpoint=\"/edit\",model=\"dall-e-2\",status=\"400\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(
        !text.contains("made-up-model"),
        "a caller's string became a label"
    );
    assert!(
        !text.contains("model=\"house\""),
        "an alias counts as its model"
    );
}

/// The date `days` from now, as `YYYY-MM-DD`.
fn days_from_now(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let secs = i64::try_from(now).expect("fits") + days * 86_400;
    artgen_core::domain::Date::from_unix_secs(secs).to_string()
}

#[tokio::test]
async fn unpriced_requests_and_lifecycle_warnings_are_counted_by_model() {
    let app = spawn_app(TestOptions {
        upstream: artgen_tests::Upstream::Mock,
        tweak: |s| {
            s.catalog = serde_json::from_value(json!({
                "unpriced": "serve",
                "models": {
                    "sunset-model": { "like": "gpt-image-2", "retired_on": days_from_now(10) }
                },
            }))
            .expect("a catalogue config");
        },
        ..TestOptions::default()
    })
    .await;
    let key = Some(app.user_key.as_str());

    for (model, size) in [
        ("gpt-image-2.6-flare", "1024x1024"),
        ("dall-e-2", "256x256"),
        ("sunset-model", "1024x1024"),
        ("gpt-image-2.5-flare", "1024x1024"),
    ] {
        let mut request = body(model, size);
        request["quality"] = if model == "dall-e-2" {
            "standard"
        } else {
            "low"
        }
        .into();
        let response = app.generate(key, &request).await;
        assert_eq!(response.status(), 200, "{model}");
    }

    let text = app.metrics().await;
    for line in [
        "artgen_unpriced_requests_total{model=\"gpt-image-2.6-flare\"} 1",
        "artgen_model_lifecycle_warnings_total{model=\"dall-e-2\",state=\"retired\"} 1",
        "artgen_model_lifecycle_warnings_total{model=\"sunset-model\",state=\"retiring\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("artgen_unpriced_requests_total{model=\"dall-e-2\"}"));
    assert!(
        !text.contains("model=\"gpt-image-2.5-flare\",state="),
        "active: no warning"
    );
}
