//! The OpenAPI document: it parses as OpenAPI 3.1, covers every route the router serves, its
//! references resolve, and its request schemas are what the DTOs read.

use std::collections::BTreeSet;
use std::sync::Arc;

use artgen_core::domain::{GenerateParams, KeyEnv, OutputFormat, Quality, Role};
use artgen_core::{Error, ErrorCode};
use artgen_http::compose;
use artgen_http::extract::from_value;
use artgen_http::metrics::Metrics;
use artgen_http::openapi::strict::REFUSED_IN_EDITS;
use artgen_http::openapi::{document, BEARER};
use artgen_http::settings::Settings;
use artgen_http::wire::{EditBody, GenerateBody, VariationBody, EDIT_FIELDS, VARIATION_FIELDS};
use artgen_http::ApiError;
use artgen_store::RateLimitConfig;
use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use tower::ServiceExt as _;

#[path = "openapi/formats.rs"]
mod formats;
#[path = "openapi/forms.rs"]
mod forms;
#[path = "openapi/rules.rs"]
mod rules;

/// Every route `build_router` serves.
const ROUTES: [(&str, &str); 26] = [
    ("POST", "/generate"),
    ("POST", "/edit"),
    ("POST", "/variation"),
    ("POST", "/v1/images/generations"),
    ("POST", "/v1/images/edits"),
    ("POST", "/v1/images/variations"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{id}"),
    ("GET", "/images/{id}"),
    ("DELETE", "/images/{id}"),
    ("GET", "/images"),
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/admin/usage"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users"),
    ("GET", "/admin/users/{user}"),
    ("PUT", "/admin/users/{user}/limits"),
    ("POST", "/admin/users/{user}/disable"),
    ("POST", "/admin/users/{user}/enable"),
    ("PUT", "/admin/orgs/{org}/limits"),
    ("POST", "/admin/keys"),
    ("GET", "/admin/keys"),
    ("DELETE", "/admin/keys/{public_id}"),
    ("GET", "/admin/audit"),
];

/// POST routes that take no body: the path says everything.
const BODILESS_POSTS: [&str; 2] = ["/admin/users/{user}/disable", "/admin/users/{user}/enable"];

/// Routes anyone may call: no security requirement at all.
const PUBLIC: [&str; 2] = ["/health", "/openapi.json"];

fn json() -> Value {
    serde_json::to_value(document()).expect("the document serializes")
}

fn spec() -> oas3::Spec {
    let text = serde_json::to_string(&document()).expect("the document serializes");
    oas3::from_json(text).expect("the document parses as OpenAPI 3.1")
}

/// Keys of a JSON object.
fn keys(value: &Value) -> BTreeSet<String> {
    let object = value.as_object();
    object
        .unwrap_or_else(|| panic!("{value} is not an object"))
        .keys()
        .cloned()
        .collect()
}

/// Property names of a component schema.
fn properties(doc: &Value, schema: &str) -> BTreeSet<String> {
    keys(&doc["components"]["schemas"][schema]["properties"])
}

fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    names.into_iter().map(str::to_owned).collect()
}

#[test]
fn parses_as_openapi_3() {
    let spec = spec();
    assert!(spec.openapi.starts_with("3."), "version {}", spec.openapi);
    let version = spec.validate_version().expect("a supported version");
    assert_eq!(version.major, 3);
    // Resolving every operation's references exercises the parser on the whole document.
    for (path, method, op) in spec.operations() {
        let body = op.request_body(&spec).expect("request body resolves");
        let takes_body = (method == Method::POST && !BODILESS_POSTS.contains(&path.as_str()))
            || method == Method::PUT;
        assert_eq!(
            body.map(|b| b.required == Some(true)),
            takes_body.then_some(true),
            "{method} {path}: a POST or PUT has a required body, a GET none"
        );
        op.parameters(&spec).expect("parameters resolve");
        let responses = op.responses(&spec);
        let success: &[&str] = match method {
            Method::DELETE => &["204"],
            Method::POST if path.starts_with("/admin/") => &["200", "201"],
            _ => &["200"],
        };
        assert!(
            success.iter().any(|s| responses.contains_key(*s)),
            "{method} {path} has none of {success:?}"
        );
    }
}

