//! Generic decorators over the ports: each is an [`ImageProvider`](crate::ports::ImageProvider)
//! wrapping an `Arc<dyn ImageProvider>`, configured by a serde struct with `Default`
//! (durations in milliseconds).
//!
//! - [`Deadline`] ([`DeadlineConfig`]): one deadline per request around `run` and the opening
//!   of a stream, and an idle timeout between stream events → `upstream_timeout`.
//! - [`Retrying`] ([`RetryPolicy`]): bounded retries with backoff, jitter and `Retry-After`.
//! - [`Fallback`] / [`FallbackRouter`] ([`FallbackConfig`]): an ordered chain of upstreams,
//!   the next one tried on 5xx, connection failures, timeouts, `upstream_unavailable` and
//!   `upstream_busy`, never on 4xx-class errors; chains may differ per model.
//! - [`CircuitBreaker`] ([`CircuitConfig`]): after consecutive upstream failures (5xx,
//!   connection failures, timeouts; never 4xx or 429), calls fail fast for a while with
//!   `upstream_unavailable` and a retry-after, then one probe decides whether to close again.
//! - [`ConcurrencyLimit`] ([`ConcurrencyConfig`]): per-model, per-upstream admission: an
//!   adaptive (AIMD) limit on calls in flight, a pause after a 429, a request budget from the
//!   upstream's `x-ratelimit-*` headers, and a fair FIFO queue bounded in time and memory →
//!   `upstream_busy` with the expected wait as retry-after.
//!
//! # Stacking order
//!
//! Outermost first:
//!
//! ```text
//! Deadline → Retrying → Fallback ─┬→ CircuitBreaker → ConcurrencyLimit → primary upstream
//!                                 └→ CircuitBreaker → ConcurrencyLimit → secondary upstream …
//! ```
//!
//! - **Deadline outermost**: it bounds what the caller waits for in all — queueing, every
//!   attempt, backoff sleeps and failovers — and when it fires it drops everything inside,
//!   which cancels the upstream call and releases concurrency permits.
//! - **Retrying outside Fallback**: a failing primary fails over at once, without first
//!   sleeping through its own backoffs; only when the whole chain has failed retryably does the
//!   request back off and start again at the primary (which may have recovered). Worst case
//!   `max_attempts × chain length` upstream calls.
//! - **ConcurrencyLimit inside Fallback, one per upstream**: each upstream account has its own
//!   capacity and queue, so a saturated primary (`upstream_busy`) spills over to the next
//!   upstream instead of turning the caller away; and since it sits inside Retrying, no permit
//!   is held during a backoff sleep. `upstream_busy` is not retryable, so when every upstream
//!   is saturated the caller is told to come back later at once (load shedding) instead of
//!   being retried into a queue.
//! - **CircuitBreaker inside Fallback, one per upstream, outside ConcurrencyLimit**: an open
//!   upstream's `upstream_unavailable` (not retryable) makes Fallback move to the next upstream
//!   at once and stops Retrying from hammering it, while a healthy upstream keeps its own closed
//!   circuit. Outside the limit, a fast-failed call never queues for a permit, and
//!   `upstream_busy` from a full local queue is ignored, not mistaken for an upstream outage.

pub mod circuit;
pub mod concurrency;
pub mod deadline;
pub mod fallback;
pub mod retry;
pub mod user_rows;

pub use circuit::{CircuitBreaker, CircuitConfig};
pub use concurrency::{ConcurrencyConfig, ConcurrencyLimit};
pub use deadline::{Deadline, DeadlineConfig};
pub use fallback::{Fallback, FallbackConfig, FallbackRouter};
pub use retry::{RetryPolicy, Retrying};
pub use user_rows::UserRowsAuthenticator;

/// Serde helpers for durations written as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Milliseconds as a `u64` for logs and messages.
fn as_millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
