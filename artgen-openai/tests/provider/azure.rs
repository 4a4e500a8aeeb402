//! Azure OpenAI: deployment URLs, `api-version` and the `api-key` header.

use artgen_core::domain::{GenerateParams, OutputFormat};
use artgen_core::ports::ImageProvider;
use artgen_openai::{ApiFlavor, OpenAiConfig, OpenAiProvider};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer};

use crate::forms::{edit, field, image, parts, upload};
use crate::helpers::{images_answer, only_request, png, request, KEY};

const VERSION: &str = "2025-04-01-preview";

fn azure(server: &MockServer) -> OpenAiProvider {
    let config = OpenAiConfig::azure(server.uri(), KEY)
        .with_api_version(VERSION)
        .with_deployment("gpt-image-1", "images-prod");
    assert_eq!(config.flavor, ApiFlavor::Azure);
    OpenAiProvider::new(config).expect("valid config")
}

async fn expect_call(server: &MockServer, expected_path: &str) {
    Mock::given(method("POST"))
        .and(path(expected_path))
        .and(query_param("api-version", VERSION))
        .and(header("api-key", KEY))
        .respond_with(images_answer(&[3], None))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn azure_generations_go_to_the_mapped_deployment_with_the_api_key_header() {
    let server = MockServer::start().await;
    expect_call(
        &server,
        "/openai/deployments/images-prod/images/generations",
    )
    .await;

    let response = azure(&server)
        .run(&request("gpt-image-1", GenerateParams::default()))
        .await
        .expect("the call matched");

    assert_eq!(response.images[0].bytes, png(3));
    assert_eq!(response.provider, "azure");
    let sent = only_request(&server).await;
    assert!(
        sent.headers.get("authorization").is_none(),
        "no bearer token"
    );
    let body: serde_json::Value = serde_json::from_slice(&sent.body).expect("JSON");
    assert_eq!(body["model"], "gpt-image-1");
}

#[tokio::test]
async fn azure_edits_of_an_unmapped_model_use_its_upstream_id_as_deployment() {
    let server = MockServer::start().await;
    expect_call(&server, "/openai/deployments/gpt-image-1-mini/images/edits").await;
    let photo = image(OutputFormat::Png, 32, false, 2);
    let job = edit(
        "gpt-image-1-mini",
        GenerateParams::default(),
        vec![upload("image", "p.png", photo.clone())],
        None,
        None,
    );

    azure(&server).run(&job).await.expect("the call matched");

    let sent = only_request(&server).await;
    assert!(
        sent.headers.get("authorization").is_none(),
        "no bearer token"
    );
    assert_eq!(field(&parts(&sent), "image").body, photo.to_vec());
}