#[test]
fn documents_every_route_and_who_may_call_it() {
    let spec = spec();
    assert_eq!(spec.operations().count(), ROUTES.len());
    let doc = json();
    assert_eq!(
        doc["components"]["securitySchemes"][BEARER]["scheme"],
        "bearer"
    );
    for (method, path) in ROUTES {
        let parsed: Method = method.parse().expect("a method");
        let documented = spec.operation(&parsed, path).is_some();
        assert!(documented, "{method} {path} is not documented");
        let op = &doc["paths"][path][method.to_lowercase()];
        let security = op["security"].as_array().cloned().unwrap_or_default();
        if PUBLIC.contains(&path) {
            assert!(security.is_empty(), "{path} must be public");
        } else {
            assert!(
                security.iter().any(|s| s.get(BEARER).is_some()),
                "{method} {path} lacks bearer security"
            );
        }
    }
}

/// Every `$ref` string in a JSON value.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::String(target) if key == "$ref" => out.push(target.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = json();
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

/// A body with a value for every parameter `/generate` reads.
fn full_generate_body() -> Value {
    json!({
        "model": "gpt-image-1", "prompt": "a cat", "n": 1, "size": "1024x1024",
        "quality": "high", "format": "png", "output_compression": 50, "background": "auto",
        "moderation": "low", "style": "vivid", "stream": false, "partial_images": 1,
        "response_format": "url", "user": "lisa", "complexity": "low", "frame_count": 3,
        "frame_duration_ms": 100, "svg": {}, "safety_identifier": "hash",
    })
}

#[test]
fn the_generate_request_schema_is_what_the_body_reads() {
    let full = full_generate_body();
    let body: GenerateBody = from_value(full.clone()).expect("every parameter reads");
    assert!(body.extra.is_empty(), "read as unknown: {:?}", body.extra);
    let doc = json();
    let mut documented = properties(&doc, "GenerateRequest");
    // `output_format` is documented as the synonym serde accepts for `format`.
    assert!(documented.remove("output_format"));
    let alias: GenerateBody =
        from_value(json!({"model": "m", "prompt": "p", "output_format": "webp"}))
            .expect("output_format is accepted");
    assert_eq!(alias.format, Some(OutputFormat::Webp));
    assert_eq!(documented, keys(&full));
    // And what it reads reaches the core unchanged.
    let params = GenerateParams::from(body);
    assert_eq!(params.model, "gpt-image-1");
    assert_eq!(params.quality, Some(Quality::High));
    assert_eq!(params.svg, Some(serde_json::Map::new()));
    let required = &doc["components"]["schemas"]["GenerateRequest"]["required"];
    assert_eq!(
        required,
        &json!(["prompt"]),
        "model defaults to the catalogue's"
    );
    let openai = &doc["components"]["schemas"]["OpenAiGenerateRequest"];
    assert_eq!(openai["required"], json!(["prompt"]));
}

#[test]
fn the_form_schemas_match_the_form_specs() {
    let doc = json();
    let edit = EDIT_FIELDS.text.iter().copied();
    // The fields edits refuse are listed too, as `false`.
    let edit = edit.chain(REFUSED_IN_EDITS);
    let edit_parts = names(edit.chain(["image", "image[]", "mask", "markup"]));
    assert_eq!(properties(&doc, "EditForm"), edit_parts);
    assert_eq!(properties(&doc, "OpenAiEditForm"), edit_parts);
    let variation = VARIATION_FIELDS.text.iter().copied();
    assert_eq!(
        properties(&doc, "VariationForm"),
        names(variation.chain(["image"]))
    );
    let required = &doc["components"]["schemas"]["VariationForm"]["required"];
    assert_eq!(required, &json!(["image"]));
}

