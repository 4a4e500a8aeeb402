//! The [`RateLimiter`](crate::ports::RateLimiter) contract as scenarios, plus the capacity property every limiter must
//! keep: in no window of time does it admit more than `burst + rate × elapsed` units.
//!
//! The port reads its own clock, so an adapter is tested through a [`ClockedLimiter`]: the
//! port plus a way to move that clock forward (governor's fake clock, or the explicit time the
//! Redis script accepts).

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::ports::{RateDecision, RateQuota};

/// A limiter under test, on a clock the test moves.
#[async_trait]
pub trait ClockedLimiter: Send + Sync {
    /// As [`RateLimiter::acquire`](crate::ports::RateLimiter::acquire), at the test clock's current time.
    ///
    /// # Errors
    /// As [`RateLimiter::acquire`](crate::ports::RateLimiter::acquire).
    async fn acquire(&self, key: &str, cost: u32, quota: RateQuota) -> Result<RateDecision>;

    /// Moves the clock forward by `by`.
    fn advance(&self, by: Duration);
}

/// The default quota a fresh limiter is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterSetup {
    /// Units per minute.
    pub per_minute: u32,
    /// Bucket size.
    pub burst: u32,
}

/// Runs every scenario, each on a fresh limiter from `new_limiter` (fresh: no key has state;
/// a shared backend needs a new key prefix per call).
///
/// # Panics
/// When the limiter breaks the contract.
pub async fn rate_limiter_suite<F, Fut, L>(mut new_limiter: F)
where
    F: FnMut(LimiterSetup) -> Fut,
    Fut: Future<Output = L>,
    L: ClockedLimiter,
{
    let setup = |per_minute, burst| LimiterSetup { per_minute, burst };
    admits_the_burst_then_refuses_with_when_to_retry(&new_limiter(setup(60, 5)).await).await;
    a_weighted_cost_takes_that_many_units(&new_limiter(setup(60, 5)).await).await;
    a_cost_above_the_burst_is_refused_for_good_and_takes_nothing(&new_limiter(setup(60, 3)).await)
        .await;
    a_refused_cost_is_admitted_once_its_retry_after_has_passed(&new_limiter(setup(60, 4)).await)
        .await;
    keys_have_separate_buckets(&new_limiter(setup(60, 2)).await).await;
    a_quota_overrides_the_defaults(&new_limiter(setup(60, 10)).await).await;
    zero_cost_is_always_admitted(&new_limiter(setup(60, 1)).await).await;
}

async fn take(limiter: &dyn ClockedLimiter, key: &str, cost: u32) -> RateDecision {
    take_with(limiter, key, cost, RateQuota::default()).await
}

async fn take_with(
    limiter: &dyn ClockedLimiter,
    key: &str,
    cost: u32,
    quota: RateQuota,
) -> RateDecision {
    #[expect(clippy::expect_used, reason = "test suite")]
    limiter
        .acquire(key, cost, quota)
        .await
        .expect("a reachable limiter answers")
}

async fn admits_the_burst_then_refuses_with_when_to_retry(limiter: &dyn ClockedLimiter) {
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let decision = take(limiter, "ann", 1).await;
        assert!(decision.admitted, "within the burst: {decision:?}");
        remaining.push(decision.status.map(|s| s.remaining));
    }
    let refused = take(limiter, "ann", 1).await;

    assert_eq!(
        remaining,
        [Some(4), Some(3), Some(2), Some(1), Some(0)],
        "remaining counts down"
    );
    assert!(!refused.admitted, "beyond the burst");
    let wait = refused.retry_after.expect("a refusal says when to retry");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(1),
        "one unit per second: {wait:?}"
    );
    let status = refused.status.expect("a refusal reports the limit");
    assert_eq!((status.limit, status.remaining), (60, 0));
    assert!(status.reset >= wait, "{status:?} vs {wait:?}");
}

async fn a_weighted_cost_takes_that_many_units(limiter: &dyn ClockedLimiter) {
    let first = take(limiter, "ann", 3).await;
    let second = take(limiter, "ann", 3).await;
    let rest = take(limiter, "ann", 2).await;

    assert!(first.admitted);
    assert_eq!(first.status.map(|s| s.remaining), Some(2), "three of five");
    assert!(!second.admitted, "three more do not fit in two");
    let wait = second.retry_after.expect("when one more unit is back");
    assert!(wait <= Duration::from_secs(1), "one missing unit: {wait:?}");
    assert!(rest.admitted, "the refusal took nothing: {rest:?}");
}

