//! What happens when the shared limiter's backend is down: fail open to an in-process limiter
//! (each replica then limits alone) or fail closed (503), with a log line and a metric hook,
//! and back to the shared limiter as soon as it answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use artgen_core::ports::{RateDecision, RateLimiter, RateQuota};
use artgen_core::{Error, ErrorCode};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The policy while Redis is unreachable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisFailure {
    /// Use the in-process limiter (each replica enforces the limit alone).
    #[default]
    FailOpen,
    /// Refuse with 503 `upstream_unavailable`: no request passes unlimited.
    FailClosed,
}

/// A shared limiter with a fallback for when it fails.
pub struct FailoverLimiter {
    shared: Arc<dyn RateLimiter>,
    local: Arc<dyn RateLimiter>,
    policy: RedisFailure,
    down: AtomicBool,
    on_change: Box<dyn Fn(bool) + Send + Sync>,
}

impl std::fmt::Debug for FailoverLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailoverLimiter")
            .field("policy", &self.policy)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FailoverLimiter {
    /// Tries `shared` first; when it fails, applies `policy` (with `local` for fail-open).
    pub fn new(
        shared: Arc<dyn RateLimiter>,
        local: Arc<dyn RateLimiter>,
        policy: RedisFailure,
    ) -> Self {
        Self {
            shared,
            local,
            policy,
            down: AtomicBool::new(false),
            on_change: Box::new(|_| {}),
        }
    }

    /// Calls `on_change(true)` when the shared limiter starts failing and `on_change(false)`
    /// when it answers again (for a gauge).
    #[must_use]
    pub fn with_on_change(mut self, on_change: impl Fn(bool) + Send + Sync + 'static) -> Self {
        self.on_change = Box::new(on_change);
        self
    }

    /// Whether the shared limiter failed on its last call.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    fn mark(&self, down: bool, cause: Option<&Error>) {
        if self.down.swap(down, Ordering::SeqCst) != down {
            match cause {
                Some(err) => tracing::error!(
                    policy = ?self.policy,
                    error = %err,
                    "the shared rate limiter is unreachable; applying the configured policy"
                ),
                None => tracing::info!("the shared rate limiter answers again"),
            }
            (self.on_change)(down);
        }
    }
}

#[async_trait]
impl RateLimiter for FailoverLimiter {
    async fn acquire(
        &self,
        key: &str,
        cost: u32,
        quota: RateQuota,
    ) -> artgen_core::Result<RateDecision> {
        match self.shared.acquire(key, cost, quota).await {
            Ok(decision) => {
                self.mark(false, None);
                Ok(decision)
            }
            Err(err) => {
                self.mark(true, Some(&err));
                match self.policy {
                    RedisFailure::FailOpen => self.local.acquire(key, cost, quota).await,
                    RedisFailure::FailClosed => Err(Error::new(
                        ErrorCode::UpstreamUnavailable,
                        "the rate limiter is unavailable; try again shortly",
                    )
                    .with_retry_after(std::time::Duration::from_secs(1))
                    .with_source(err)),
                }
            }
        }
    }
}
