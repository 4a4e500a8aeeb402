//! Small helpers shared by the API tests.

use base64::Engine as _;
use serde_json::{json, Value};

/// A minimal valid body for a model.
pub(crate) fn body(model: &str, size: &str) -> Value {
    json!({ "model": model, "prompt": "Castle on a cliff at dawn", "size": size })
}

/// Reads a JSON body.
pub(crate) async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Decodes a base64 image and returns its dimensions.
pub(crate) fn decoded_size(b64: &str) -> (u32, u32) {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("valid base64");
    let image = image::load_from_memory(&bytes).expect("decodable image");
    (image.width(), image.height())
}

/// Asserts an error envelope with a code and (optionally) a param.
pub(crate) fn assert_error(body: &Value, code: &str, param: Option<&str>) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["error"]["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_")),
        "{body}"
    );
    if let Some(param) = param {
        assert_eq!(body["error"]["param"], param, "{body}");
    }
}
