//! The governor rate limiter on a fake clock, including a model test of its capacity.

use std::sync::Arc;
use std::time::Duration;

use artgen_core::ports::{RateLimiter, RateQuota};
use artgen_core::ErrorCode;
use artgen_store::{GovernorRateLimiter, RateLimitConfig};
use governor::clock::FakeRelativeClock;
use proptest::prelude::*;

fn limiter(
    per_minute: u32,
    burst: u32,
) -> (GovernorRateLimiter<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let config = RateLimitConfig {
        per_minute,
        burst,
        ..RateLimitConfig::default()
    };
    let limiter = GovernorRateLimiter::with_clock(&config, clock.clone()).expect("valid config");
    (limiter, clock)
}

#[tokio::test]
async fn admits_exactly_burst_of_twice_burst_immediate_calls() {
    let (limiter, _clock) = limiter(1, 5);
    let port: &dyn RateLimiter = &limiter;

    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..10 {
        let decision = port
            .acquire("ann", 1, RateQuota::default())
            .await
            .expect("an in-process limiter never fails");
        if decision.admitted {
            admitted.push(decision);
        } else {
            refused.push(decision);
        }
    }

    assert_eq!(admitted.len(), 5);
    assert_eq!(refused.len(), 5);
    let remaining: Vec<u32> = admitted
        .iter()
        .map(|d| d.status.expect("a status").remaining)
        .collect();
    assert_eq!(remaining, [4, 3, 2, 1, 0], "the headers count down");
    assert_eq!(admitted[4].status.expect("status").limit, 1, "per minute");
    for decision in refused {
        let status = decision.status.expect("a refusal still reports the limit");
        assert_eq!(status.remaining, 0);
        let wait = decision.retry_after.expect("refusal says when to retry");
        assert!(
            status.reset >= wait,
            "full again no sooner than one unit is back"
        );
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }
}

#[test]
fn concurrent_callers_share_one_bucket() {
    let (limiter, _clock) = limiter(1, 8);
    let limiter = Arc::new(limiter);

    let handles: Vec<_> = (0..16)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            std::thread::spawn(move || limiter.check("ann", 1).is_ok())
        })
        .collect();
    let admitted = handles
        .into_iter()
        .map(|h| h.join().expect("thread finishes"))
        .filter(|ok| *ok)
        .count();

    assert_eq!(admitted, 8);
}

#[test]
fn another_key_is_unaffected() {
    let (limiter, _clock) = limiter(1, 2);
    limiter
        .check("ann", 2)
        .expect("fresh bucket admits the burst");
    limiter.check("ann", 1).expect_err("ann is exhausted");

    limiter.check("bob", 2).expect("bob has his own bucket");
}

#[test]
fn refills_after_the_clock_advances() {
    let (limiter, clock) = limiter(60, 3);
    limiter
        .check("ann", 3)
        .expect("fresh bucket admits the burst");
    let wait = limiter
        .check("ann", 2)
        .expect_err("bucket is empty")
        .retry_after()
        .expect("refusal says when to retry");
    assert_eq!(wait, Duration::from_secs(2), "two units at one per second");

    clock.advance(wait - Duration::from_millis(1));
    limiter.check("ann", 2).expect_err("not quite refilled");
    clock.advance(Duration::from_millis(1));
    limiter
        .check("ann", 2)
        .expect("refilled exactly when promised");
}

#[test]
fn a_cost_above_the_burst_can_never_be_admitted() {
    let (limiter, _clock) = limiter(60, 3);

    let err = limiter.check("ann", 4).expect_err("cost exceeds burst");

    assert_eq!(err.code(), ErrorCode::RateLimited);
    assert_eq!(err.retry_after(), None);
    assert!(err.message().contains("never"), "{}", err.message());
    limiter.check("ann", 3).expect("the refusal took nothing");
}

#[test]
fn zero_cost_is_always_admitted() {
    let (limiter, _clock) = limiter(1, 1);
    limiter.check("ann", 1).expect("fresh bucket");

    limiter.check("ann", 0).expect("nothing to take");
}

#[test]
fn zero_rate_or_burst_is_refused_by_the_constructor() {
    let zero_rate = RateLimitConfig {
        per_minute: 0,
        burst: 1,
        ..RateLimitConfig::default()
    };
    let zero_burst = RateLimitConfig {
        per_minute: 1,
        burst: 0,
        ..RateLimitConfig::default()
    };

    assert!(GovernorRateLimiter::new(&zero_rate).is_err());
    assert!(GovernorRateLimiter::new(&zero_burst).is_err());
    assert!(GovernorRateLimiter::new(&RateLimitConfig::default()).is_ok());
}

