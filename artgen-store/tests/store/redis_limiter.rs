//! The Redis limiter against a real Redis (`ARTGEN_TEST_REDIS_URL`; `.ci/run` sets it).
//! Without the variable these tests say why they skip; with it set, an unreachable Redis fails
//! them loudly. Each test uses its own key prefix, so they run in parallel.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use artgen_core::ports::{RateDecision, RateLimiter, RateQuota};
use artgen_core::{Error, ErrorCode};
use artgen_store::{
    FailoverLimiter, GovernorRateLimiter, RateLimitConfig, RedisFailure, RedisRateLimiter,
};
use async_trait::async_trait;
use proptest::prelude::*;

fn redis_url(test: &str) -> Option<String> {
    match std::env::var("ARTGEN_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped {test}: set ARTGEN_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run it"
            );
            None
        }
    }
}

fn prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "artgen-test:{test}:{}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

async fn limiter(url: &str, prefix: &str, per_minute: u32, burst: u32) -> RedisRateLimiter {
    let config = RateLimitConfig::default()
        .with_per_minute(per_minute)
        .with_burst(burst);
    RedisRateLimiter::connect(url, prefix, config)
        .await
        .expect("ARTGEN_TEST_REDIS_URL is set, so Redis must be reachable")
}

const SECOND: u64 = 1_000_000;

#[tokio::test]
async fn admits_the_burst_then_refuses_with_when_to_retry() {
    let Some(url) = redis_url("admits_the_burst") else {
        return;
    };
    let limiter = limiter(&url, &prefix("burst"), 60, 5).await;
    let now = 1_000 * SECOND;

    let mut admitted = Vec::new();
    for _ in 0..5 {
        let decision = limiter
            .decide_at("ann", 1, Some(now))
            .await
            .expect("redis answers");
        assert!(decision.admitted);
        admitted.push(decision.status.expect("status").remaining);
    }
    let refused = limiter
        .decide_at("ann", 1, Some(now))
        .await
        .expect("redis answers");

    assert_eq!(admitted, [4, 3, 2, 1, 0], "the headers count down");
    assert!(!refused.admitted);
    assert_eq!(
        refused.retry_after,
        Some(Duration::from_secs(1)),
        "one unit per second"
    );
    let later = limiter
        .decide_at("ann", 1, Some(now + SECOND))
        .await
        .expect("redis answers");
    assert!(later.admitted, "a unit is back after a second");
    let other = limiter
        .decide_at("bob", 1, Some(now))
        .await
        .expect("redis answers");
    assert!(other.admitted, "keys do not share");
}

#[tokio::test]
async fn costs_are_weighted_and_a_cost_beyond_the_burst_is_never_admitted() {
    let Some(url) = redis_url("weighted") else {
        return;
    };
    let limiter = limiter(&url, &prefix("weighted"), 60, 10).await;
    let now = 5_000 * SECOND;

    let heavy = limiter
        .decide_at("ann", 8, Some(now))
        .await
        .expect("answers");
    let light = limiter
        .decide_at("ann", 3, Some(now))
        .await
        .expect("answers");
    let never = limiter
        .decide_at("ann", 11, Some(now))
        .await
        .expect("answers");

    assert!(heavy.admitted);
    assert_eq!(heavy.status.expect("status").remaining, 2);
    assert!(!light.admitted, "3 units > the 2 left");
    assert_eq!(light.retry_after, Some(Duration::from_secs(1)));
    assert!(!never.admitted);
    assert_eq!(never.retry_after, None, "never admitted: no retry-after");
}

#[tokio::test]
async fn replicas_share_one_limit_per_key() {
    let Some(url) = redis_url("replicas") else {
        return;
    };
    let prefix = prefix("replicas");
    let replicas = [
        limiter(&url, &prefix, 60, 10).await,
        limiter(&url, &prefix, 60, 10).await,
        limiter(&url, &prefix, 60, 10).await,
    ];

    let calls = (0..30).map(|i| {
        let replica = replicas[i % 3].clone();
        async move {
            replica
                .acquire("ann", 1, RateQuota::default())
                .await
                .expect("redis answers")
                .admitted
        }
    });
    let admitted = futures_util_count(calls).await;

    // 10 at once, and at most one more refilled while the calls ran.
    assert!(
        (10..=11).contains(&admitted),
        "{admitted} admitted across three replicas"
    );
}

