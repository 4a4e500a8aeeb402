//! Successful calls: what is sent per model family, and how the answer is read.

use artgen_core::domain::{GenerateParams, Quality, Style, TokenUsage};
use artgen_core::ports::ImageProvider;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    answer_with, b64, generate, keys, png, provider, request, sent_body, ENDPOINT, KEY,
};

#[tokio::test]
async fn gpt_image_1_images_decode_to_the_upstream_bytes_and_usage_is_read() {
    let server = MockServer::start().await;
    let (first, second) = (png(1), png(2));
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .and(body_partial_json(json!({
            "model": "gpt-image-1", "n": 2, "size": "1024x1024", "quality": "medium"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "created": 1_713_833_628,
            "data": [{"b64_json": b64(&first)}, {"b64_json": b64(&second)}],
            "size": "2048x1152", "quality": "ultra", "background": "opaque",
            "output_format": "png", "brand_new_field": {"x": 1},
            "usage": {
                "total_tokens": 2132, "input_tokens": 20, "output_tokens": 2112,
                "input_tokens_details": {"text_tokens": 15, "image_tokens": 5}
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let params = GenerateParams {
        n: Some(2),
        size: Some("1024x1024".into()),
        quality: Some(Quality::Medium),
        ..Default::default()
    };

    let response = provider(&server)
        .run(&request("gpt-image-1", params))
        .await
        .expect("the call succeeds");

    assert_eq!(response.images.len(), 2);
    assert_eq!(response.images[0].bytes, first);
    assert_eq!(response.images[1].bytes, second);
    assert_eq!(response.images[0].revised_prompt, None);
    assert_eq!(response.provider, "openai");
    let expected = TokenUsage {
        input_text_tokens: 15,
        input_image_tokens: 5,
        output_image_tokens: 2112,
        output_text_tokens: 0,
        ..TokenUsage::default()
    };
    assert_eq!(response.usage, Some(expected));
}

#[tokio::test]
async fn the_key_is_sent_as_a_bearer_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"b64_json": b64(&png(3))}]})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let response = generate(&server).await.expect("the key matched");

    assert_eq!(response.images[0].bytes, png(3));
    assert_eq!(response.usage, None);
}

#[tokio::test]
async fn gpt_image_bodies_carry_only_the_parameters_that_were_set() {
    let server = MockServer::start().await;
    answer_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"data": [{"b64_json": "aGk="}]})),
    )
    .await;

    generate(&server).await.expect("the call succeeds");

    let body = sent_body(&server).await;
    assert_eq!(keys(&body), ["model", "n", "prompt", "size"]);
    assert_eq!(body["size"], "auto");
    assert_eq!(body["prompt"], "a lighthouse in a storm");
}

#[tokio::test]
async fn dall_e_3_is_asked_for_base64_with_its_style_and_the_revised_prompt_is_read() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .and(body_partial_json(json!({
            "model": "dall-e-3", "response_format": "b64_json", "style": "natural",
            "quality": "hd", "size": "1792x1024", "n": 1
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "created": 1, "data": [{"b64_json": b64(&png(4)), "revised_prompt": "A tall lighthouse"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let params = GenerateParams {
        size: Some("1792x1024".into()),
        quality: Some(Quality::Hd),
        style: Some(Style::Natural),
        ..Default::default()
    };

    let response = provider(&server)
        .run(&request("dall-e-3", params))
        .await
        .expect("the call succeeds");

    assert_eq!(response.images[0].bytes, png(4));
    assert_eq!(
        response.images[0].revised_prompt.as_deref(),
        Some("A tall lighthouse")
    );
}

#[tokio::test]
async fn dall_e_2_bodies_have_no_gpt_only_parameters() {
    let server = MockServer::start().await;
    answer_with(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"data": [{"b64_json": "aGk="}]})),
    )
    .await;
    let params = GenerateParams {
        size: Some("256x256".into()),
        user: Some("user-42".into()),
        ..Default::default()
    };

    provider(&server)
        .run(&request("dall-e-2", params))
        .await
        .expect("the call succeeds");

    let body = sent_body(&server).await;
    assert_eq!(
        keys(&body),
        ["model", "n", "prompt", "response_format", "size", "user"]
    );
    assert_eq!(body["response_format"], "b64_json");
    assert_eq!(body["user"], "user-42");
}

#[tokio::test]
async fn output_token_details_split_text_and_image_output() {
    let server = MockServer::start().await;
    let usage = json!({
        "input_tokens": 40, "output_tokens": 1100,
        "output_tokens_details": {"image_tokens": 1056, "text_tokens": 44}
    });
    answer_with(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": [{"b64_json": "aGk="}], "usage": usage})),
    )
    .await;

    let usage = generate(&server)
        .await
        .expect("the call succeeds")
        .usage
        .expect("usage reported");

    assert_eq!(usage.input_text_tokens, 40);
    assert_eq!(usage.output_image_tokens, 1056);
    assert_eq!(usage.output_text_tokens, 44);
}
