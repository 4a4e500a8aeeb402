//! Streamed generations and edits: what is asked for, how events are read, how they end.

use artgen_core::domain::{GenerateParams, ImageJob, OutputFormat, TokenUsage};
use artgen_core::ports::{ImageEventStream, ImageProvider, StreamEvent};
use artgen_core::ErrorCode;
use futures_util::StreamExt;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::forms::{edit, field, image, parts, upload, variation};
use crate::helpers::{
    b64, images_answer, only_request, openai_error, png, provider, request, sent_body, ENDPOINT,
};

/// An event-stream body (`\r\n` line ends, a comment and a keepalive thrown in).
fn sse(events: &[(String, Value)]) -> String {
    let mut body = String::from(": connected\r\n\r\nevent: keepalive\r\ndata: {}\r\n\r\n");
    for (name, data) in events {
        body.push_str(&format!("event: {name}\r\ndata: {data}\r\n\r\n"));
    }
    body
}

fn streamed(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

fn partial(kind: &str, index: u32, seed: u8) -> (String, Value) {
    let name = format!("{kind}.partial_image");
    let data = json!({"type": name, "b64_json": b64(&png(seed)), "partial_image_index": index,
        "created_at": 1, "size": "1024x1024", "quality": "low", "background": "opaque",
        "output_format": "png"});
    (name, data)
}

fn completed(kind: &str, seed: u8, usage: Value) -> (String, Value) {
    let name = format!("{kind}.completed");
    let data = json!({"type": name, "b64_json": b64(&png(seed)), "created_at": 2,
        "size": "1024x1024", "quality": "low", "background": "opaque", "output_format": "png",
        "usage": usage});
    (name, data)
}

async fn mount(server: &MockServer, endpoint: &str, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(endpoint))
        .respond_with(answer)
        .mount(server)
        .await;
}

fn streaming_request(partial_images: Option<u32>) -> ImageJob {
    let params = GenerateParams {
        stream: Some(true),
        partial_images,
        ..GenerateParams::default()
    };
    request("gpt-image-1", params)
}

async fn open(server: &MockServer, job: &ImageJob) -> ImageEventStream {
    provider(server)
        .stream(job)
        .await
        .expect("the stream opens")
}

fn usage() -> Value {
    json!({"total_tokens": 1076, "input_tokens": 20, "output_tokens": 1056,
        "input_tokens_details": {"text_tokens": 20, "image_tokens": 0}})
}

#[tokio::test]
async fn a_streamed_generation_yields_partials_then_the_completed_image_with_usage() {
    let server = MockServer::start().await;
    let events = [
        partial("image_generation", 0, 1),
        partial("image_generation", 1, 2),
        completed("image_generation", 3, usage()),
    ];
    mount(&server, ENDPOINT, streamed(sse(&events))).await;

    let items: Vec<_> = open(&server, &streaming_request(Some(2)))
        .await
        .collect()
        .await;

    let events: Vec<StreamEvent> = items.into_iter().map(|i| i.expect("no error")).collect();
    let expected_usage = TokenUsage {
        input_text_tokens: 20,
        input_image_tokens: 0,
        output_image_tokens: 1056,
        output_text_tokens: 0,
        ..TokenUsage::default()
    };
    assert_eq!(
        events,
        [
            StreamEvent::Partial {
                index: 0,
                image: png(1)
            },
            StreamEvent::Partial {
                index: 1,
                image: png(2)
            },
            StreamEvent::Completed {
                image: png(3),
                usage: Some(expected_usage)
            },
        ]
    );
    let body = sent_body(&server).await;
    assert_eq!(body["stream"], true);
    assert_eq!(body["partial_images"], 2);
}

#[tokio::test]
async fn a_streamed_edit_sends_stream_fields_in_the_form_and_reads_edit_events() {
    let server = MockServer::start().await;
    let events = [
        partial("image_edit", 0, 4),
        completed("image_edit", 5, usage()),
    ];
    mount(&server, "/v1/images/edits", streamed(sse(&events))).await;
    let options = GenerateParams {
        stream: Some(true),
        partial_images: Some(1),
        ..GenerateParams::default()
    };
    let photo = image(OutputFormat::Png, 32, false, 1);
    let job = edit(
        "gpt-image-1",
        options,
        vec![upload("image", "p.png", photo)],
        None,
        None,
    );

    let items: Vec<_> = open(&server, &job).await.collect().await;

    assert_eq!(items.len(), 2);
    assert!(matches!(&items[0], Ok(StreamEvent::Partial { index: 0, image }) if *image == png(4)));
    assert!(matches!(&items[1], Ok(StreamEvent::Completed { image, .. }) if *image == png(5)));
    let parts = parts(&only_request(&server).await);
    assert_eq!(field(&parts, "stream").text(), "true");
    assert_eq!(field(&parts, "partial_images").text(), "1");
}

