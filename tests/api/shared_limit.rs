//! The per-user limit shared by replicas through Redis (`ARTGEN_TEST_REDIS_URL`; `.ci/run`
//! sets it). Without the variable the test says why it skips.

use artgen_store::RateLimitConfig;
use artgen_tests::{spawn_app, TestApp, TestOptions, Upstream};

use crate::helpers::body;

/// One prefix per test process, shared by the replicas of that process.
fn prefix() -> String {
    format!("artgen-test:shared:{}:", std::process::id())
}

async fn replica() -> TestApp {
    spawn_app(TestOptions {
        upstream: Upstream::Mock,
        rate_limit: RateLimitConfig::default().with_per_minute(1).with_burst(3),
        tweak: |s| {
            s.redis_url = std::env::var("ARTGEN_TEST_REDIS_URL").ok().map(Into::into);
            s.redis_key_prefix = prefix();
        },
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn two_replicas_on_one_redis_enforce_one_limit_per_user() {
    if std::env::var("ARTGEN_TEST_REDIS_URL").map_or(true, |u| u.is_empty()) {
        eprintln!("skipped: set ARTGEN_TEST_REDIS_URL to run the shared rate-limit test");
        return;
    }
    let (a, b) = (replica().await, replica().await);
    let request = body("dall-e-2", "256x256");

    let mut statuses = Vec::new();
    let mut remaining = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &a } else { &b };
        // Both replicas know the user by the same name ("lisa"), as replicas of one database do.
        let response = app.generate(Some(&app.user_key), &request).await;
        statuses.push(response.status().as_u16());
        remaining.push(
            response
                .headers()
                .get("x-ratelimit-remaining-requests")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
    }

    assert_eq!(statuses, [200, 200, 200, 429, 429, 429], "{remaining:?}");
    assert_eq!(remaining[0].as_deref(), Some("2"));
    assert_eq!(remaining[2].as_deref(), Some("0"));
}
