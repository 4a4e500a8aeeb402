//! The form rules of the document: which part names a form takes, and the fields every edit
//! refuses, each checked against the form reader and the edit's validation via the router.

use artgen_http::extract::echo;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine as _;
use regex::Regex;
use serde_json::{json, Value};

use super::rules::{pattern, property};
use super::{app, call, properties};

/// Whether the document lets a form carry a text part of this name.
fn documented_part(doc: &Value, form: &str, name: &str) -> bool {
    let schema = &doc["components"]["schemas"][form];
    if !pattern(&schema["propertyNames"]).is_match(name) {
        return false;
    }
    let refused = schema["patternProperties"]
        .as_object()
        .expect("patternProperties")
        .iter()
        .any(|(p, s)| *s == json!(false) && Regex::new(p).expect("compiles").is_match(name));
    !refused
}

/// A form with one text part, before any image.
fn form_with(path: &str, key: &str, name: &str) -> Request<Body> {
    let body =
        format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\nx\r\n--b--\r\n");
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn form_part_names_are_refused_as_the_form_reader_refuses_them() {
    let data = tempfile::tempdir().expect("temp dir");
    let (router, key) = app(&data).await;
    let doc = super::json();
    let long = "p".repeat(64);
    let longer = "p".repeat(65);
    let names = [
        "future_option",
        "svg[model]",
        "svg[reasoning][effort]",
        "extra[a][b]",
        "model[x]",
        "n[0]",
        "image[0]",
        "image[]",
        "image[x]",
        "mask",
        "a-b",
        "a[",
        "a[]",
        "[a]",
        &long,
        &longer,
    ];
    for (path, form) in [("/edit", "EditForm"), ("/variation", "VariationForm")] {
        for name in names {
            let (status, _, body) = call(&router, form_with(path, &key, name)).await;
            let body: Value = serde_json::from_slice(&body).expect("json");
            let refused = body["error"]["code"] == "unknown_parameter"
                && body["error"]["param"] == echo(name);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {name}: {body}");
            let documented = documented_part(&doc, form, name);
            assert_eq!(documented, !refused, "{path} {name}: {body}");
            // A documented image part is read as an image (and refused as one).
            if form == "EditForm" && matches!(name, "image[0]" | "image[]") {
                assert_eq!(
                    body["error"]["code"], "invalid_image_format",
                    "{name}: {body}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_fields_edits_refuse_are_refused_in_every_edit_form() {
    let data = tempfile::tempdir().expect("temp dir");
    let (router, key) = app(&data).await;
    let doc = super::json();
    // A real PNG, from the mock upstream.
    let generate = Request::post("/generate")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"prompt": "a cat", "size": "256x256"}"#))
        .expect("request");
    let (_, _, answer) = call(&router, generate).await;
    let answer: Value = serde_json::from_slice(&answer).expect("json");
    let png = answer["images"][0]["b64_json"].as_str().expect("bytes");
    let png = base64::engine::general_purpose::STANDARD
        .decode(png)
        .expect("base64");
    for (path, form) in [
        ("/edit", "EditForm"),
        ("/v1/images/edits", "OpenAiEditForm"),
    ] {
        let refused: Vec<_> = properties(&doc, form)
            .into_iter()
            .filter(|name| property(&doc, form, name) == json!(false))
            .collect();
        assert!(!refused.is_empty(), "{form}");
        for name in refused {
            let value = if name == "style" { "vivid" } else { "low" };
            let request = edit_form(path, &key, &png, &[("prompt", "p"), (&name, value)]);
            let (status, _, body) = call(&router, request).await;
            let body: Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {name}: {body}");
            assert_eq!(body["error"]["param"], name.as_str(), "{path}: {body}");
        }
    }
}

/// An edit form: a PNG image and these text fields.
fn edit_form(path: &str, key: &str, png: &[u8], fields: &[(&str, &str)]) -> Request<Body> {
    let mut body = Vec::new();
    for (name, value) in fields {
        let part =
            format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
        body.extend_from_slice(part.as_bytes());
    }
    body.extend_from_slice(
        b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
          Content-Type: image/png\r\n\r\n",
    );
    body.extend_from_slice(png);
    body.extend_from_slice(b"\r\n--b--\r\n");
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(Body::from(body))
        .expect("request")
}