#[test]
fn the_form_dtos_read_every_field_the_forms_take() {
    // A text field of each spec as the form reader hands it on (numbers and booleans typed).
    let value = |name: &str| match name {
        "n" | "output_compression" | "partial_images" | "frame_count" | "frame_duration_ms" => {
            json!(2)
        }
        "stream" => json!(false),
        "svg" => json!({}),
        "format" | "output_format" => json!("png"),
        "quality" => json!("high"),
        "background" => json!("auto"),
        "moderation" => json!("low"),
        "complexity" => json!("low"),
        "response_format" => json!("url"),
        "input_fidelity" => json!("high"),
        _ => json!("text"),
    };
    let fields = |names: &[&str]| -> serde_json::Map<String, Value> {
        names.iter().map(|n| ((*n).to_owned(), value(n))).collect()
    };
    for name in EDIT_FIELDS.text {
        let one = fields(&["prompt", name]);
        let body = EditBody::from_fields(one).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(body.extra.is_empty(), "{name} read as unknown");
    }
    let body = VariationBody::from_fields(fields(VARIATION_FIELDS.text)).expect("reads");
    assert!(body.extra.is_empty(), "read as unknown: {:?}", body.extra);
    // Today's messages and codes: a variation's `n` and `format`, an edit's `input_fidelity`.
    let n = VariationBody::from_fields(
        fields(&[])
            .into_iter()
            .chain([("n".into(), json!("x"))])
            .collect(),
    )
    .expect_err("n");
    assert_eq!((n.code(), n.param()), (ErrorCode::InvalidValue, Some("n")));
    assert_eq!(n.message(), "n must be an integer between 1 and 10");
    let format =
        VariationBody::from_fields([("format".into(), json!("bmp"))].into_iter().collect())
            .expect_err("format");
    assert_eq!(
        (format.code(), format.param()),
        (ErrorCode::InvalidRequest, Some("format"))
    );
    let fidelity = [
        ("prompt".into(), json!("p")),
        ("input_fidelity".into(), json!("x")),
    ];
    let fidelity = EditBody::from_fields(fidelity.into_iter().collect()).expect_err("fidelity");
    assert_eq!(
        (fidelity.code(), fidelity.param()),
        (ErrorCode::InvalidRequest, Some("input_fidelity"))
    );
}

#[tokio::test]
async fn the_error_schema_lists_every_code_and_type() {
    let doc = json();
    let schemas = &doc["components"]["schemas"];
    let codes = ErrorCode::wire_names();
    assert_eq!(schemas["ErrorCode"]["enum"], json!(codes));
    let types = schemas["ErrorType"]["enum"].as_array().expect("an enum");
    for code in ErrorCode::ALL {
        let response = ApiError::new(Error::new(code, "x"), None).into_response();
        let body = to_bytes(response.into_body(), 1 << 16).await.expect("body");
        let body: Value = serde_json::from_slice(&body).expect("json");
        conforms(&doc, "ErrorEnvelope", &body);
        conforms(&doc, "ErrorBody", &body["error"]);
        let kind = &body["error"]["type"];
        assert!(
            types.contains(kind),
            "{code}: type {kind} is not documented"
        );
        if code == ErrorCode::Cancelled {
            continue;
        }
        // The shared response of the code's status names it among that status's codes.
        let status = artgen_http::error::status_code(code.kind());
        let answered = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("operations").values())
            .filter_map(|op| op["responses"][status.as_str()]["$ref"].as_str())
            .next();
        if let Some(reference) = answered {
            let response = doc.pointer(&reference[1..]).expect("resolves");
            let codes = &response["content"]["application/json"]["schema"]["allOf"][1];
            let codes = &codes["properties"]["error"]["properties"]["code"]["enum"];
            let codes = codes.as_array().expect("the status's codes");
            assert!(codes.contains(&json!(code.as_str())), "{code}: {codes:?}");
        }
    }
}

