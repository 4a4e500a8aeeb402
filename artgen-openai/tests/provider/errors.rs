//! Error answers of the upstream, mapped to the core's codes and retry advice.

use std::time::Duration;

use artgen_core::domain::GenerateParams;
use artgen_core::ports::ImageProvider;
use artgen_core::ErrorCode;
use wiremock::{MockServer, ResponseTemplate};

use crate::helpers::{answer_with, generate_err, openai_error, provider, request};

const REASON: &str =
    "Your request was rejected by the safety system. safety_violations=[violence].";

#[tokio::test]
async fn a_moderation_block_keeps_the_upstreams_code_and_reason() {
    let server = MockServer::start().await;
    let answer = openai_error(
        400,
        REASON,
        "image_generation_user_error",
        Some("moderation_blocked"),
    );
    answer_with(&server, answer).await;

    let err = generate_err(&server).await;

    assert_eq!(
        err.code(),
        ErrorCode::ModerationBlocked,
        "the upstream's own code"
    );
    assert_eq!(err.message(), REASON);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_dall_e_safety_rejection_is_a_content_policy_violation() {
    let server = MockServer::start().await;
    let reason = "Your request was rejected as a result of our safety system.";
    answer_with(
        &server,
        openai_error(
            400,
            reason,
            "invalid_request_error",
            Some("content_policy_violation"),
        ),
    )
    .await;

    let err = generate_err(&server).await;

    assert_eq!(err.code(), ErrorCode::ContentPolicyViolation);
    assert_eq!(err.message(), reason);
}

#[tokio::test]
async fn a_refused_key_is_upstream_auth_without_the_upstream_text() {
    let upstream = "Incorrect API key provided: sk-test-***6789. You can find your API key at ...";
    for status in [401, 403] {
        let server = MockServer::start().await;
        answer_with(
            &server,
            openai_error(
                status,
                upstream,
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
        )
        .await;

        let err = generate_err(&server).await;

        assert_eq!(err.code(), ErrorCode::UpstreamAuth, "HTTP {status}");
        assert!(
            !err.message().contains("Incorrect API key"),
            "{}",
            err.message()
        );
        assert!(!err.message().contains("sk-test"));
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn a_retired_model_is_model_unavailable_naming_the_model() {
    let server = MockServer::start().await;
    let upstream = "The model `dall-e-2` does not exist or you do not have access to it.";
    answer_with(
        &server,
        openai_error(
            404,
            upstream,
            "invalid_request_error",
            Some("model_not_found"),
        ),
    )
    .await;

    let err = provider(&server)
        .run(&request("dall-e-2", GenerateParams::default()))
        .await
        .expect_err("the model is gone");

    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    assert_eq!(
        err.message(),
        "model 'dall-e-2' is not available upstream (retired or unknown)"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn model_not_found_means_model_unavailable_whatever_the_status() {
    let server = MockServer::start().await;
    answer_with(
        &server,
        openai_error(
            400,
            "no such model",
            "invalid_request_error",
            Some("model_not_found"),
        ),
    )
    .await;

    let err = generate_err(&server).await;

    assert_eq!(err.code(), ErrorCode::ModelNotFound);
    assert!(err.message().contains("'gpt-image-1'"));
}

#[tokio::test]
async fn a_rate_limit_is_retryable_after_the_retry_after_seconds() {
    let server = MockServer::start().await;
    let answer = openai_error(
        429,
        "Rate limit reached",
        "requests",
        Some("rate_limit_exceeded"),
    )
    .insert_header("retry-after", "2");
    answer_with(&server, answer).await;

    let err = generate_err(&server).await;

    assert_eq!(err.code(), ErrorCode::UpstreamRateLimited);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
}

#[tokio::test]
async fn retry_after_ms_is_read_before_retry_after() {
    let server = MockServer::start().await;
    let answer = openai_error(
        429,
        "Rate limit reached",
        "requests",
        Some("rate_limit_exceeded"),
    )
    .insert_header("retry-after-ms", "1500")
    .insert_header("retry-after", "9");
    answer_with(&server, answer).await;

    let err = generate_err(&server).await;

    assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn an_exhausted_quota_is_not_retryable() {
    let server = MockServer::start().await;
    let message = "You exceeded your current quota, please check your plan and billing details.";
    let answer = openai_error(
        429,
        message,
        "insufficient_quota",
        Some("insufficient_quota"),
    )
    .insert_header("retry-after", "2");
    answer_with(&server, answer).await;

    let err = generate_err(&server).await;

    assert_eq!(err.code(), ErrorCode::UpstreamRateLimited);
    assert!(!err.is_retryable());
    assert_eq!(err.retry_after(), None);
}

#[tokio::test]
async fn server_errors_timeouts_and_conflicts_are_retryable_upstream_errors() {
    for status in [500, 502, 503, 408, 409] {
        let server = MockServer::start().await;
        answer_with(
            &server,
            ResponseTemplate::new(status).set_body_string("<html>bad gateway</html>"),
        )
        .await;

        let err = generate_err(&server).await;

        assert_eq!(err.code(), ErrorCode::UpstreamError, "HTTP {status}");
        assert!(err.is_retryable(), "HTTP {status}");
        assert!(!err.message().contains("html"));
    }
}

#[tokio::test]
async fn x_should_retry_overrides_the_status_rules() {
    let server = MockServer::start().await;
    answer_with(
        &server,
        ResponseTemplate::new(500).insert_header("x-should-retry", "false"),
    )
    .await;
    let other = MockServer::start().await;
    let answer = openai_error(400, "try again", "invalid_request_error", None)
        .insert_header("x-should-retry", "true");
    answer_with(&other, answer).await;

    let refused = generate_err(&server).await;
    let invited = generate_err(&other).await;

    assert_eq!(refused.code(), ErrorCode::UpstreamError);
    assert!(!refused.is_retryable());
    assert!(invited.is_retryable());
}

#[tokio::test]
async fn other_client_errors_name_the_parameter_but_not_the_upstream_text() {
    let server = MockServer::start().await;
    let answer = ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": {
        "message": "Invalid size 'x'. Internal detail: shard-17", "type": "invalid_request_error",
        "param": "size", "code": "invalid_value"
    }}));
    answer_with(&server, answer).await;

    let err = generate_err(&server).await;

    assert_eq!(err.code(), ErrorCode::UpstreamError);
    assert!(!err.is_retryable());
    assert_eq!(err.param(), Some("size"));
    assert!(!err.message().contains("shard-17"), "{}", err.message());
}

#[tokio::test]
async fn a_slow_upstream_is_a_non_retryable_timeout() {
    let server = MockServer::start().await;
    answer_with(
        &server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
    )
    .await;
    let config = crate::helpers::config(&server).with_timeout(Duration::from_millis(200));
    let provider = artgen_openai::OpenAiProvider::new(config).expect("valid config");

    let err = provider
        .run(&request("gpt-image-1", GenerateParams::default()))
        .await
        .expect_err("the deadline passes");

    assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_upstream_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("bound address");
    drop(listener);
    let config = artgen_openai::OpenAiConfig::default()
        .with_base_url(format!("http://{addr}/v1"))
        .with_api_key("sk-test");
    let provider = artgen_openai::OpenAiProvider::new(config).expect("valid config");

    let err = provider
        .run(&request("gpt-image-1", GenerateParams::default()))
        .await
        .expect_err("nobody listens");

    assert_eq!(err.code(), ErrorCode::UpstreamError);
    assert!(err.is_retryable());
}