#[test]
fn housekeeping_forgets_keys_whose_bucket_refilled() {
    let (limiter, clock) = limiter(60, 2);
    for user in ["ann", "bob", "carl"] {
        limiter.check(user, 1).expect("fresh bucket");
    }
    limiter.housekeeping();
    assert_eq!(limiter.tracked_keys(), 3, "buckets still draining");

    clock.advance(Duration::from_secs(60));
    limiter.housekeeping();

    assert_eq!(limiter.tracked_keys(), 0);
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Step {
    /// Let time pass.
    Advance(Duration),
    /// Ask for `cost` units; after a refusal, optionally wait exactly `retry_after` and ask
    /// again.
    Acquire { cost: u32, wait_and_retry: bool },
}

fn step(burst: u32) -> impl Strategy<Value = Step> {
    prop_oneof![
        (0_u64..90_000).prop_map(|ms| Step::Advance(Duration::from_millis(ms))),
        (0..=burst + 2, any::<bool>()).prop_map(|(cost, wait_and_retry)| Step::Acquire {
            cost,
            wait_and_retry
        }),
    ]
}

fn scenario() -> impl Strategy<Value = (u32, u32, Vec<Step>)> {
    // Rates that divide a minute into whole nanoseconds, so governor's refill interval is the
    // exact rate and the model bound needs no rounding slack.
    let per_minute = prop::sample::select(vec![1_u32, 2, 3, 4, 5, 6, 10, 12, 20, 30, 60, 600]);
    (per_minute, 1_u32..=20).prop_flat_map(|(per_minute, burst)| {
        (
            Just(per_minute),
            Just(burst),
            prop::collection::vec(step(burst), 1..80),
        )
    })
}

proptest! {
    #[test]
    fn never_admits_more_than_burst_plus_rate_times_elapsed(
        (per_minute, burst, steps) in scenario()
    ) {
        let (limiter, clock) = limiter(per_minute, burst);
        let interval_ns = Duration::from_secs(60).as_nanos() / u128::from(per_minute);
        let mut elapsed = Duration::ZERO;
        let mut admitted: u128 = 0;

        for step in steps {
            match step {
                Step::Advance(by) => {
                    clock.advance(by);
                    elapsed += by;
                }
                Step::Acquire { cost, wait_and_retry } => match limiter.check("ann", cost) {
                    Ok(()) => admitted += u128::from(cost),
                    Err(err) if cost > burst => {
                        prop_assert_eq!(err.code(), ErrorCode::RateLimited);
                        prop_assert_eq!(err.retry_after(), None);
                    }
                    Err(err) => {
                        prop_assert!(cost > 0, "zero cost refused");
                        prop_assert_eq!(err.code(), ErrorCode::RateLimited);
                        let wait = err.retry_after().expect("refusal within burst has retry_after");
                        prop_assert!(wait > Duration::ZERO);
                        if wait_and_retry {
                            clock.advance(wait);
                            elapsed += wait;
                            prop_assert!(limiter.check("ann", cost).is_ok(), "retry_after was a lie");
                            admitted += u128::from(cost);
                        }
                    }
                },
            }
            // admitted ≤ burst + elapsed / interval, in integers.
            prop_assert!(
                admitted * interval_ns <= elapsed.as_nanos() + u128::from(burst) * interval_ns,
                "admitted {} in {:?}", admitted, elapsed
            );
        }
    }
}

#[tokio::test]
async fn a_principal_with_limits_of_its_own_gets_its_own_bucket() {
    let (limiter, _clock) = limiter(1, 5);
    let port: &dyn RateLimiter = &limiter;
    let strict = RateQuota {
        per_minute: Some(1),
        burst: Some(1),
    };

    let own = port.acquire("intern", 1, strict).await.expect("in process");
    let again = port.acquire("intern", 1, strict).await.expect("in process");
    let mut default = 0;
    for _ in 0..5 {
        default += usize::from(
            port.acquire("ann", 1, RateQuota::default())
                .await
                .expect("in process")
                .admitted,
        );
    }

    assert!(own.admitted);
    assert_eq!(own.status.expect("status").remaining, 0, "a burst of one");
    assert!(!again.admitted, "the principal's own burst applies");
    assert_eq!(default, 5, "others keep the default burst");
}
