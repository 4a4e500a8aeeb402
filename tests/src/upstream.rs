//! A wiremock responder that behaves like OpenAI's `POST /images/generations`.

use artgen_core::domain::{Dimensions, OutputFormat};
use artgen_core::testing::render;
use base64::Engine as _;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers with real images of the requested size, count and format, and (for GPT image
/// models) a `usage` block with fixed token counts: 23 text in, 1056 image out.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiImages;

impl Respond for OpenAiImages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return ResponseTemplate::new(400).set_body_json(error("could not parse body", None));
        };
        let model = body["model"].as_str().unwrap_or("dall-e-2");
        let n = body["n"].as_u64().unwrap_or(1);
        let size = body["size"]
            .as_str()
            .and_then(Dimensions::parse)
            .unwrap_or(Dimensions::new(1024, 1024));
        let format = body["output_format"]
            .as_str()
            .and_then(|f| f.parse().ok())
            .unwrap_or(OutputFormat::Png);
        let transparent = body["background"] == "transparent";
        let engine = base64::engine::general_purpose::STANDARD;
        let data: Vec<Value> = (0..n)
            .map(|i| {
                let bytes = render(size, format, transparent, u8::try_from(i).unwrap_or(0))
                    .map_or_else(|_| Vec::new(), |b| b.to_vec());
                let mut item = json!({ "b64_json": engine.encode(bytes) });
                if model == "dall-e-3" {
                    item["revised_prompt"] = json!("a revised prompt");
                }
                item
            })
            .collect();
        let mut answer = json!({ "created": 1_745_575_400, "data": data });
        if !model.starts_with("dall-e") {
            answer["usage"] = json!({
                "input_tokens": 23,
                "input_tokens_details": { "text_tokens": 23, "image_tokens": 0 },
                "output_tokens": 1056 * n,
                "total_tokens": 23 + 1056 * n
            });
        }
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

/// OpenAI's error envelope.
pub fn error(message: &str, code: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": "invalid_request_error", "param": null, "code": code } })
}

/// Mounts the image responder (lowest priority, so scripted failures mounted later win).
pub async fn mount_images(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/images/generations"))
        .respond_with(OpenAiImages)
        .with_priority(10)
        .mount(server)
        .await;
}

/// Mounts a scripted answer used for the next `times` calls, ahead of the image responder.
pub async fn mount_failure(server: &MockServer, template: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path("/images/generations"))
        .respond_with(template)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
}

/// Mounts responders for `/images/edits` and `/images/variations` answering one 256x256 PNG
/// (the multipart body is not parsed).
pub async fn mount_uploads(server: &MockServer) {
    let engine = base64::engine::general_purpose::STANDARD;
    let png = render(Dimensions::new(256, 256), OutputFormat::Png, false, 7)
        .map_or_else(|_| Vec::new(), |b| b.to_vec());
    let answer = json!({ "created": 1_745_575_400, "data": [{ "b64_json": engine.encode(png) }] });
    for route in ["/images/edits", "/images/variations"] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
            .with_priority(10)
            .mount(server)
            .await;
    }
}
