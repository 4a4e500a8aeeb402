//! An in-memory, per-key [`RateLimiter`] on the `governor` crate (GCRA, equivalent to a token
//! bucket of `burst` units refilled at `per_minute` units per minute).
//!
//! State lives in this process only: replicas do not share it (a shared limiter needs the
//! Redis adapter). One entry is kept per key seen, so memory grows with the number of distinct
//! users; call [`GovernorRateLimiter::housekeeping`] periodically (e.g. every minute) to drop
//! keys whose bucket has refilled completely and release the map's spare capacity.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::governor::clock::{Clock, DefaultClock, Reference};
use ::governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use ::governor::state::keyed::DefaultKeyedStateStore;
use ::governor::Quota;
use artgen_core::ports::{RateDecision, RateLimitStatus, RateLimiter, RateQuota};
use artgen_core::{Error, ErrorCode};
use async_trait::async_trait;

use crate::config::RateLimitConfig;
use crate::error::StoreError;

/// The smallest `retry_after` reported with a refusal, so a refusal never says "now".
const MIN_RETRY_AFTER: Duration = Duration::from_millis(1);

type Keyed<C> =
    ::governor::RateLimiter<String, DefaultKeyedStateStore<String>, C, StateInformationMiddleware>;

/// Per-key rate limiter held in memory.
///
/// Generic over governor's clock so tests can drive time with
/// [`FakeRelativeClock`](::governor::clock::FakeRelativeClock); servers use [`Self::new`].
pub struct GovernorRateLimiter<C: Clock = DefaultClock> {
    default: Bucket<C>,
    clock: C,
    /// Buckets of principals with limits of their own, by (per minute, burst).
    custom: Mutex<Buckets<C>>,
}

/// Buckets by (per minute, burst).
type Buckets<C> = HashMap<(u32, u32), Arc<Bucket<C>>>;

/// One quota's keyed buckets.
struct Bucket<C: Clock> {
    limiter: Keyed<C>,
    per_minute: u32,
    burst: u32,
}

impl<C: Clock> Bucket<C> {
    fn new(per_minute: NonZeroU32, burst: NonZeroU32, clock: C) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: ::governor::RateLimiter::<_, _, _, NoOpMiddleware<C::Instant>>::new(
                quota,
                DefaultKeyedStateStore::default(),
                clock,
            )
            .with_middleware::<StateInformationMiddleware>(),
            per_minute: per_minute.get(),
            burst: burst.get(),
        }
    }

    fn decide(&self, key: &str, n: NonZeroU32) -> RateDecision {
        let interval = Duration::from_secs(60) / self.per_minute.max(1);
        let status = |remaining: u32, extra: Duration| RateLimitStatus {
            limit: self.per_minute,
            remaining,
            reset: interval * (self.burst - remaining.min(self.burst)) + extra,
        };
        match self.limiter.check_key_n(&key.to_owned(), n) {
            Ok(Ok(snapshot)) => RateDecision::admit(Some(status(
                snapshot.remaining_burst_capacity(),
                Duration::ZERO,
            ))),
            Ok(Err(not_until)) => {
                let wait = not_until
                    .wait_time_from(self.limiter.clock().now())
                    .max(MIN_RETRY_AFTER);
                // Nothing is left now; one unit comes back after `wait`, the rest one interval
                // apart.
                let reset = status(0, wait).reset.saturating_sub(interval);
                RateDecision::refuse(
                    Some(wait),
                    Some(RateLimitStatus {
                        reset,
                        ..status(0, Duration::ZERO)
                    }),
                )
            }
            Err(_insufficient) => RateDecision::refuse(None, None),
        }
    }
}