/// The router as the server builds it (mock upstream), and a user's key.
async fn app(data: &tempfile::TempDir) -> (axum::Router, String) {
    let settings = Settings {
        data_dir: data.path().to_path_buf(),
        // The rule tests send many requests at once; none is about the rate limit.
        rate_limit: RateLimitConfig::default()
            .with_per_minute(1_000_000)
            .with_burst(1_000_000),
        ..Settings::default()
    };
    let metrics = Arc::new(Metrics::new());
    let upstreams = compose::upstreams(&settings, &|_| None, &metrics).expect("mock upstream");
    let app = compose::build(&settings, upstreams, metrics)
        .await
        .expect("app builds");
    let key = app
        .stores
        .keys
        .create("lisa", Role::User, KeyEnv::Test)
        .await;
    let key = key.expect("key").expose_secret().to_owned();
    (artgen_http::build_router(app.state), key)
}

/// Status, content type and body of the router's answer.
async fn call(router: &axum::Router, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let response = router.clone().oneshot(request).await.expect("answers");
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let content_type = content_type
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (status, content_type) = (response.status(), content_type.to_owned());
    let body = to_bytes(response.into_body(), 1 << 22).await.expect("body");
    (status, content_type, body.to_vec())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

/// Asserts a JSON object has only documented properties and every required one.
fn conforms(doc: &Value, schema: &str, value: &Value) {
    let keys = keys(value);
    let documented = properties(doc, schema);
    let extra: Vec<_> = keys.difference(&documented).collect();
    assert!(extra.is_empty(), "{schema}: undocumented {extra:?}");
    let required = doc["components"]["schemas"][schema]["required"].as_array();
    let required: BTreeSet<&str> = required
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let missing: Vec<_> = required.iter().filter(|f| !keys.contains(**f)).collect();
    assert!(missing.is_empty(), "{schema}: {missing:?} missing");
    // A field without a value is left out, unless the schema requires it (then `null`).
    let object = value.as_object().into_iter().flatten();
    let nulls: Vec<_> = object
        .filter(|(k, v)| v.is_null() && !required.contains(k.as_str()))
        .collect();
    assert!(nulls.is_empty(), "{schema}: {value}");
}

#[tokio::test]
async fn the_router_serves_the_document_without_credentials() {
    let data = tempfile::tempdir().expect("temp dir");
    let (router, _) = app(&data).await;
    let (status, content_type, body) = call(&router, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let served: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(served, json());

    // And every documented operation is a route: none falls through to "no such route".
    for (method, path) in ROUTES {
        let uri = path.replace("{id}", "img_missing");
        let request = Request::builder().method(method).uri(&uri);
        let (status, _, body) = call(&router, request.body(Body::empty()).expect("request")).await;
        let text = String::from_utf8_lossy(&body);
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !text.contains("no such route"),
            "{method} {path}: {status} {text}"
        );
    }
}

#[tokio::test]
async fn real_answers_match_their_schemas() {
    let data = tempfile::tempdir().expect("temp dir");
    let (router, key) = app(&data).await;
    let doc = json();
    let (_, _, health) = call(&router, get("/health")).await;
    let health: Value = serde_json::from_slice(&health).expect("json");
    conforms(&doc, "HealthStatus", &health);
    let body = json!({"model": "gpt-image-1", "prompt": "a cat", "size": "1024x1024"});
    let native = ["GenerateResponse", "ImageDto", "UsageDto"];
    let openai = ["ImagesResponse", "ImageData", "ImagesUsage"];
    for (path, [schema, item, usage]) in [("/generate", native), ("/v1/images/generations", openai)]
    {
        let request = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        let (status, _, answer) = call(&router, request).await;
        let answer: Value = serde_json::from_slice(&answer).expect("json");
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        conforms(&doc, schema, &answer);
        let images = answer.get("images").or(answer.get("data")).expect("images");
        conforms(&doc, item, &images[0]);
        conforms(&doc, usage, &answer["usage"]);
    }
}
