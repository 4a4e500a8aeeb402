//! Bad input: 400 naming the parameter (413 for a large body), never a 500, never an
//! upstream call.

use artgen_tests::{spawn_app, TestOptions};
use serde_json::json;

use crate::helpers::{assert_error, json_of};

#[tokio::test]
async fn each_class_of_invalid_input_is_a_400_naming_the_parameter() {
    let app = spawn_app(TestOptions::default()).await;
    let cases = [
        (r#"{"model":"gpt-image-1","prompt":"x","#.to_owned(), None),
        (
            json!({"model":"gpt-image-1","prompt":"x","bad name":"me"}).to_string(),
            Some("bad name"),
        ),
        (
            json!({"model":"gpt-image-2.6-flare","prompt":"x"}).to_string(),
            Some("model"),
        ),
        (json!({"model":"gpt-image-1"}).to_string(), Some("prompt")),
        (
            json!({"model":"gpt-image-1","prompt":"x","n":"two"}).to_string(),
            Some("n"),
        ),
        (
            json!({"model":"gpt-image-1","prompt":"x","n":11}).to_string(),
            Some("n"),
        ),
        (
            json!({"model":"gpt-image-1","prompt":"x","n":-3}).to_string(),
            Some("n"),
        ),
        (
            json!({"model":"gpt-image-1","prompt":"x","size":"4096x4096"}).to_string(),
            Some("size"),
        ),
        (
            json!({"model":"gpt-image-1","prompt":"x","quality":"ultra"}).to_string(),
            Some("quality"),
        ),
        (
            json!({"model":"dall-e-3","prompt":"x","background":"transparent"}).to_string(),
            Some("background"),
        ),
        (
            json!({"model":"dall-e-2","prompt":"x","style":"vivid"}).to_string(),
            Some("style"),
        ),
        (
            json!({"model":"dall-e-3","prompt":"x","moderation":"low"}).to_string(),
            Some("moderation"),
        ),
        (
            json!({"model":"gpt-image-1","prompt":"x","output_compression":200,"format":"jpeg"})
                .to_string(),
            Some("output_compression"),
        ),
        (
            json!({"model":"dall-e-2","prompt":"x".repeat(1001)}).to_string(),
            Some("prompt"),
        ),
        ("[1,2]".to_owned(), None),
    ];
    for (raw, param) in cases {
        let response = app
            .post_raw("/generate", Some(&app.user_key), raw.clone())
            .await;
        assert_eq!(response.status(), 400, "{raw}");
        let json = json_of(response).await;
        // OpenAI's codes: each class of mistake has its own.
        let code = match (param, raw.starts_with('{') && raw.ends_with('}')) {
            (None, _) | (_, false) => "invalid_request",
            (Some("prompt"), _) if !raw.contains("prompt") => "missing_required_parameter",
            (Some("bad name"), _) => "unknown_parameter",
            (Some("model"), _) => "model_unpriced",
            _ => "invalid_value",
        };
        assert_error(&json, code, param);
    }
    assert_eq!(
        app.upstream_calls().await,
        0,
        "validation must refuse before the upstream"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = spawn_app(TestOptions::default()).await;
    let huge = json!({"model":"gpt-image-1","prompt":"x".repeat(200_000)}).to_string();
    let response = app.post_raw("/generate", Some(&app.user_key), huge).await;
    assert_eq!(response.status(), 413);
    assert_error(&json_of(response).await, "payload_too_large", None);
    assert_eq!(app.upstream_calls().await, 0);
}

#[tokio::test]
async fn the_wrong_method_is_a_json_405() {
    let app = spawn_app(TestOptions::default()).await;
    let response = app.get("/generate", Some(&app.user_key)).await;
    assert_eq!(response.status(), 405);
    assert_error(&json_of(response).await, "method_not_allowed", None);
}
