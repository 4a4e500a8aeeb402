//! Regressions from a probe of the running server: what a request may declare, how much of it
//! an error repeats, ambiguous credentials, canonical signed links, 405s and upload routes.

use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use reqwest::header;

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