async fn futures_util_count<F: std::future::Future<Output = bool> + Send + 'static>(
    calls: impl Iterator<Item = F>,
) -> usize {
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut admitted = 0;
    for handle in handles {
        admitted += usize::from(handle.await.expect("joined"));
    }
    admitted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// In any window of a run, the admitted units are at most burst + rate × the window.
    #[test]
    fn never_admits_more_than_burst_plus_rate_times_elapsed(
        steps in prop::collection::vec((0u64..3_000, 1u32..4), 1..40),
        per_minute in 30u32..600,
        burst in 1u32..8,
    ) {
        let Some(url) = redis_url("model_check") else { return Ok(()) };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let admitted = runtime.block_on(async {
            let limiter = limiter(&url, &prefix("model"), per_minute, burst).await;
            let mut now = 10_000 * SECOND;
            let mut admitted = Vec::new();
            for (advance_ms, cost) in &steps {
                now += advance_ms * 1_000;
                let decision: RateDecision =
                    limiter.decide_at("k", *cost, Some(now)).await.expect("redis answers");
                if decision.admitted {
                    admitted.push((now, u64::from(*cost)));
                }
            }
            admitted
        });
        let interval = 60 * SECOND / u64::from(per_minute);
        for (i, (start, _)) in admitted.iter().enumerate() {
            let mut units = 0;
            for (at, cost) in &admitted[i..] {
                units += cost;
                let allowed = u64::from(burst) + (at - start) / interval;
                prop_assert!(
                    units <= allowed,
                    "{units} units in {} us; allowed {allowed}",
                    at - start
                );
            }
        }
    }
}

/// A shared limiter that fails while `down` is set.
struct Flaky {
    down: AtomicBool,
}

#[async_trait]
impl RateLimiter for Flaky {
    async fn acquire(
        &self,
        _key: &str,
        _cost: u32,
        _quota: RateQuota,
    ) -> artgen_core::Result<RateDecision> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::internal("connection refused"))
        } else {
            Ok(RateDecision::admit(None))
        }
    }
}

fn local(burst: u32) -> Arc<dyn RateLimiter> {
    let config = RateLimitConfig::default()
        .with_per_minute(60)
        .with_burst(burst);
    Arc::new(GovernorRateLimiter::new(&config).expect("valid"))
}

#[tokio::test]
async fn fail_open_limits_in_process_while_redis_is_down_and_recovers_by_itself() {
    let shared = Arc::new(Flaky {
        down: AtomicBool::new(true),
    });
    let changes = Arc::new(AtomicU64::new(0));
    let counted = changes.clone();
    let limiter = FailoverLimiter::new(shared.clone(), local(2), RedisFailure::FailOpen)
        .with_on_change(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });

    let mut admitted = 0;
    for _ in 0..4 {
        admitted += usize::from(
            limiter
                .acquire("ann", 1, RateQuota::default())
                .await
                .expect("fails open")
                .admitted,
        );
    }
    assert_eq!(admitted, 2, "the in-process limit applies");
    assert!(limiter.is_down());

    shared.down.store(false, Ordering::SeqCst);
    assert!(
        limiter
            .acquire("ann", 1, RateQuota::default())
            .await
            .expect("recovered")
            .admitted
    );
    assert!(!limiter.is_down());
    assert_eq!(changes.load(Ordering::SeqCst), 2, "down once, up once");
}

#[tokio::test]
async fn fail_closed_refuses_with_503_while_redis_is_down() {
    let shared = Arc::new(Flaky {
        down: AtomicBool::new(true),
    });
    let limiter = FailoverLimiter::new(shared, local(2), RedisFailure::FailClosed);

    let err = limiter
        .acquire("ann", 1, RateQuota::default())
        .await
        .expect_err("fails closed");

    assert_eq!(err.code(), ErrorCode::UpstreamUnavailable);
    assert!(err.retry_after().is_some());
}

#[tokio::test]
async fn an_unreachable_redis_is_a_connection_error_not_a_panic() {
    let err = RedisRateLimiter::connect("redis://127.0.0.1:1", "x:", RateLimitConfig::default())
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.to_string().contains("redis"), "{err}");
}

#[tokio::test]
async fn a_principals_own_quota_applies_on_redis_too() {
    let Some(url) = redis_url("own_quota") else {
        return;
    };
    let limiter = limiter(&url, &prefix("own_quota"), 60, 10).await;
    let now = 20_000 * SECOND;
    let strict = RateQuota {
        per_minute: Some(6),
        burst: Some(2),
    };

    let first = limiter
        .decide_with("intern", 1, strict, Some(now))
        .await
        .expect("answers");
    let second = limiter
        .decide_with("intern", 1, strict, Some(now))
        .await
        .expect("answers");
    let third = limiter
        .decide_with("intern", 1, strict, Some(now))
        .await
        .expect("answers");

    assert!(first.admitted && second.admitted);
    assert_eq!(first.status.expect("status").limit, 6);
    assert!(!third.admitted);
    assert_eq!(
        third.retry_after,
        Some(Duration::from_secs(10)),
        "one unit per 10 s"
    );
}
