//! Typed configuration of the adapters (the server binary loads it; this crate never reads the
//! environment).

use std::time::Duration;

use artgen_core::ports::RateWeights;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// What a write that has returned survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// A crash of the process (`kill -9`, a panic, running out of memory): SQLite runs in WAL
    /// mode with `synchronous = NORMAL` and image files are written to a temporary file and
    /// renamed, without an fsync on the response path. A power loss or kernel crash may lose
    /// the last commits and the image files written just before it, but never tears them.
    #[default]
    Crash,
    /// Also a power loss: `synchronous = FULL` (an fsync per commit, shared by the requests of
    /// one group commit), and every image file and its folder are fsynced before the answer.
    PowerLoss,
}

impl Durability {
    /// The setting's name, as in the configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Crash => "crash",
            Self::PowerLoss => "power_loss",
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Durability {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, StoreError> {
        match text.trim() {
            "crash" => Ok(Self::Crash),
            "power_loss" => Ok(Self::PowerLoss),
            other => Err(StoreError::InvalidConfig(format!(
                "durability {other:?}: expected crash or power_loss"
            ))),
        }
    }
}

/// How the SQLite store writes usage: durability, patience with a locked database, and the
/// spool that keeps writes the database refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// What a committed write survives (`crash` or `power_loss`).
    pub durability: Durability,
    /// How long one attempt at a batch of usage writes waits for SQLite's write lock,
    /// milliseconds.
    pub lock_wait_ms: u64,
    /// Attempts at a batch of usage writes (with growing pauses) before it is spooled.
    pub write_attempts: u32,
    /// Usage writes the spool keeps at most while the database refuses them (`0`: no spool).
    /// Room for the finish of every request in flight is reserved when it starts, so a full
    /// spool refuses new requests (503 `storage_unavailable`) before their upstream call and
    /// never loses the usage of one already paid for.
    pub spool_max_records: usize,
}

impl Default for DatabaseConfig {
    /// Crash durability; 1 s per attempt, 3 attempts; a spool of 10 000 records.
    fn default() -> Self {
        Self {
            durability: Durability::Crash,
            lock_wait_ms: 1000,
            write_attempts: 3,
            spool_max_records: 10_000,
        }
    }
}

impl DatabaseConfig {
    /// Sets the durability.
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets how long one write attempt waits for the write lock.
    #[must_use]
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Sets the attempts at a batch before it is spooled.
    #[must_use]
    pub fn with_write_attempts(mut self, attempts: u32) -> Self {
        self.write_attempts = attempts;
        self
    }

    /// Sets the spool's capacity in records (`0`: no spool).
    #[must_use]
    pub fn with_spool_max_records(mut self, records: usize) -> Self {
        self.spool_max_records = records;
        self
    }

    /// How long one write attempt waits for the write lock.
    pub fn lock_wait(&self) -> Duration {
        Duration::from_millis(self.lock_wait_ms)
    }

    /// Checks that the store can be opened with this configuration.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] when `write_attempts` is zero.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.write_attempts == 0 {
            return Err(StoreError::InvalidConfig(
                "database.write_attempts must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Per-key token bucket of the rate limiters ([`GovernorRateLimiter`](crate::GovernorRateLimiter)
/// and the Redis one), and what a request costs in its units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Units refilled per minute (the sustained rate).
    pub per_minute: u32,
    /// Units available at once (the bucket size); also the largest cost ever admitted.
    pub burst: u32,
    /// What one request costs in units, by quality, size and count (`[rate_limit.weights]`).
    pub weights: RateWeights,
}

impl Default for RateLimitConfig {
    /// 60 units per minute with a burst of 10.
    fn default() -> Self {
        Self {
            per_minute: 60,
            burst: 10,
            weights: RateWeights::default(),
        }
    }
}

impl RateLimitConfig {
    /// Sets the sustained rate.
    #[must_use]
    pub fn with_per_minute(mut self, per_minute: u32) -> Self {
        self.per_minute = per_minute;
        self
    }

    /// Sets the weights that price a request in units.
    #[must_use]
    pub fn with_weights(mut self, weights: RateWeights) -> Self {
        self.weights = weights;
        self
    }

    /// Sets the bucket size.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Checks that the limiter can be built from this configuration.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] when the rate or the burst is zero, or a weight is
    /// negative or not a number.
    pub fn validate(&self) -> Result<(), StoreError> {
        self.weights.validate().map_err(StoreError::InvalidConfig)?;
        if self.per_minute == 0 {
            return Err(StoreError::InvalidConfig(
                "rate_limit.per_minute must be at least 1".to_owned(),
            ));
        }
        if self.burst == 0 {
            return Err(StoreError::InvalidConfig(
                "rate_limit.burst must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn default_is_sixty_per_minute_with_a_burst_of_ten() {
        let config: RateLimitConfig = serde_json::from_str("{}").expect("all fields default");
        assert_eq!(config, RateLimitConfig::default());
        assert_eq!((config.per_minute, config.burst), (60, 10));
    }

    #[test]
    fn rejects_zero_rate_and_zero_burst() {
        assert!(RateLimitConfig::default().validate().is_ok());
        assert!(RateLimitConfig::default()
            .with_per_minute(0)
            .validate()
            .is_err());
        assert!(RateLimitConfig::default().with_burst(0).validate().is_err());
        let negative = RateWeights {
            high: -2.0,
            ..RateWeights::default()
        };
        assert!(RateLimitConfig::default()
            .with_weights(negative)
            .validate()
            .is_err());
    }

    #[test]
    fn weights_are_a_table_under_the_rate_limit() {
        let config: RateLimitConfig =
            serde_json::from_str(r#"{"weights": {"high": 4.0}}"#).expect("a partial table");
        assert_eq!(config.weights.high, 4.0);
        assert_eq!(config.weights.low, 1.0);
        assert!(serde_json::from_str::<RateLimitConfig>(r#"{"weights": {"huge": 1}}"#).is_err());
    }

    #[test]
    fn durability_defaults_to_crash_and_parses_both_names() {
        let config: DatabaseConfig = serde_json::from_str("{}").expect("all fields default");
        assert_eq!(config, DatabaseConfig::default());
        assert_eq!(config.durability, Durability::Crash);
        let power: DatabaseConfig =
            serde_json::from_str(r#"{"durability": "power_loss"}"#).expect("a known name");
        assert_eq!(power.durability, Durability::PowerLoss);
        assert_eq!(
            "crash".parse::<Durability>().expect("known"),
            Durability::Crash
        );
        assert!("fsync".parse::<Durability>().is_err());
        assert!(serde_json::from_str::<DatabaseConfig>(r#"{"durability": "fsync"}"#).is_err());
    }

    #[test]
    fn zero_write_attempts_are_refused() {
        assert!(DatabaseConfig::default().validate().is_ok());
        assert!(DatabaseConfig::default()
            .with_write_attempts(0)
            .validate()
            .is_err());
    }

    #[test]
    fn rejects_unknown_fields() {
        assert!(serde_json::from_str::<RateLimitConfig>(r#"{"per_hour": 5}"#).is_err());
    }

    proptest! {
        #[test]
        fn config_round_trips_through_json(per_minute in any::<u32>(), burst in any::<u32>()) {
            let config = RateLimitConfig { per_minute, burst, ..RateLimitConfig::default() };
            let json = serde_json::to_string(&config).expect("serialises");
            let back: RateLimitConfig = serde_json::from_str(&json).expect("deserialises");
            prop_assert_eq!(back, config);
        }
    }
}
