//! Regressions from a probe of the running server: what a request may declare, how much of it
//! an error repeats, ambiguous credentials, canonical signed links, 405s and upload routes.

use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use reqwest::header;
use serde_json::Value;

use crate::helpers::{assert_error, body, json_of};

/// The JSON job routes.
const JSON_ROUTES: [&str; 2] = ["/generate", "/v1/images/generations"];

/// A server answering from the in-process mock provider.
async fn mock_app() -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await
}

/// `POST` of a raw body with the user's key and the given `Content-Type` headers (none, one
/// or several).
async fn post_typed(
    app: &TestApp,
    path: &str,
    content_types: &[&str],
    body: String,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(&app.user_key)
        .body(body);
    for content_type in content_types {
        request = request.header(header::CONTENT_TYPE, *content_type);
    }
    request.send().await.expect("server reachable")
}

#[tokio::test]
async fn json_routes_answer_415_to_a_body_not_declared_as_utf8_json() {
    let app = mock_app().await;
    let refused: [&[&str]; 7] = [
        &[],
        &["text/plain"],
        &["application/x-www-form-urlencoded"],
        &["application/json; charset=utf-16"],
        &["application/json; charset=iso-8859-1"],
        &["application/problem+json"],
        &["application/json", "text/plain"],
    ];
    for path in JSON_ROUTES {
        for content_types in refused {
            let raw = body("dall-e-2", "256x256").to_string();
            let response = post_typed(&app, path, content_types, raw).await;
            assert_eq!(response.status(), 415, "{path} {content_types:?}");
            let json = json_of(response).await;
            assert_error(&json, "unsupported_media_type", Some("Content-Type"));
            let message = json["error"]["message"].as_str().expect("a message");
            assert!(message.contains("application/json"), "{message}");
        }
    }
    assert_eq!(app.upstream_calls().await, 0, "nothing went upstream");
}

#[tokio::test]
async fn json_routes_accept_application_json_with_parameters_and_a_utf8_charset() {
    let app = mock_app().await;
    for path in JSON_ROUTES {
        for content_type in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=\"UTF-8\"",
            "application/json; profile=x",
        ] {
            let raw = body("dall-e-2", "256x256").to_string();
            let response = post_typed(&app, path, &[content_type], raw).await;
            assert_eq!(response.status(), 200, "{path} {content_type}");
        }
    }
}

/// A server that takes bodies of a few megabytes, so a huge name reaches the parser.
async fn roomy_app() -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        max_body_bytes: 4 << 20,
        ..TestOptions::default()
    })
    .await
}

/// Asserts an error answer is small and echoes at most 64 characters (and `…`) as `param`.
async fn assert_capped(response: reqwest::Response, status: u16, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    let bytes = response.bytes().await.expect("a body");
    assert!(bytes.len() < 1024, "{what}: a {}-byte error", bytes.len());
    let json: Value = serde_json::from_slice(&bytes).expect("a JSON body");
    let code = json["error"]["code"].as_str().unwrap_or_default();
    let expected = [
        "invalid_request",
        "invalid_value",
        "unknown_parameter",
        "missing_required_parameter",
    ];
    assert!(expected.contains(&code), "{what}: {json}");
    assert_error(&json, code, None);
    let param = json["error"]["param"].as_str().unwrap_or_default();
    assert!(param.chars().count() <= 65, "{what}: param {param}");
}

