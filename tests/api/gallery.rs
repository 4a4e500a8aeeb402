//! `GET /images` (the caller's gallery, from metadata rows) and `DELETE /images/{id}`, and
//! the upgrade from a data folder that kept a `meta/<id>.json` per image.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use artgen_tests::{spawn_app, upstream, TestApp, TestOptions};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, body, json_of};

async fn generate_one(app: &TestApp, key: &str) -> String {
    let json = json_of(app.generate(Some(key), &body("dall-e-2", "256x256")).await).await;
    json["images"][0]["id"].as_str().expect("id").to_owned()
}

async fn page(app: &TestApp, query: &str, key: &str) -> (StatusCode, Value) {
    let response = app.get(&format!("/images{query}"), Some(key)).await;
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

async fn delete(app: &TestApp, id: &str, key: &str) -> StatusCode {
    app.client
        .delete(format!("{}/images/{id}", app.address))
        .bearer_auth(key)
        .send()
        .await
        .expect("server reachable")
        .status()
}

#[tokio::test]
async fn a_gallery_pages_through_the_callers_images_once_each_and_no_one_elses() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;
    let mut mine = HashSet::new();
    for _ in 0..5 {
        mine.insert(generate_one(&app, &app.user_key).await);
    }
    let theirs = generate_one(&app, &app.other_key).await;

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, json) = page(&app, &query, &app.user_key).await;
        assert_eq!(status, 200, "{json}");
        pages += 1;
        let data = json["data"].as_array().expect("data");
        assert!(data.len() <= 2, "{json}");
        for image in data {
            assert_eq!(image["model"], "dall-e-2", "{image}");
            assert_eq!(image["size"], "256x256", "{image}");
            assert_eq!(image["format"], "png", "{image}");
            assert!(image["prompt"].as_str().is_some_and(|p| !p.is_empty()));
            assert!(image["created"].as_u64().is_some_and(|c| c > 1_600_000_000));
            seen.push(image["id"].as_str().expect("id").to_owned());
        }
        match json["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "the pages end");
    }
    let (_, first) = page(&app, "", &app.user_key).await;
    let link = first["data"][0]["url"].as_str().expect("a signed url");

    assert_eq!(seen.len(), 5, "no repeats: {seen:?}");
    assert_eq!(
        seen.iter().cloned().collect::<HashSet<_>>(),
        mine,
        "no skips"
    );
    assert!(!seen.contains(&theirs), "another user's image is absent");
    assert_eq!(pages, 3);
    assert_eq!(
        first["data"].as_array().map(Vec::len),
        Some(5),
        "default limit"
    );
    assert_eq!(app.get(link, None).await.status(), 200, "the url serves");
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_a_400_naming_it_and_no_key_a_401() {
    let app = spawn_app(TestOptions::default()).await;

    for (query, param) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=zz", "cursor"),
        ("?cursor=3a", "cursor"),
    ] {
        let (status, json) = page(&app, query, &app.user_key).await;
        assert_eq!(status, 400, "{query}: {json}");
        assert_error(&json, "invalid_value", Some(param));
    }
    assert_eq!(app.get("/images", None).await.status(), 401);
    let (status, json) = page(&app, "?limit=200", &app.user_key).await;
    assert_eq!(status, 200);
    assert_eq!(json["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_deleted_image_is_gone_for_its_owner_and_others_cannot_delete_it() {
    let app = spawn_app(TestOptions::default()).await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;
    let json = json_of(
        app.generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await,
    )
    .await;
    let id = json["images"][0]["id"].as_str().expect("id");
    let link = json["images"][0]["url"].as_str().expect("url");

    let by_other = delete(&app, id, &app.other_key).await;
    let still = app
        .get(&format!("/images/{id}"), Some(&app.user_key))
        .await
        .status();
    let by_owner = delete(&app, id, &app.user_key).await;
    let twice = delete(&app, id, &app.user_key).await;
    let (_, listed) = page(&app, "", &app.user_key).await;

    assert_eq!(by_other, 404, "someone else's image is not found");
    assert_eq!(still, 200);
    assert_eq!(by_owner, 204);
    assert_eq!(twice, 404);
    assert_eq!(listed["data"], Value::Array(Vec::new()));
    assert_eq!(
        app.get(&format!("/images/{id}"), Some(&app.user_key))
            .await
            .status(),
        404
    );
    assert_eq!(app.get(link, None).await.status(), 404, "links die with it");
}

/// The image folder of the upgrade test, laid out as before the image index.
static OLD_FOLDER: OnceLock<PathBuf> = OnceLock::new();

fn old_folder(settings: &mut artgen_http::settings::Settings) {
    let folder = OLD_FOLDER.get().expect("laid out before the app starts");
    settings.images_url = Some(format!("file://{}", folder.display()));
}

#[tokio::test]
async fn an_image_of_an_old_layout_folder_is_listed_and_served_after_the_upgrade() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("images");
    let bytes = b"\x89PNG\r\n\x1a\nan image from before the index".to_vec();
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let blob_dir = folder.join("blobs").join(&sha[..2]);
    std::fs::create_dir_all(&blob_dir).expect("blob folder");
    std::fs::write(blob_dir.join(format!("{sha}.png")), &bytes).expect("blob");
    std::fs::create_dir_all(folder.join("meta")).expect("meta folder");
    let id = "img_0ld0ld0ld0ld0ld0ld0ld0ld";
    std::fs::write(
        folder.join("meta").join(format!("{id}.json")),
        format!(
            r#"{{"id":"{id}","owner":"lisa","request_id":"req_0ld0ld0ld0ld0ld0ld0ld0ld","format":"png","dimensions":"1x1","created_at_ms":1700000000000,"sha256":"{sha}"}}"#
        ),
    )
    .expect("old metadata");
    OLD_FOLDER.set(folder.clone()).expect("set once");
    let app = spawn_app(TestOptions {
        tweak: old_folder,
        ..TestOptions::default()
    })
    .await;

    let (status, listed) = page(&app, "", &app.user_key).await;
    let served = app.get(&format!("/images/{id}"), Some(&app.user_key)).await;
    let hidden = app
        .get(&format!("/images/{id}"), Some(&app.other_key))
        .await;

    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"][0]["id"], id, "{listed}");
    assert_eq!(listed["data"][0]["size"], "1x1");
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.expect("body").to_vec(), bytes);
    assert_eq!(hidden.status(), 404, "the owner came along");
    assert!(
        !folder.join("meta").join(format!("{id}.json")).exists(),
        "the imported file is gone: one file per image"
    );
}
