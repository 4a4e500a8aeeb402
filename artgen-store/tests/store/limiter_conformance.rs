//! The rate-limiter conformance suite (`artgen_core::testing::conformance::rate_limiter`)
//! against the governor limiter on a fake clock and the Redis limiter on explicit times
//! (`ARTGEN_TEST_REDIS_URL`: unset, the Redis tests say why they skip; set but unreachable,
//! they fail). Each Redis limiter gets its own key prefix, so the tests run in parallel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use artgen_core::ports::{RateDecision, RateQuota};
use artgen_core::testing::conformance::rate_limiter::{
    capacity_property, rate_limiter_suite, ClockedLimiter, LimiterSetup, Step,
};
use artgen_core::Error;
use artgen_store::{GovernorRateLimiter, RateLimitConfig, RedisRateLimiter};
use async_trait::async_trait;
use governor::clock::FakeRelativeClock;
use proptest::prelude::*;

/// The governor limiter and the fake clock it reads.
struct Governor {
    limiter: GovernorRateLimiter<FakeRelativeClock>,
    clock: FakeRelativeClock,
}

fn config(setup: LimiterSetup) -> RateLimitConfig {
    RateLimitConfig::default()
        .with_per_minute(setup.per_minute)
        .with_burst(setup.burst)
}

fn governor(setup: LimiterSetup) -> Governor {
    let clock = FakeRelativeClock::default();
    let limiter = GovernorRateLimiter::with_clock(&config(setup), clock.clone()).expect("valid");
    Governor { limiter, clock }
}

#[async_trait]
impl ClockedLimiter for Governor {
    async fn acquire(
        &self,
        key: &str,
        cost: u32,
        quota: RateQuota,
    ) -> artgen_core::Result<RateDecision> {
        Ok(self.limiter.decide_with(key, cost, quota))
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// The Redis limiter, asked at a time the test keeps (microseconds).
struct Redis {
    limiter: RedisRateLimiter,
    now_micros: AtomicU64,
}

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

async fn redis(url: &str, setup: LimiterSetup) -> Redis {
    static N: AtomicU64 = AtomicU64::new(0);
    let prefix = format!(
        "artgen-test:conformance:{}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let limiter = RedisRateLimiter::connect(url, &prefix, config(setup))
        .await
        .expect("ARTGEN_TEST_REDIS_URL is set, so Redis must be reachable");
    Redis {
        limiter,
        now_micros: AtomicU64::new(1_000_000_000),
    }
}

#[async_trait]
impl ClockedLimiter for Redis {
    async fn acquire(
        &self,
        key: &str,
        cost: u32,
        quota: RateQuota,
    ) -> artgen_core::Result<RateDecision> {
        let now = self.now_micros.load(Ordering::SeqCst);
        self.limiter
            .decide_with(key, cost, quota, Some(now))
            .await
            .map_err(Error::from)
    }

    fn advance(&self, by: Duration) {
        let micros = u64::try_from(by.as_micros()).expect("a test-sized duration");
        self.now_micros.fetch_add(micros, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn the_governor_limiter_keeps_the_contract() {
    rate_limiter_suite(|setup| async move { governor(setup) }).await;
}

#[tokio::test]
async fn the_redis_limiter_keeps_the_contract() {
    let Some(url) = redis_url("the_redis_limiter_keeps_the_contract") else {
        return;
    };
    rate_limiter_suite(|setup| {
        let url = url.clone();
        async move { redis(&url, setup).await }
    })
    .await;
}

fn steps() -> impl Strategy<Value = (LimiterSetup, Vec<Step>)> {
    let setup =
        (1_u32..=120, 1_u32..=8).prop_map(|(per_minute, burst)| LimiterSetup { per_minute, burst });
    let step = (0_u64..3_000, 0_u32..=10).prop_map(|(millis, cost)| Step {
        advance: Duration::from_millis(millis),
        cost,
    });
    (setup, prop::collection::vec(step, 1..40))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #[test]
    fn governor_never_admits_more_than_burst_plus_rate_times_elapsed((setup, steps) in steps()) {
        runtime().block_on(capacity_property(&governor(setup), setup, &steps));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn redis_never_admits_more_than_burst_plus_rate_times_elapsed((setup, steps) in steps()) {
        let Some(url) = redis_url("redis_never_admits_more_than_burst_plus_rate_times_elapsed")
        else {
            return Ok(());
        };
        runtime().block_on(async {
            let limiter = redis(&url, setup).await;
            capacity_property(&limiter, setup, &steps).await;
        });
    }
}
