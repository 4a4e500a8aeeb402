//! Typed configuration of the adapters (the server binary loads it; this crate never reads the
//! environment).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Per-key token bucket of the in-memory [`GovernorRateLimiter`](crate::GovernorRateLimiter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Units refilled per minute (the sustained rate).
    pub per_minute: u32,
    /// Units available at once (the bucket size); also the largest cost ever admitted.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    /// 60 units per minute with a burst of 10.
    fn default() -> Self {
        Self {
            per_minute: 60,
            burst: 10,
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

    /// Sets the bucket size.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Checks that the limiter can be built from this configuration.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] when the rate or the burst is zero.
    pub fn validate(&self) -> Result<(), StoreError> {
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
    }

    #[test]
    fn rejects_unknown_fields() {
        assert!(serde_json::from_str::<RateLimitConfig>(r#"{"per_hour": 5}"#).is_err());
    }

    proptest! {
        #[test]
        fn config_round_trips_through_json(per_minute in any::<u32>(), burst in any::<u32>()) {
            let config = RateLimitConfig { per_minute, burst };
            let json = serde_json::to_string(&config).expect("serialises");
            let back: RateLimitConfig = serde_json::from_str(&json).expect("deserialises");
            prop_assert_eq!(back, config);
        }
    }
}
