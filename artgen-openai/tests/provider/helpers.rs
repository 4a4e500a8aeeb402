//! A fake OpenAI: request builders, canned answers and the provider under test.

use std::time::Duration;

use artgen_core::domain::{Catalog, Dimensions, GenerateParams, ImageJob, OutputFormat};
use artgen_core::ports::{ImageProvider, ProviderResponse};
use artgen_core::testing::render;
use artgen_openai::{OpenAiConfig, OpenAiProvider};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The key the provider sends.
pub(crate) const KEY: &str = "sk-test-0123456789";

/// The endpoint under the fake's `/v1`.
pub(crate) const ENDPOINT: &str = "/v1/images/generations";

/// Provider config pointing at the fake.
pub(crate) fn config(server: &MockServer) -> OpenAiConfig {
    OpenAiConfig::default()
        .with_base_url(format!("{}/v1", server.uri()))
        .with_api_key(KEY)
        .with_timeout(Duration::from_secs(10))
}

/// The provider under test, pointing at the fake.
pub(crate) fn provider(server: &MockServer) -> OpenAiProvider {
    OpenAiProvider::new(config(server)).expect("test config is valid")
}

/// A validated request for `model`, with other parameters from `params`.
pub(crate) fn request(model: &str, params: GenerateParams) -> ImageJob {
    ImageJob::Generate(
        GenerateParams {
            model: model.into(),
            prompt: "a lighthouse in a storm".into(),
            ..params
        }
        .validate(&Catalog::default())
        .expect("test request is valid"),
    )
}

/// A real PNG, different per seed.
pub(crate) fn png(seed: u8) -> Bytes {
    render(Dimensions::new(8, 8), OutputFormat::Png, false, seed).expect("mock renders")
}

/// Standard base64, as OpenAI sends `b64_json`.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// OpenAI's error answer.
pub(crate) fn openai_error(
    status: u16,
    message: &str,
    kind: &str,
    code: Option<&str>,
) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}

/// Mounts `answer` for any POST to the endpoint.
pub(crate) async fn answer_with(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .respond_with(answer)
        .mount(server)
        .await;
}

/// Calls the provider for a gpt-image-1 request.
pub(crate) async fn generate(server: &MockServer) -> artgen_core::Result<ProviderResponse> {
    provider(server)
        .run(&request("gpt-image-1", GenerateParams::default()))
        .await
}

/// Calls the provider for a gpt-image-1 request that must fail.
pub(crate) async fn generate_err(server: &MockServer) -> artgen_core::Error {
    generate(server).await.expect_err("the call must fail")
}

/// The only request the fake received.
pub(crate) async fn only_request(server: &MockServer) -> Request {
    let mut requests = server
        .received_requests()
        .await
        .expect("request recording is on");
    assert_eq!(requests.len(), 1, "exactly one upstream call");
    requests.remove(0)
}

/// The JSON body of the only request the fake received.
pub(crate) async fn sent_body(server: &MockServer) -> Value {
    serde_json::from_slice(&only_request(server).await.body).expect("the provider sends JSON")
}

/// An answer with one image per seed (`png(seed)`) and, when given, usage.
pub(crate) fn images_answer(seeds: &[u8], usage: Option<Value>) -> ResponseTemplate {
    let data: Vec<Value> = seeds
        .iter()
        .map(|s| json!({"b64_json": b64(&png(*s))}))
        .collect();
    let mut body = json!({"created": 1, "data": data});
    if let Some(usage) = usage {
        body["usage"] = usage;
    }
    ResponseTemplate::new(200).set_body_json(body)
}

/// The top-level keys of a JSON object, sorted.
pub(crate) fn keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body
        .as_object()
        .expect("body is an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Reads one request with a `Content-Length` body, so the answer never races the upload.
pub(crate) async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let read = socket.read(&mut buf).await.expect("the request arrives");
        seen.extend_from_slice(&buf[..read]);
        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length || read == 0 {
                return;
            }
        } else if read == 0 {
            return;
        }
    }
}
