//! The per-user rate limit: 429 with `Retry-After`, other users unaffected.

use artgen_store::RateLimitConfig;
use artgen_tests::{spawn_app, upstream, TestOptions};

use crate::helpers::{assert_error, body, json_of};

#[tokio::test]
async fn concurrent_requests_beyond_the_burst_get_429_with_retry_after() {
    let burst = 3;
    let app = spawn_app(TestOptions {
        rate_limit: RateLimitConfig {
            per_minute: 1,
            burst,
            ..RateLimitConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;

    let request = body("dall-e-2", "256x256");
    let responses = futures_join(&app, &request, 2 * burst as usize).await;

    let ok = responses.iter().filter(|(s, _, _)| *s == 200).count();
    let limited: Vec<_> = responses.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(ok, burst as usize);
    assert_eq!(limited.len(), burst as usize);
    for (_, retry_after, json) in limited {
        let secs: u64 = retry_after
            .as_deref()
            .expect("Retry-After")
            .parse()
            .expect("integer seconds");
        assert!(secs >= 1);
        assert_error(json, "rate_limit_exceeded", None);
    }
    assert_eq!(app.upstream_calls().await, burst as usize);

    // Another user is unaffected.
    let other = app.generate(Some(&app.other_key), &request).await;
    assert_eq!(other.status(), 200);
    assert!(app
        .metrics()
        .await
        .contains(&format!("artgen_rate_limited_total {burst}")));
}

async fn futures_join(
    app: &artgen_tests::TestApp,
    request: &serde_json::Value,
    count: usize,
) -> Vec<(u16, Option<String>, serde_json::Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let client = app.client.clone();
        let url = format!("{}/generate", app.address);
        let key = app.user_key.clone();
        let request = request.clone();
        tasks.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(key)
                .json(&request)
                .send()
                .await
                .expect("reachable");
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (status, retry_after, json_of(response).await)
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn a_request_is_charged_units_by_what_it_asks_for_and_the_headers_count_units() {
    let app = spawn_app(TestOptions {
        rate_limit: RateLimitConfig {
            per_minute: 1,
            burst: 4,
            ..RateLimitConfig::default()
        },
        ..TestOptions::default()
    })
    .await;
    upstream::mount_images(app.upstream.as_ref().expect("wiremock")).await;

    let mut two_images = body("dall-e-2", "256x256");
    two_images["n"] = 2.into();
    let admitted = app.generate(Some(&app.user_key), &two_images).await;
    assert_eq!(admitted.status(), 200);
    let remaining = admitted
        .headers()
        .get("x-ratelimit-remaining-requests")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(remaining.as_deref(), Some("2"), "two images took two units");

    let mut dear = body("gpt-image-2", "1536x1024");
    dear["quality"] = "high".into();
    dear["n"] = 2.into();
    let refused = app.generate(Some(&app.user_key), &dear).await;
    assert_eq!(refused.status(), 429);
    assert!(
        refused.headers().get("retry-after").is_none(),
        "six units never fit a burst of four"
    );
    let json = json_of(refused).await;
    assert_error(&json, "rate_limit_exceeded", None);
    let message = json["error"]["message"].as_str().expect("a message");
    assert!(message.contains("costs 6 rate-limit units"), "{message}");
    assert_eq!(
        app.upstream_calls().await,
        1,
        "the refused request was not sent"
    );
}
