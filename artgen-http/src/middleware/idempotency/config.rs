//! The timings of the idempotency middleware.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long answers are kept and duplicates wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// How long an answer is replayed, counted from the first request, seconds (24 h).
    pub ttl_secs: u64,
    /// How long an unfinished claim blocks its key when its process dies, seconds (1 h). Must
    /// exceed the longest a request can run (all upstream attempts included): a request still
    /// running after its lease can be started a second time by a retry.
    pub lease_secs: u64,
    /// How long a duplicate waits for the first request before giving up with 409
    /// `idempotency_in_progress`, milliseconds (60 s; 0 answers 409 at once).
    pub wait_ms: u64,
    /// How often a waiting duplicate asks the store again, milliseconds (100). Waiters in the
    /// process that runs the first request are woken at once; polling finds answers stored by
    /// other replicas.
    pub poll_ms: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 24 * 60 * 60,
            lease_secs: 60 * 60,
            wait_ms: 60_000,
            poll_ms: 100,
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl IdempotencyConfig {
    /// Sets the retention of answers.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl_secs = ttl.as_secs();
        self
    }

    /// Sets the lease of unfinished claims.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease_secs = lease.as_secs();
        self
    }

    /// Sets how long duplicates wait.
    #[must_use]
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Sets the poll interval of waiting duplicates (at least 1 ms).
    #[must_use]
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll_ms = u64::try_from(poll.as_millis()).unwrap_or(u64::MAX);
        self
    }

    pub(super) fn ttl_ms(&self) -> i64 {
        millis(Duration::from_secs(self.ttl_secs))
    }

    pub(super) fn lease_ms(&self) -> i64 {
        millis(Duration::from_secs(self.lease_secs))
    }

    pub(super) fn wait(&self) -> Duration {
        Duration::from_millis(self.wait_ms)
    }

    pub(super) fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_answers_a_day_and_wait_a_minute() {
        let config = IdempotencyConfig::default();

        assert_eq!(config.ttl_ms(), 86_400_000);
        assert_eq!(config.lease_ms(), 3_600_000);
        assert_eq!(config.wait(), Duration::from_secs(60));
        assert_eq!(config.poll(), Duration::from_millis(100));
    }

    #[test]
    fn setters_apply_and_a_partial_config_keeps_defaults() {
        let config = IdempotencyConfig::default()
            .with_wait(Duration::from_millis(250))
            .with_poll(Duration::ZERO);
        let parsed: IdempotencyConfig =
            serde_json::from_str(r#"{"wait_ms": 250}"#).expect("a partial config parses");

        assert_eq!(config.wait(), Duration::from_millis(250));
        assert_eq!(config.poll(), Duration::from_millis(1), "never a busy loop");
        assert_eq!(parsed.wait_ms, 250);
        assert_eq!(parsed.ttl_secs, 86_400);
    }
}