#[tokio::test]
async fn a_megabyte_field_name_or_value_is_echoed_in_under_a_kibibyte() {
    let app = roomy_app().await;
    let long = "k".repeat(1 << 20);
    let cases = [
        (
            "unknown field",
            format!(r#"{{"model":"dall-e-2","prompt":"x","{long}":1}}"#),
        ),
        (
            "repeated field",
            format!(r#"{{"model":"dall-e-2","prompt":"x","{long}":1,"{long}":1}}"#),
        ),
        (
            "unknown variant",
            format!(r#"{{"model":"dall-e-2","prompt":"x","quality":"{long}"}}"#),
        ),
        (
            "wrong type",
            format!(r#"{{"model":"dall-e-2","prompt":"x","n":"`\"{long}"}}"#),
        ),
    ];
    for path in JSON_ROUTES {
        for (what, raw) in &cases {
            let response = post_typed(&app, path, &["application/json"], raw.clone()).await;
            assert_capped(response, 400, &format!("{path} {what}")).await;
        }
    }
}

#[tokio::test]
async fn a_megabyte_part_name_is_echoed_in_under_a_kibibyte() {
    let app = roomy_app().await;
    let long = "p".repeat(1 << 20);
    for path in [
        "/edit",
        "/variation",
        "/v1/images/edits",
        "/v1/images/variations",
    ] {
        let form = reqwest::multipart::Form::new().text(long.clone(), "x");
        let response = app.post_form(path, &app.user_key, form).await;
        assert_capped(response, 400, path).await;
    }
}

#[tokio::test]
async fn two_authorization_headers_are_a_400_before_any_key_lookup() {
    let app = mock_app().await;
    let before = app.store.key_lookups();
    let pairs = [
        (app.user_key.as_str(), app.user_key.as_str()),
        (app.user_key.as_str(), "wrong"),
        ("wrong", app.admin_key.as_str()),
    ];
    for (first, second) in pairs {
        let response = app
            .client
            .post(format!("{}/generate", app.address))
            .header(header::AUTHORIZATION, format!("Bearer {first}"))
            .header(header::AUTHORIZATION, format!("Bearer {second}"))
            .json(&body("dall-e-2", "256x256"))
            .send()
            .await
            .expect("server reachable");
        assert_eq!(response.status(), 400);
        let json = json_of(response).await;
        assert_error(&json, "invalid_value", Some("Authorization"));
        let message = json["error"]["message"].as_str().expect("a message");
        assert!(message.contains("exactly one"), "{message}");
    }
    let image = app
        .client
        .get(format!(
            "{}/images/img_000000000000000000000000",
            app.address
        ))
        .header(header::AUTHORIZATION, format!("Bearer {}", app.user_key))
        .header(header::AUTHORIZATION, format!("Bearer {}", app.user_key))
        .send()
        .await
        .expect("server reachable");
    assert_eq!(image.status(), 400, "image reads are held to the same rule");
    assert_eq!(app.store.key_lookups(), before, "no key was looked up");
    assert_eq!(app.upstream_calls().await, 0);
    // One header is looked up as usual (so the count above could have moved).
    let single = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;
    assert_eq!(single.status(), 200);
    assert!(app.store.key_lookups() > before);
}

/// A 404's body without its request id, to compare two answers.
async fn anonymous_404(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, None).await;
    assert_eq!(response.status(), 404, "{path}");
    let mut json = json_of(response).await;
    assert_error(&json, "not_found", None);
    json["error"]["request_id"] = Value::Null;
    json
}

#[tokio::test]
async fn signed_links_accept_only_the_canonical_exp_and_sig() {
    let app = mock_app().await;
    let answer = json_of(
        app.generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await,
    )
    .await;
    let url = answer["images"][0]["url"].as_str().expect("a url");
    let (link, query) = url.split_once('?').expect("a query");
    let path = link
        .split_once("/images/")
        .map(|(_, id)| id)
        .expect("a path");
    let path = format!("/images/{path}");
    let param = |name: &str| {
        let prefix = format!("{name}=");
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&prefix))
            .expect("the parameter")
            .to_owned()
    };
    let (exp, sig) = (param("exp"), param("sig"));
    let at = |exp: &str, sig: &str| format!("{path}?exp={exp}&sig={sig}");
    assert_eq!(app.get(&at(&exp, &sig), None).await.status(), 200);

    let mut wrong = sig.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("hex");
    let bad_signature = anonymous_404(&app, &at(&exp, &wrong)).await;
    let variants = [
        ("leading zeros", at(&format!("000{exp}"), &sig)),
        ("plus sign", at(&format!("%2B{exp}"), &sig)),
        ("plus as space", at(&format!("+{exp}"), &sig)),
        ("above u64", at("18446744073709551616", &sig)),
        ("upper-case sig", at(&exp, &sig.to_uppercase())),
        ("longer sig", at(&exp, &format!("{sig}0"))),
        ("shorter sig", at(&exp, &sig[..63])),
    ];
    for (what, variant) in variants {
        assert_eq!(
            anonymous_404(&app, &variant).await,
            bad_signature,
            "{what}: {variant}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_declares_exp_and_sig_as_the_server_reads_them() {
    let app = mock_app().await;
    let doc = json_of(app.get("/openapi.json", None).await).await;
    let parameters = doc["paths"]["/images/{id}"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let schema = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .expect("the parameter")
    };
    let exp = schema("exp");
    assert_eq!(exp["format"], "uint64", "{exp}");
    assert_eq!(exp["minimum"], 0, "{exp}");
    assert_eq!(exp["maximum"], u64::MAX, "{exp}");
    assert_eq!(schema("sig")["pattern"], "^[0-9a-f]{64}$");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_with_a_documented_code_and_an_allow_header() {
    let app = mock_app().await;
    let cases = [
        (
            reqwest::Method::GET,
            "/generate",
            Some(&app.user_key),
            "POST",
        ),
        (reqwest::Method::GET, "/generate", None, "POST"),
        (reqwest::Method::PUT, "/v1/images/edits", None, "POST"),
        (reqwest::Method::PUT, "/images/img_x", None, "DELETE"),
        (reqwest::Method::POST, "/health", None, "GET"),
    ];
    for (method, path, key, allowed) in cases {
        let mut request = app
            .client
            .request(method.clone(), format!("{}{path}", app.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("server reachable");
        assert_eq!(response.status(), 405, "{method} {path}");
        let allow = response.headers().get(header::ALLOW).cloned();
        let allow = allow.and_then(|v| v.to_str().ok().map(str::to_owned));
        assert!(
            allow.as_deref().is_some_and(|a| a.contains(allowed)),
            "{method} {path}: Allow {allow:?}"
        );
        assert_error(&json_of(response).await, "method_not_allowed", None);
    }
}

#[test]
fn the_api_guide_lists_every_error_code_with_its_status() {
    let guide = include_str!("../../docs/api.md");
    for code in artgen_core::ErrorCode::ALL {
        let status = artgen_http::error::status_code(code.kind()).as_u16();
        let row = format!("| `{code}` | {status} |");
        assert!(guide.contains(&row), "docs/api.md lacks {row}");
    }
}

/// The upload routes.
const UPLOAD_ROUTES: [&str; 4] = [
    "/edit",
    "/variation",
    "/v1/images/edits",
    "/v1/images/variations",
];

#[tokio::test]
async fn upload_routes_answer_a_body_that_is_not_a_form_with_a_415_naming_multipart() {
    let app = mock_app().await;
    let refused: [&[&str]; 4] = [
        &["application/json"],
        &[],
        &["text/plain"],
        &["multipart/mixed; boundary=x"],
    ];
    for path in UPLOAD_ROUTES {
        for content_types in refused {
            let raw = body("dall-e-2", "256x256").to_string();
            let response = post_typed(&app, path, content_types, raw).await;
            assert_eq!(response.status(), 415, "{path} {content_types:?}");
            let json = json_of(response).await;
            assert_error(&json, "unsupported_media_type", Some("Content-Type"));
            let message = json["error"]["message"].as_str().expect("a message");
            assert!(message.contains("multipart/form-data"), "{message}");
            assert!(!message.contains("boundary"), "{message}");
        }
    }
    assert_eq!(app.upstream_calls().await, 0, "nothing went upstream");
}

#[tokio::test]
async fn a_form_without_a_boundary_is_a_400_that_says_so() {
    let app = mock_app().await;
    for path in UPLOAD_ROUTES {
        let raw = "--x\r\n\r\n--x--\r\n".to_owned();
        let response = post_typed(&app, path, &["multipart/form-data"], raw).await;
        assert_eq!(response.status(), 400, "{path}");
        let json = json_of(response).await;
        assert_error(&json, "invalid_value", Some("Content-Type"));
        let message = json["error"]["message"].as_str().expect("a message");
        assert!(message.contains("boundary"), "{message}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_statuses_these_checks_answer() {
    let app = mock_app().await;
    let doc = json_of(app.get("/openapi.json", None).await).await;
    let cases = [
        ("/generate", "post", "415"),
        ("/v1/images/generations", "post", "415"),
        ("/edit", "post", "415"),
        ("/images/{id}", "get", "400"),
        ("/metrics", "get", "400"),
    ];
    for (path, method, status) in cases {
        let responses = &doc["paths"][path][method]["responses"];
        assert!(
            responses.get(status).is_some(),
            "{method} {path} lacks {status}"
        );
    }
    let answered = &doc["components"]["responses"]["MethodNotAllowed"]["description"];
    let described = answered.as_str().unwrap_or_default();
    assert!(described.contains("method_not_allowed"), "{described}");
}
