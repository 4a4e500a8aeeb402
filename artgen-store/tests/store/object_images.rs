//! The S3 image store against a real S3-compatible server (`ARTGEN_TEST_S3_URL`, e.g.
//! `s3://artgen-test`, with the `AWS_*` variables that reach it; `.ci/run` starts one and sets
//! them). Without the variable these tests say why they skip; with it set, an unreachable
//! server fails them loudly. Each test works under its own prefix, so they run in parallel.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use artgen_core::domain::OutputFormat;
use artgen_core::ports::ImageStore;
use artgen_core::testing::{image_store_conformance, sample_bytes, Presign};
use artgen_store::{ObjectImageStore, ObjectStoreConfig};

fn s3_url(test: &str) -> Option<String> {
    match std::env::var("ARTGEN_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped {test}: set ARTGEN_TEST_S3_URL (e.g. s3://artgen-test) and the AWS_* \
                 variables of an S3-compatible server to run it"
            );
            None
        }
    }
}

/// A store under a prefix no other test uses, checked to answer.
async fn store(base: &str, test: &str) -> ObjectImageStore {
    static N: AtomicU64 = AtomicU64::new(0);
    let url = format!(
        "{}/{test}-{}-{}",
        base.trim_end_matches('/'),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let config = ObjectStoreConfig::new(url).with_cloud_options(std::env::vars());
    let store =
        ObjectImageStore::from_config(&config).expect("ARTGEN_TEST_S3_URL is a usable s3:// URL");
    store
        .check()
        .await
        .expect("ARTGEN_TEST_S3_URL is set, so the S3 server must answer");
    store
}

#[tokio::test]
async fn the_s3_store_keeps_the_image_store_contract() {
    let Some(base) = s3_url("the_s3_store_keeps_the_image_store_contract") else {
        return;
    };
    let store = store(&base, "contract").await;

    image_store_conformance(&store, Presign::Supported).await;
}

#[tokio::test]
async fn a_presigned_link_serves_the_bytes_with_their_type_and_states_its_expiry() {
    let Some(base) = s3_url("a_presigned_link_serves_the_bytes") else {
        return;
    };
    let store = store(&base, "presign").await;
    let bytes = sample_bytes(5000);
    let blob = store
        .put(OutputFormat::Jpeg, bytes.clone())
        .await
        .expect("put succeeds");

    let link = store
        .presign(&blob, Duration::from_secs(300))
        .await
        .expect("presign succeeds")
        .expect("S3 signs links");
    let fetched = reqwest::get(&link).await.expect("link answers");

    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/jpeg");
    assert_eq!(fetched.bytes().await.expect("body"), bytes);
    // The test server does not enforce expiry; S3 does, from these signed parameters.
    assert!(link.contains("X-Amz-Expires=300"), "{link}");
    assert!(link.contains("X-Amz-Signature="), "{link}");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(
        secret.is_empty() || !link.contains(&secret),
        "the secret key is never in a link"
    );
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_without_naming_the_keys() {
    // Always runs: a port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = ObjectStoreConfig::new("s3://nowhere/images")
        .with_option("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .with_option("AWS_ALLOW_HTTP", "true")
        .with_option("AWS_REGION", "us-east-1")
        .with_option("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID")
        .with_option("AWS_SECRET_ACCESS_KEY", "very-secret-value")
        .with_retries(1, Duration::from_secs(2));
    let store = ObjectImageStore::from_config(&config).expect("config is valid");

    let started = std::time::Instant::now();
    let err = store.check().await.expect_err("nobody listens");

    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounded retries"
    );
    let mut chain = format!("{err}");
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(!chain.contains("very-secret-value"), "{chain}");
    assert!(!chain.contains("AKIAEXAMPLEKEYID"), "{chain}");
    assert!(!format!("{store:?}").contains("very-secret"), "{store:?}");
}
