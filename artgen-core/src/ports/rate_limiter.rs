//! The port to a per-key rate limiter.

use async_trait::async_trait;

use crate::error::Result;

/// Admits or refuses work per key (usually the user id).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes `cost` units for `key` if available.
    ///
    /// # Errors
    /// - not enough units → `rate_limited` with `retry_after` set to when the request would be
    ///   admitted (at least one second when rounded up for `Retry-After`);
    /// - a cost larger than the burst can ever admit → `rate_limited` without `retry_after`;
    /// - the backend is unreachable → `upstream_unavailable`-class errors are NOT used here; an
    ///   adapter returns `internal_error` and the caller decides whether to fail open or closed.
    async fn acquire(&self, key: &str, cost: u32) -> Result<()>;
}

/// A limiter that admits everything ("limits off").
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

#[async_trait]
impl RateLimiter for Unlimited {
    async fn acquire(&self, _key: &str, _cost: u32) -> Result<()> {
        Ok(())
    }
}
