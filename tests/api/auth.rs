//! Authentication: 401 with the JSON envelope and `WWW-Authenticate: Bearer`, no upstream call.

use artgen_tests::{spawn_app, TestOptions};

use crate::helpers::{assert_error, body, json_of};

#[tokio::test]
async fn missing_or_wrong_keys_get_401_and_never_reach_the_upstream() {
    let app = spawn_app(TestOptions::default()).await;
    let well_formed_unknown = "ag_live_abcdefghijABCDEFGHIJ0123456789klmnopqrst";
    for key in [
        None,
        Some("wrong"),
        Some("Bearer"),
        Some(well_formed_unknown),
    ] {
        let response = app.generate(key, &body("dall-e-2", "256x256")).await;
        assert_eq!(response.status(), 401, "{key:?}");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert_error(&json_of(response).await, "invalid_api_key", None);
    }
    assert_eq!(app.upstream_calls().await, 0);
}

#[tokio::test]
async fn unknown_and_revoked_keys_get_byte_identical_answers() {
    let app = spawn_app(TestOptions::default()).await;
    let key = artgen_core::domain::ApiKey::parse(&app.other_key).expect("valid key");
    assert!(app.store.revoke_key(key.public_id()).await.expect("revoke"));
    // A well-formed key (valid checksum) that was never issued.
    let unknown = app
        .store
        .create_key(
            "ghost",
            artgen_core::domain::Role::User,
            artgen_core::domain::KeyEnv::Test,
        )
        .await
        .expect("key");
    app.store
        .revoke_key(unknown.public_id())
        .await
        .expect("revoke");

    let strip_request_id = |mut v: serde_json::Value| {
        v["error"]["request_id"] = serde_json::Value::Null;
        v.to_string()
    };
    let revoked = app
        .generate(Some(&app.other_key), &body("dall-e-2", "256x256"))
        .await;
    let garbage = app
        .generate(Some("ag_test_notakey"), &body("dall-e-2", "256x256"))
        .await;
    assert_eq!(revoked.status(), 401);
    assert_eq!(garbage.status(), 401);
    let revoked = strip_request_id(json_of(revoked).await);
    let garbage = strip_request_id(json_of(garbage).await);
    assert_eq!(revoked, garbage);
}

#[tokio::test]
async fn health_needs_no_key_but_metrics_does() {
    let app = spawn_app(TestOptions::default()).await;
    let health = app.get("/health", None).await;
    assert_eq!(health.status(), 200);
    let health = json_of(health).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["provider"], "openai");
    assert_eq!(app.get("/metrics", None).await.status(), 401);
    assert_eq!(app.get("/metrics", Some(&app.user_key)).await.status(), 200);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_header() {
    let app = spawn_app(TestOptions::default()).await;
    for response in [app.get("/health", None).await, app.get("/nope", None).await] {
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert!(id.is_some_and(|id| id.starts_with("req_")));
    }
    let missing = app.get("/nope", None).await;
    assert_eq!(missing.status(), 404);
    assert_error(&json_of(missing).await, "not_found", None);
}
