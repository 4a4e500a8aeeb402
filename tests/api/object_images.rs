//! Images in object storage through the HTTP server (`ARTGEN_TEST_S3_URL` and the `AWS_*`
//! variables of an S3-compatible server; `.ci/run` sets them). Without the variable these tests
//! say why they skip. Each server works under its own prefix of the bucket.

use std::sync::atomic::{AtomicU64, Ordering};

use artgen_core::ports::ImageStore;
use artgen_http::settings::Settings;
use artgen_store::{ObjectImageStore, ObjectStoreConfig};
use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};
use base64::Engine as _;

use crate::helpers::{body, json_of};

fn s3_url(test: &str) -> Option<String> {
    match std::env::var("ARTGEN_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: set ARTGEN_TEST_S3_URL and the AWS_* variables to run it");
            None
        }
    }
}

/// Points the server at a prefix of the test bucket no other server uses.
fn in_bucket(settings: &mut Settings) {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = std::env::var("ARTGEN_TEST_S3_URL").unwrap_or_default();
    settings.images_url = Some(format!(
        "{}/http-{}-{}",
        base.trim_end_matches('/'),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
}

async fn app(tweak: fn(&mut Settings)) -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        tweak,
        ..TestOptions::default()
    })
    .await
}

/// Generates one image; returns its id, signed URL and bytes as answered.
async fn generate(app: &TestApp) -> (String, String, Vec<u8>) {
    let json = json_of(
        app.generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
            .await,
    )
    .await;
    let image = &json["images"][0];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(image["b64_json"].as_str().expect("b64_json"))
        .expect("base64");
    (
        image["id"].as_str().expect("id").to_owned(),
        image["url"].as_str().expect("url").to_owned(),
        bytes,
    )
}

#[tokio::test]
async fn a_generated_image_is_kept_in_the_bucket_and_streamed_back_by_artgen() {
    if s3_url("a_generated_image_is_kept_in_the_bucket").is_none() {
        return;
    }
    let app = app(in_bucket).await;

    let (id, url, answered) = generate(&app).await;
    let by_link = app.get(&url, None).await;
    let by_key = app.get(&format!("/images/{id}"), Some(&app.user_key)).await;

    assert_eq!(by_link.status(), 200);
    assert_eq!(by_link.headers()["content-type"], "image/png");
    assert_eq!(
        by_link.headers()["content-length"],
        answered.len().to_string().as_str()
    );
    assert_eq!(by_link.bytes().await.expect("body"), answered);
    assert_eq!(by_key.status(), 200);
    let image = image::load_from_memory(&by_key.bytes().await.expect("body")).expect("decodes");
    assert_eq!((image.width(), image.height()), (256, 256));
    assert_eq!(
        app.get(&format!("/images/{id}"), Some(&app.other_key))
            .await
            .status(),
        404,
        "others still get 404"
    );
}

#[tokio::test]
async fn two_replicas_on_one_bucket_share_blobs_but_serve_only_images_their_database_names() {
    if s3_url("two_replicas_on_one_bucket").is_none() {
        return;
    }
    /// Both replicas on the same prefix.
    fn shared(settings: &mut Settings) {
        let base = std::env::var("ARTGEN_TEST_S3_URL").unwrap_or_default();
        settings.images_url = Some(format!(
            "{}/replicas-{}",
            base.trim_end_matches('/'),
            std::process::id()
        ));
    }
    let (a, b) = (app(shared).await, app(shared).await);

    let (id, _, answered) = generate(&a).await;
    // Replicas share the image store but not (here) the database, where image rows live:
    // b knows no such image (replicas that serve each other's images share the database),
    // while the blob is in the shared bucket.
    let from_b = b.get(&format!("/images/{id}"), Some(&b.admin_key)).await;
    let from_a = a.get(&format!("/images/{id}"), Some(&a.admin_key)).await;
    let base = std::env::var("ARTGEN_TEST_S3_URL").unwrap_or_default();
    let store = ObjectImageStore::from_config(
        &ObjectStoreConfig::new(format!(
            "{}/replicas-{}",
            base.trim_end_matches('/'),
            std::process::id()
        ))
        .with_cloud_options(std::env::vars()),
    )
    .expect("store");
    let blob = artgen_core::ports::BlobRef {
        sha256: hex_sha256(&answered),
        len: answered.len() as u64,
        format: artgen_core::domain::OutputFormat::Png,
    };
    let body = store
        .open(&blob)
        .await
        .expect("open succeeds")
        .expect("stored");
    let stored = artgen_core::ports::read_body(body, blob.len)
        .await
        .expect("reads");

    assert_eq!(from_b.status(), 404);
    assert_eq!(from_a.status(), 200);
    assert_eq!(stored.to_vec(), answered);
}

#[tokio::test]
async fn with_images_redirect_secs_the_download_redirects_to_the_buckets_own_link() {
    if s3_url("with_images_redirect_secs").is_none() {
        return;
    }
    let app = app(|s| {
        in_bucket(s);
        s.images_redirect_secs = 120;
    })
    .await;
    let (_, url, answered) = generate(&app).await;
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let redirect = no_follow.get(&url).send().await.expect("server answers");
    let followed = app.get(&url, None).await;

    assert_eq!(redirect.status(), 307);
    assert_eq!(redirect.headers()["cache-control"], "no-store");
    let location = redirect.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.contains("X-Amz-Expires=120"), "{location}");
    assert!(
        !location.starts_with(&app.address),
        "the link is the bucket's: {location}"
    );
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.headers()["content-type"], "image/png");
    assert_eq!(followed.bytes().await.expect("body"), answered);
}

/// Lower-case hex SHA-256 of `bytes` (the name of their blob).
fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
