//! `GET /v1/models[/{id}]`: the image models a request can succeed with, in OpenAI's shape.

use artgen_core::domain::UnpricedModels;
use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_of};

/// A mock-provider server with an alias and an operator's own model.
async fn app_with(tweak: fn(&mut artgen_http::settings::Settings)) -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        tweak,
        ..TestOptions::default()
    })
    .await
}

fn house(settings: &mut artgen_http::settings::Settings) {
    settings.catalog = serde_json::from_value(json!({
        "aliases": { "house": "gpt-image-2.5-flare" },
        "models": { "studio-model": { "like": "gpt-image-2" } },
    }))
    .expect("a catalogue config");
}

/// The ids `GET /v1/models` lists.
async fn listed(app: &TestApp) -> (Value, Vec<String>) {
    let response = app.get("/v1/models", Some(&app.user_key)).await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    let ids = body["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .map(|m| m["id"].as_str().expect("an id").to_owned())
        .collect();
    (body, ids)
}

#[tokio::test]
async fn lists_the_served_models_and_each_alias_in_openais_shape() {
    let app = app_with(house).await;

    let (body, ids) = listed(&app).await;

    assert_eq!(body["object"], "list");
    for model in body["data"].as_array().expect("data") {
        assert_eq!(model["object"], "model", "{model}");
        assert!(model["created"].as_u64().is_some_and(|c| c > 0), "{model}");
        let keys: Vec<&str> = model
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["created", "id", "object", "owned_by"], "{model}");
    }
    for id in [
        "gpt-image-2",
        "gpt-image-2.5-flare",
        "house",
        "studio-model",
    ] {
        assert!(ids.contains(&id.to_owned()), "{id} listed: {ids:?}");
    }
    assert!(
        ids.contains(&"dall-e-2".to_owned()),
        "the mock still serves retired models: {ids:?}"
    );
    assert!(
        !ids.contains(&"gpt-image-2.6-flare".to_owned()),
        "unpriced models are refused, so not listed: {ids:?}"
    );
    let snapshot = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|m| m["id"] == "gpt-image-2-2026-04-21")
        .expect("the snapshot is listed");
    assert_eq!(
        snapshot["created"], 1_776_729_600,
        "2026-04-21 in Unix seconds"
    );
    assert_eq!(snapshot["owned_by"], "openai");
}

#[tokio::test]
async fn every_listed_model_can_be_requested_and_no_other_catalogue_model_can() {
    let app = app_with(|_| {}).await;
    let (_, ids) = listed(&app).await;
    let catalogue = artgen_core::domain::Catalog::shipped();

    for model in catalogue.models() {
        let response = app
            .post_raw(
                "/v1/images/generations",
                Some(&app.user_key),
                json!({ "model": model.id, "prompt": "a fox" }).to_string(),
            )
            .await;
        let served = response.status() == 200;
        assert_eq!(
            served,
            ids.contains(&model.id),
            "{}: {}",
            model.id,
            json_of(response).await
        );
    }
}

#[tokio::test]
async fn retrieves_a_listed_model_or_alias_and_answers_404_for_any_other() {
    let app = app_with(house).await;

    let model = json_of(app.get("/v1/models/gpt-image-2", Some(&app.user_key)).await).await;
    assert_eq!(model["id"], "gpt-image-2");
    assert_eq!(model["object"], "model");
    let alias = json_of(app.get("/v1/models/house", Some(&app.user_key)).await).await;
    assert_eq!(alias["id"], "house");
    assert_eq!(
        alias["owned_by"], "openai",
        "an alias has its model's owner"
    );
    let own = json_of(
        app.get("/v1/models/studio-model", Some(&app.user_key))
            .await,
    )
    .await;
    assert_eq!(own["owned_by"], "artgen");

    for missing in ["gpt-image-2.6-flare", "no-such-model"] {
        let response = app
            .get(&format!("/v1/models/{missing}"), Some(&app.user_key))
            .await;
        assert_eq!(response.status(), 404, "{missing}");
        let body = json_of(response).await;
        assert_error(&body, "model_not_found", Some("model"));
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn lists_unpriced_models_when_the_operator_serves_them() {
    let app = app_with(|s| s.catalog.unpriced = UnpricedModels::Serve).await;

    let (_, ids) = listed(&app).await;

    assert!(ids.contains(&"gpt-image-2.6-flare".to_owned()), "{ids:?}");
    let response = app
        .get("/v1/models/gpt-image-2.6-sunburst", Some(&app.user_key))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_model_routes_need_a_key() {
    let app = app_with(|_| {}).await;

    for path in ["/v1/models", "/v1/models/gpt-image-2"] {
        let response = app.get(path, None).await;

        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{path}");
        assert_error(&json_of(response).await, "invalid_api_key", None);
    }
}