impl GovernorRateLimiter {
    /// A limiter on the default monotonic clock.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] when the rate or the burst is zero.
    pub fn new(config: &RateLimitConfig) -> Result<Self, StoreError> {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> GovernorRateLimiter<C> {
    /// A limiter on the given clock.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] when the rate or the burst is zero.
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Result<Self, StoreError> {
        config.validate()?;
        let (Some(per_minute), Some(burst)) = (
            NonZeroU32::new(config.per_minute),
            NonZeroU32::new(config.burst),
        ) else {
            return Err(StoreError::InvalidConfig(
                "rate limit values must be at least 1".to_owned(),
            ));
        };
        Ok(Self {
            default: Bucket::new(per_minute, burst, clock.clone()),
            clock,
            custom: Mutex::new(HashMap::new()),
        })
    }

    /// Takes `cost` units for `key` now, without waiting, and says where the key stands.
    /// Same contract as [`RateLimiter::acquire`], under the default quota.
    pub fn decide(&self, key: &str, cost: u32) -> RateDecision {
        self.decide_with(key, cost, RateQuota::default())
    }

    /// [`GovernorRateLimiter::decide`] under `quota` (its unset parts are the defaults).
    pub fn decide_with(&self, key: &str, cost: u32, quota: RateQuota) -> RateDecision {
        let Some(n) = NonZeroU32::new(cost) else {
            return RateDecision::admit(None);
        };
        let per_minute = quota.per_minute.unwrap_or(self.default.per_minute);
        let burst = quota.burst.unwrap_or(self.default.burst);
        if (per_minute, burst) == (self.default.per_minute, self.default.burst) {
            return self.default.decide(key, n);
        }
        let (Some(per_minute), Some(burst)) = (NonZeroU32::new(per_minute), NonZeroU32::new(burst))
        else {
            // A principal limited to zero is admitted to nothing.
            return RateDecision::refuse(None, None);
        };
        let bucket = self
            .custom
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((per_minute.get(), burst.get()))
            .or_insert_with(|| Arc::new(Bucket::new(per_minute, burst, self.clock.clone())))
            .clone();
        bucket.decide(key, n)
    }

    /// Takes `cost` units for `key` now, without waiting: [`GovernorRateLimiter::decide`] as
    /// a `Result`.
    ///
    /// # Errors
    /// `rate_limited` with `retry_after` (> 0) when the units are not there yet;
    /// `rate_limited` without `retry_after` when `cost` exceeds the burst.
    pub fn check(&self, key: &str, cost: u32) -> artgen_core::Result<()> {
        let decision = self.decide(key, cost);
        match (decision.admitted, decision.retry_after) {
            (true, _) => Ok(()),
            (false, Some(wait)) => {
                Err(Error::new(ErrorCode::RateLimited, "rate limit exceeded")
                    .with_retry_after(wait))
            }
            (false, None) => Err(Error::new(
                ErrorCode::RateLimited,
                format!(
                    "request cost {cost} exceeds the rate-limit burst of {}; it can never be \
                     admitted",
                    self.default.burst
                ),
            )),
        }
    }

    /// Drops keys whose bucket is full again (indistinguishable from a new key) and shrinks
    /// the map. Cheap enough to call every minute from a background task.
    pub fn housekeeping(&self) {
        self.default.limiter.retain_recent();
        self.default.limiter.shrink_to_fit();
        let custom = self
            .custom
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for bucket in custom.values() {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }

    /// How many keys currently hold state (approximate under concurrency).
    pub fn tracked_keys(&self) -> usize {
        let custom = self
            .custom
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.default.limiter.len() + custom.values().map(|b| b.limiter.len()).sum::<usize>()
    }

    /// The largest cost that can ever be admitted under the default quota.
    pub fn burst(&self) -> u32 {
        self.default.burst
    }
}

impl<C: Clock + Clone> fmt::Debug for GovernorRateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovernorRateLimiter")
            .field("burst", &self.default.burst)
            .field("tracked_keys", &self.tracked_keys())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<C> RateLimiter for GovernorRateLimiter<C>
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Reference + Send + Sync,
{
    async fn acquire(
        &self,
        key: &str,
        cost: u32,
        quota: RateQuota,
    ) -> artgen_core::Result<RateDecision> {
        Ok(self.decide_with(key, cost, quota))
    }
}
