//! The port to a per-key rate limiter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;

/// Where a key's limit stands after a decision, for the caller's `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// Sustained units per minute.
    pub limit: u32,
    /// Units that could be taken right now.
    pub remaining: u32,
    /// Time until the key's allowance is whole again.
    pub reset: Duration,
}

/// A limiter's answer to one request for units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the units were taken.
    pub admitted: bool,
    /// When a refused request would be admitted (`None`: never, the cost exceeds the burst).
    pub retry_after: Option<Duration>,
    /// Where the key's limit stands now (`None` where the limiter has no limit to report).
    pub status: Option<RateLimitStatus>,
}

impl RateDecision {
    /// The units were taken.
    pub fn admit(status: Option<RateLimitStatus>) -> Self {
        Self {
            admitted: true,
            retry_after: None,
            status,
        }
    }

    /// The units were not taken; `retry_after` is when they would be.
    pub fn refuse(retry_after: Option<Duration>, status: Option<RateLimitStatus>) -> Self {
        Self {
            admitted: false,
            retry_after,
            status,
        }
    }
}

/// The limit one request is held to: the principal's own rate and burst where set, the
/// limiter's configured defaults for what is not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateQuota {
    /// Units per minute (`None`: the default).
    pub per_minute: Option<u32>,
    /// Units at once (`None`: the default).
    pub burst: Option<u32>,
}

impl From<&crate::domain::PrincipalLimits> for RateQuota {
    fn from(limits: &crate::domain::PrincipalLimits) -> Self {
        Self {
            per_minute: limits.rate_per_minute,
            burst: limits.rate_burst,
        }
    }
}

/// Admits or refuses work per key (usually the user id).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes `cost` units for `key` if available, under `quota`, and says where the key's
    /// limit stands.
    ///
    /// A refusal is a decision, not an error: `admitted: false` with `retry_after` set to
    /// when the request would be admitted, or `None` when the cost is larger than the burst
    /// can ever admit.
    ///
    /// # Errors
    /// Only a failing backend: an adapter returns `internal_error` and the caller decides
    /// whether to fail open or closed (never `upstream_unavailable`).
    async fn acquire(&self, key: &str, cost: u32, quota: RateQuota) -> Result<RateDecision>;
}

/// A limiter that admits everything ("limits off").
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

#[async_trait]
impl RateLimiter for Unlimited {
    async fn acquire(&self, _key: &str, _cost: u32, _quota: RateQuota) -> Result<RateDecision> {
        Ok(RateDecision::admit(None))
    }
}

/// Where the service leaves a request's rate-limit status for the edge to report, whether the
/// request was admitted or not, and whether the request's unit was already taken (see
/// [`ArtGen::admit_early`](crate::ArtGen::admit_early)). Cheap to clone; clones share the slot.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(Arc<Mutex<SlotState>>);

#[derive(Debug, Default)]
struct SlotState {
    status: Option<RateLimitStatus>,
    prepaid: bool,
}

impl RateLimitSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the latest status.
    pub fn set(&self, status: RateLimitStatus) {
        self.lock().status = Some(status);
    }

    /// The latest status, if a limiter reported one.
    pub fn get(&self) -> Option<RateLimitStatus> {
        self.lock().status
    }

    /// Notes that the request's unit is taken, so admission does not take another.
    pub(crate) fn mark_prepaid(&self) {
        self.lock().prepaid = true;
    }

    /// Whether the request's unit was taken early; true at most once.
    pub(crate) fn take_prepaid(&self) -> bool {
        std::mem::take(&mut self.lock().prepaid)
    }
}