async fn a_cost_above_the_burst_is_refused_for_good_and_takes_nothing(
    limiter: &dyn ClockedLimiter,
) {
    let refused = take(limiter, "ann", 4).await;
    let whole = take(limiter, "ann", 3).await;

    assert!(!refused.admitted);
    assert_eq!(refused.retry_after, None, "no wait makes it fit");
    assert!(whole.admitted, "the whole burst was still there");
}

async fn a_refused_cost_is_admitted_once_its_retry_after_has_passed(limiter: &dyn ClockedLimiter) {
    assert!(take(limiter, "ann", 4).await.admitted);
    let refused = take(limiter, "ann", 2).await;
    let wait = refused.retry_after.expect("two units come back");
    assert!(!refused.admitted);
    assert!(
        wait >= Duration::from_millis(1900) && wait <= Duration::from_secs(2),
        "two units at one per second: {wait:?}"
    );

    limiter.advance(wait);
    let admitted = take(limiter, "ann", 2).await;

    assert!(admitted.admitted, "refilled when promised: {admitted:?}");
}

async fn keys_have_separate_buckets(limiter: &dyn ClockedLimiter) {
    assert!(take(limiter, "ann", 2).await.admitted);
    assert!(!take(limiter, "ann", 1).await.admitted);

    assert!(take(limiter, "bob", 2).await.admitted, "bob has his own");
}

async fn a_quota_overrides_the_defaults(limiter: &dyn ClockedLimiter) {
    let tight = RateQuota {
        per_minute: Some(6),
        burst: Some(2),
    };
    assert!(take_with(limiter, "ann", 2, tight).await.admitted);
    let refused = take_with(limiter, "ann", 1, tight).await;
    let wide = take_with(limiter, "bob", 10, RateQuota::default()).await;

    assert!(!refused.admitted, "ann's own burst of two");
    assert_eq!(refused.status.map(|s| s.limit), Some(6), "ann's own rate");
    let wait = refused.retry_after.expect("a unit comes back");
    assert!(
        wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
        "six per minute: {wait:?}"
    );
    assert!(wide.admitted, "the default burst of ten for others");
}

async fn zero_cost_is_always_admitted(limiter: &dyn ClockedLimiter) {
    assert!(take(limiter, "ann", 1).await.admitted);

    assert!(take(limiter, "ann", 0).await.admitted);
}

/// One step of the capacity property: wait, then ask for units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Time to let pass before the request.
    pub advance: Duration,
    /// Units asked for.
    pub cost: u32,
}

/// Runs `steps` against `limiter` (built with `setup`) for one key and checks the capacity
/// bound: for every window of steps, the units admitted in it are at most
/// `burst + per_minute × elapsed / 60s`. It also checks each refusal: a cost within the burst
/// says when to retry, a cost above it says never. Meant to be driven by a property test with
/// random steps.
///
/// # Panics
/// When the limiter breaks the bound or answers a refusal wrongly.
pub async fn capacity_property(limiter: &dyn ClockedLimiter, setup: LimiterSetup, steps: &[Step]) {
    let mut now = Duration::ZERO;
    let mut admitted: Vec<(Duration, u32)> = Vec::new();
    for step in steps {
        limiter.advance(step.advance);
        now += step.advance;
        let decision = take(limiter, "prop", step.cost).await;
        if decision.admitted {
            admitted.push((now, step.cost));
        } else if step.cost > setup.burst {
            assert_eq!(decision.retry_after, None, "{step:?} can never fit");
        } else {
            let wait = decision.retry_after;
            assert!(
                wait.is_some_and(|w| w > Duration::ZERO),
                "a refusal of {step:?} within the burst says when: {wait:?}"
            );
        }
    }
    let rate = f64::from(setup.per_minute) / 60.0;
    for (i, &(start, _)) in admitted.iter().enumerate() {
        let mut units = 0_u64;
        for &(at, cost) in &admitted[i..] {
            units += u64::from(cost);
            let allowed = f64::from(setup.burst) + rate * (at - start).as_secs_f64();
            // A microsecond's worth of slack for limiters that keep time in microseconds.
            #[expect(clippy::cast_precision_loss, reason = "small unit counts")]
            let units_f = units as f64;
            assert!(
                units_f <= allowed + rate * 1e-6 + 1e-9,
                "{units} units admitted between {start:?} and {at:?}, allowed {allowed}"
            );
        }
    }
}
