//! Upstream behaviour: moderation, retries, auth failures, retired models.

use std::time::{Duration, Instant};

use artgen_tests::upstream::{error, mount_failure, mount_images};
use artgen_tests::{spawn_app, TestOptions};
use wiremock::ResponseTemplate;

use crate::helpers::{assert_error, body, json_of};

#[tokio::test]
async fn a_moderation_block_is_a_policy_error_carrying_the_reason() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    let reason = "Your request was rejected by the safety system. safety_violations=[violence]";
    let mut envelope = error(reason, Some("moderation_blocked"));
    envelope["error"]["type"] = "image_generation_user_error".into();
    mount_failure(
        server,
        ResponseTemplate::new(400).set_body_json(envelope),
        1,
    )
    .await;

    let response = app
        .generate(Some(&app.user_key), &body("gpt-image-1", "1024x1024"))
        .await;

    assert_eq!(response.status(), 400);
    let json = json_of(response).await;
    assert_error(&json, "moderation_blocked", None);
    assert!(json["error"]["message"]
        .as_str()
        .expect("message")
        .contains("safety_violations=[violence]"));
    assert_eq!(
        app.upstream_calls().await,
        1,
        "a policy block is never retried"
    );
}

#[tokio::test]
async fn two_server_errors_then_success_is_a_200() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_images(server).await;
    mount_failure(
        server,
        ResponseTemplate::new(500).set_body_string("upstream broke"),
        2,
    )
    .await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.upstream_calls().await, 3);
    assert!(app
        .metrics()
        .await
        .contains("artgen_upstream_retries_total{model=\"dall-e-2\"} 2"));
}

#[tokio::test]
async fn persistent_server_errors_become_a_502_without_upstream_text() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_failure(
        server,
        ResponseTemplate::new(500).set_body_string("secret internals"),
        10,
    )
    .await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 502);
    let text = response.text().await.expect("body");
    assert!(!text.contains("secret internals"));
    assert_eq!(
        app.upstream_calls().await,
        3,
        "1 attempt + 2 retries by default"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_for_and_retried() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_images(server).await;
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_json(error("Rate limit reached", Some("rate_limit_exceeded")));
    mount_failure(server, limited, 1).await;

    let started = Instant::now();
    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.upstream_calls().await, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn an_upstream_auth_failure_is_a_502_not_the_callers_fault() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    let refused = ResponseTemplate::new(401).set_body_json(error(
        "Incorrect API key provided: sk-tes***",
        Some("invalid_api_key"),
    ));
    mount_failure(server, refused, 5).await;

    let response = app
        .generate(Some(&app.user_key), &body("gpt-image-1", "1024x1024"))
        .await;

    assert_eq!(response.status(), 502);
    let json = json_of(response).await;
    assert_error(&json, "upstream_auth", None);
    assert!(!json.to_string().contains("sk-tes"));
    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn a_retired_model_is_a_clear_model_unavailable_error() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    let gone = ResponseTemplate::new(404).set_body_json(error(
        "The model `dall-e-2` does not exist",
        Some("model_not_found"),
    ));
    mount_failure(server, gone, 5).await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(
        response.status(),
        404,
        "OpenAI's status for an unknown model"
    );
    assert_error(&json_of(response).await, "model_not_found", None);
}

#[tokio::test]
async fn a_failed_upstream_call_records_a_failed_usage_row() {
    use artgen_core::domain::{UsageQuery, UsageStatus};
    use artgen_core::ports::UsageStore;

    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_failure(server, ResponseTemplate::new(503), 10).await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;
    assert_eq!(response.status(), 502);

    let rows = app.store.list(&UsageQuery::default()).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, UsageStatus::Failed);
    assert_eq!(rows[0].error_code.as_deref(), Some("upstream_error"));
    assert_eq!(rows[0].cost.micros(), 0);
}

#[tokio::test]
async fn advice_longer_than_we_wait_is_passed_on_as_a_429_with_retry_after() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "120")
        .set_body_json(error("Rate limit reached", Some("rate_limit_exceeded")));
    mount_failure(server, limited, 5).await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "120");
    assert_error(&json_of(response).await, "rate_limit_exceeded", None);
    assert_eq!(
        app.upstream_calls().await,
        1,
        "not retried: the advice is beyond max_retry_after"
    );
}

#[tokio::test]
async fn x_should_retry_false_is_obeyed() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    mount_failure(
        server,
        ResponseTemplate::new(500).insert_header("x-should-retry", "false"),
        5,
    )
    .await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 502);
    assert_eq!(app.upstream_calls().await, 1);
}

#[tokio::test]
async fn unsafe_upstream_answers_are_502s_that_echo_nothing_and_fetch_nothing() {
    let canary = wiremock::MockServer::start().await;
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    let foreign = serde_json::json!({"created": 1, "data": [{"url": format!("{}/stolen.png", canary.uri())}]});
    let answers = [
        ResponseTemplate::new(200).set_body_string("{\"created\": 1, \"data\": [CANARY-TEXT"),
        ResponseTemplate::new(200).set_body_json(foreign),
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"created": 1, "data": [{"b64_json": "!!CANARY-TEXT!!"}]}),
        ),
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"created": 1, "data": [{"b64_json": "R0lGODlhAQABAAAAACw="}]}),
        ),
    ];
    for answer in answers {
        server.reset().await;
        mount_failure(server, answer, 5).await;
        let response = app
            .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await;
        assert_eq!(response.status(), 502);
        let text = response.text().await.expect("body");
        assert!(text.contains("upstream_error"), "{text}");
        assert!(!text.contains("CANARY"), "{text}");
    }
    assert_eq!(
        canary.received_requests().await.map_or(0, |r| r.len()),
        0,
        "no foreign URL is fetched"
    );
}