#[tokio::test]
async fn an_error_event_is_a_moderation_item_that_ends_the_stream() {
    let server = MockServer::start().await;
    let reason = "Your request was rejected by the safety system.";
    let error = json!({"type": "image_generation_user_error", "code": "moderation_blocked",
        "message": reason, "param": null});
    let events = [
        partial("image_generation", 0, 1),
        ("error".to_owned(), error),
        completed("image_generation", 2, usage()),
    ];
    mount(&server, ENDPOINT, streamed(sse(&events))).await;

    let items: Vec<_> = open(&server, &streaming_request(Some(1)))
        .await
        .collect()
        .await;

    assert_eq!(items.len(), 2, "nothing after the error");
    assert!(matches!(
        items[0],
        Ok(StreamEvent::Partial { index: 0, .. })
    ));
    let err = items[1].as_ref().expect_err("the error event");
    assert_eq!(err.code(), ErrorCode::ModerationBlocked);
    assert_eq!(err.message(), reason);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn data_with_an_error_key_is_an_error_item_and_unknown_codes_are_upstream_errors() {
    let server = MockServer::start().await;
    let data = json!({"error": {"type": "server_error", "code": "boom", "message": "x"}});
    mount(&server, ENDPOINT, streamed(format!("data: {data}\n\n"))).await;

    let items: Vec<_> = open(&server, &streaming_request(None))
        .await
        .collect()
        .await;

    assert_eq!(items.len(), 1);
    let err = items[0].as_ref().expect_err("the error");
    assert_eq!(err.code(), ErrorCode::UpstreamError);
}

#[tokio::test]
async fn done_ends_the_stream_and_nothing_after_it_is_read() {
    let server = MockServer::start().await;
    let first = completed("image_generation", 1, usage());
    let late = completed("image_generation", 2, usage());
    let body = format!(
        "event: {}\ndata: {}\n\ndata: [DONE]\n\nevent: {}\ndata: {}\n\n",
        first.0, first.1, late.0, late.1
    );
    mount(&server, ENDPOINT, streamed(body)).await;

    let items: Vec<_> = open(&server, &streaming_request(None))
        .await
        .collect()
        .await;

    assert_eq!(items.len(), 1);
    assert!(matches!(&items[0], Ok(StreamEvent::Completed { image, .. }) if *image == png(1)));
}

#[tokio::test]
async fn a_stream_that_ends_without_a_completed_image_ends_with_an_error() {
    let server = MockServer::start().await;
    let events = [partial("image_generation", 0, 1)];
    mount(&server, ENDPOINT, streamed(sse(&events))).await;

    let items: Vec<_> = open(&server, &streaming_request(Some(1)))
        .await
        .collect()
        .await;

    assert_eq!(items.len(), 2);
    let err = items[1].as_ref().expect_err("no image");
    assert_eq!(err.code(), ErrorCode::UpstreamError);
}

#[tokio::test]
async fn an_error_status_before_the_stream_maps_like_a_plain_call() {
    let server = MockServer::start().await;
    let answer = openai_error(429, "slow down", "requests", Some("rate_limit_exceeded"))
        .insert_header("retry-after", "3");
    mount(&server, ENDPOINT, answer).await;

    let err = provider(&server)
        .stream(&streaming_request(None))
        .await
        .expect_err("the call fails");

    assert_eq!(err.code(), ErrorCode::UpstreamRateLimited);
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(3)));
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_becomes_completed_events() {
    let server = MockServer::start().await;
    mount(&server, ENDPOINT, images_answer(&[1, 2], Some(usage()))).await;

    let items: Vec<_> = open(&server, &streaming_request(None))
        .await
        .collect()
        .await;

    assert_eq!(items.len(), 2);
    assert!(matches!(
        &items[0],
        Ok(StreamEvent::Completed { usage: Some(_), .. })
    ));
    assert!(
        matches!(&items[1], Ok(StreamEvent::Completed { usage: None, image }) if *image == png(2))
    );
}

#[tokio::test]
async fn variations_and_models_without_streaming_cannot_stream() {
    let server = MockServer::start().await;
    let photo = image(OutputFormat::Png, 32, false, 1);
    let variation = variation(artgen_core::domain::VariationParams {
        image: Some(upload("image", "v.png", photo)),
        ..Default::default()
    });
    let dall_e = request("dall-e-3", GenerateParams::default());

    for job in [variation, dall_e] {
        let err = provider(&server).stream(&job).await.expect_err("refused");
        assert_eq!(err.code(), ErrorCode::UpstreamError);
    }
    let calls = server.received_requests().await.expect("recording is on");
    assert!(calls.is_empty(), "nothing was sent");
}
