//! Every model generates end to end; answers follow Appendix A.

use artgen_core::domain::UsageQuery;
use artgen_core::domain::{Catalog, ModelFamily, SizeRule};
use artgen_core::ports::UsageStore;
use artgen_tests::{spawn_app, upstream, TestOptions};

use crate::helpers::{body, decoded_size, json_of};

#[tokio::test]
async fn every_catalogue_model_generates_a_decodable_image_of_the_requested_size() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;

    let mut priced = 0;
    for model in Catalog::default().models() {
        if !model.pricing.is_known() {
            // Never served as $0: refused until the operator sets a price.
            let response = app
                .generate(Some(&app.user_key), &body(&model.id, "1024x1024"))
                .await;
            assert_eq!(response.status(), 400, "{}", model.id);
            assert_eq!(json_of(response).await["error"]["code"], "model_unpriced");
            continue;
        }
        priced += 1;
        let size = match &model.sizes {
            SizeRule::Fixed { sizes, .. } => sizes[0].to_string(),
            SizeRule::Free { .. } => "1536x864".to_owned(),
        };
        let response = app
            .generate(Some(&app.user_key), &body(&model.id, &size))
            .await;
        assert_eq!(response.status(), 200, "{}", model.id);
        let json = json_of(response).await;
        assert_eq!(json["model"], model.id.as_str());
        assert!(json["id"].as_str().is_some_and(|id| id.starts_with("req_")));
        assert!(json["created"].as_u64().is_some());
        let image = &json["images"][0];
        assert_eq!(image["filetype"], "png");
        assert_eq!(image["size"], size.as_str());
        let (w, h) = decoded_size(image["b64_json"].as_str().expect("b64_json"));
        assert_eq!(format!("{w}x{h}"), size, "{}", model.id);
        if model.family == ModelFamily::GptImage {
            assert_eq!(json["usage"]["prompt_tokens"], 23);
            assert_eq!(json["usage"]["image_tokens"], 1056);
            assert_eq!(json["usage"]["total_tokens"], 1079);
        } else {
            assert!(json["usage"].is_null());
        }
    }
    assert_eq!(app.upstream_calls().await, priced);
}

#[tokio::test]
async fn dall_e_requests_ask_the_upstream_for_base64_not_urls() {
    let app = spawn_app(TestOptions::default()).await;
    let server = app.upstream.as_ref().expect("wiremock");
    upstream::mount_images(server).await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-3", "1024x1024"))
        .await;
    assert_eq!(response.status(), 200);
    let json = json_of(response).await;
    assert_eq!(json["images"][0]["revised_prompt"], "a revised prompt");

    let sent = server.received_requests().await.expect("recorded");
    let sent: serde_json::Value = serde_json::from_slice(&sent[0].body).expect("json body");
    assert_eq!(sent["response_format"], "b64_json");
}

#[tokio::test]
async fn records_one_usage_row_per_request_with_the_right_cost() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;

    let mut dalle = body("dall-e-2", "1024x1024");
    dalle["n"] = 2.into();
    let first = json_of(app.generate(Some(&app.user_key), &dalle).await).await;
    let second = json_of(
        app.generate(Some(&app.user_key), &body("gpt-image-1", "1024x1024"))
            .await,
    )
    .await;

    // DALL·E 2 1024²: $0.020 per image. gpt-image-1: 23 text tokens at $5/M + 1056 image
    // tokens at $40/M = $0.000115 + $0.04224.
    assert_eq!(first["cost_micros"], 40_000);
    assert_eq!(first["cost_usd"], "0.040000");
    assert_eq!(second["cost_micros"], 42_355);

    let rows = app
        .store
        .list(&UsageQuery {
            user: Some("lisa".into()),
            ..Default::default()
        })
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2);
    let gpt = rows
        .iter()
        .find(|r| r.model == "gpt-image-1")
        .expect("gpt row");
    assert_eq!(gpt.cost.micros(), 42_355);
    assert_eq!(gpt.tokens.output_image_tokens, 1056);
    assert_eq!(gpt.request_id.as_str(), second["id"].as_str().expect("id"));
    let dalle = rows
        .iter()
        .find(|r| r.model == "dall-e-2")
        .expect("dall-e row");
    assert_eq!(dalle.cost.micros(), 40_000);
    assert_eq!(dalle.images, 2);
    assert_eq!(dalle.prompt, "Castle on a cliff at dawn");
}

#[tokio::test]
async fn response_format_url_omits_the_inline_bytes() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;

    let mut request = body("gpt-image-1", "1024x1024");
    request["response_format"] = "url".into();
    let json = json_of(app.generate(Some(&app.user_key), &request).await).await;

    assert!(json["images"][0].get("b64_json").is_none());
    assert!(json["images"][0]["url"].as_str().is_some());
}
