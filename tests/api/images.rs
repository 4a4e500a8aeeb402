//! `GET /images/{id}`: signed links and owner-only access.

use artgen_tests::{spawn_app, upstream, TestOptions};

use crate::helpers::{assert_error, body, json_of};

#[tokio::test]
async fn the_signed_url_serves_a_decodable_image_of_the_right_size() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;
    let json = json_of(
        app.generate(Some(&app.user_key), &body("dall-e-2", "512x512"))
            .await,
    )
    .await;
    let url = json["images"][0]["url"].as_str().expect("url");

    let response = app.get(url, None).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.expect("bytes");
    let image = image::load_from_memory(&bytes).expect("decodable");
    assert_eq!((image.width(), image.height()), (512, 512));
}

#[tokio::test]
async fn a_tampered_signature_is_a_404() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;
    let json = json_of(
        app.generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await,
    )
    .await;
    let url = json["images"][0]["url"].as_str().expect("url");
    let tampered = format!("{}0", url);

    assert_eq!(app.get(&tampered, None).await.status(), 404);
}

#[tokio::test]
async fn the_owner_reads_an_image_with_a_key_and_others_get_the_same_404_as_for_nothing() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;
    let json = json_of(
        app.generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await,
    )
    .await;
    let id = json["images"][0]["id"].as_str().expect("id");
    let path = format!("/images/{id}");

    assert_eq!(app.get(&path, Some(&app.user_key)).await.status(), 200);
    assert_eq!(app.get(&path, Some(&app.admin_key)).await.status(), 200);
    assert_eq!(app.get(&path, None).await.status(), 401);

    let foreign = app.get(&path, Some(&app.other_key)).await;
    let absent = app
        .get("/images/img_000000000000000000000000", Some(&app.other_key))
        .await;
    assert_eq!(foreign.status(), 404);
    assert_eq!(absent.status(), 404);
    let mut foreign = json_of(foreign).await;
    let mut absent = json_of(absent).await;
    assert_error(&foreign, "not_found", None);
    foreign["error"]["request_id"] = serde_json::Value::Null;
    absent["error"]["request_id"] = serde_json::Value::Null;
    assert_eq!(foreign, absent);
}

#[tokio::test]
async fn a_malformed_signature_is_the_same_json_404() {
    let app = spawn_app(TestOptions::default()).await;
    for query in [
        "exp=abc&sig=zz",
        "exp=99999999999999999999999&sig=00",
        "exp=1&sig=not-hex",
    ] {
        let response = app
            .get(
                &format!("/images/img_000000000000000000000000?{query}"),
                None,
            )
            .await;
        assert_eq!(response.status(), 404, "{query}");
        assert_error(&json_of(response).await, "not_found", None);
    }
}

#[tokio::test]
async fn half_a_signed_link_is_the_same_404_even_with_the_owners_key() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;
    let json = json_of(
        app.generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await,
    )
    .await;
    let url = json["images"][0]["url"].as_str().expect("url");
    let (path, query) = url.split_once('?').expect("a query");
    let (exp, sig) = query.split_once('&').expect("exp and sig");

    for half in [exp, sig, "sig=", "exp="] {
        let response = app
            .get(&format!("{path}?{half}"), Some(&app.user_key))
            .await;
        assert_eq!(response.status(), 404, "{half}");
        assert_error(&json_of(response).await, "not_found", None);
    }
}
