//! The upstream's `x-ratelimit-*` headers reach the quota observer, on success and on error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use artgen_core::ErrorCode;
use artgen_openai::{OpenAiProvider, QuotaObserver, QuotaReading};
use wiremock::{MockServer, ResponseTemplate};

use crate::helpers::{answer_with, config, generate, images_answer, openai_error, request};

/// Keeps every reading.
#[derive(Default)]
struct Recorder(Mutex<Vec<QuotaReading>>);

impl QuotaObserver for Recorder {
    fn observe(&self, reading: &QuotaReading) {
        self.0.lock().expect("not poisoned").push(reading.clone());
    }
}

fn with_limits(answer: ResponseTemplate, remaining_requests: &str) -> ResponseTemplate {
    answer
        .insert_header("x-ratelimit-limit-requests", "60")
        .insert_header("x-ratelimit-limit-tokens", "150000")
        .insert_header("x-ratelimit-remaining-requests", remaining_requests)
        .insert_header("x-ratelimit-remaining-tokens", "149984")
        .insert_header("x-ratelimit-reset-requests", "1s")
        .insert_header("x-ratelimit-reset-tokens", "6m0s")
}

async fn observed(server: &MockServer) -> (Arc<Recorder>, artgen_core::Result<usize>) {
    let recorder = Arc::new(Recorder::default());
    let provider = OpenAiProvider::new(config(server).with_name("primary"))
        .expect("valid config")
        .with_quota_observer(recorder.clone());
    let job = request(
        "gpt-image-1",
        artgen_core::domain::GenerateParams::default(),
    );
    let outcome = artgen_core::ports::ImageProvider::run(&provider, &job)
        .await
        .map(|r| r.images.len());
    (recorder, outcome)
}

#[tokio::test]
async fn a_successful_answer_reports_its_parsed_rate_limit_headers() {
    let server = MockServer::start().await;
    answer_with(&server, with_limits(images_answer(&[1], None), "59")).await;

    let (recorder, outcome) = observed(&server).await;

    assert_eq!(outcome.expect("success"), 1);
    let readings = recorder.0.lock().expect("not poisoned").clone();
    let expected = QuotaReading {
        provider: "primary".into(),
        model: "gpt-image-1".into(),
        remaining_requests: Some(59),
        remaining_tokens: Some(149_984),
        limit_requests: Some(60),
        limit_tokens: Some(150_000),
        reset_requests: Some(Duration::from_secs(1)),
        reset_tokens: Some(Duration::from_secs(360)),
    };
    assert_eq!(readings, [expected]);
}

#[tokio::test]
async fn a_rate_limited_answer_reports_its_headers_too() {
    let server = MockServer::start().await;
    let answer = openai_error(
        429,
        "Rate limit reached",
        "requests",
        Some("rate_limit_exceeded"),
    );
    answer_with(
        &server,
        with_limits(answer, "0").insert_header("retry-after", "1"),
    )
    .await;

    let (recorder, outcome) = observed(&server).await;

    assert_eq!(
        outcome.expect_err("rate limited").code(),
        ErrorCode::UpstreamRateLimited
    );
    let readings = recorder.0.lock().expect("not poisoned").clone();
    assert_eq!(readings.len(), 1);
    assert_eq!(readings[0].remaining_requests, Some(0));
    assert_eq!(readings[0].reset_tokens, Some(Duration::from_secs(360)));
}

#[tokio::test]
async fn answers_without_rate_limit_headers_report_nothing() {
    let server = MockServer::start().await;
    answer_with(&server, images_answer(&[1], None)).await;

    let (recorder, outcome) = observed(&server).await;

    outcome.expect("success");
    assert!(recorder.0.lock().expect("not poisoned").is_empty());
    // The observer is optional: the plain provider still works.
    generate(&server)
        .await
        .expect("success without an observer");
}
