//! [`RateLimiter`] on Redis: one GCRA script (`gcra.lua`, next to this file) run atomically on
//! the server, so every replica of ArtGen shares one limit per key, in weighted units.
//!
//! The script's reply is mirrored by [`GcraReply`]. The clock is the Redis server's (`TIME`),
//! the same for all replicas; tests may pass their own. A Redis failure is returned as
//! `internal_error`, as the port says: the caller (see [`FailoverLimiter`]) applies the
//! configured policy.

mod failover;

use std::time::Duration;

use artgen_core::ports::{RateDecision, RateLimitStatus, RateLimiter, RateQuota};
use artgen_core::Error;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

pub use failover::{FailoverLimiter, RedisFailure};

use crate::config::RateLimitConfig;
use crate::error::StoreError;

/// Longest wait for a connection to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one script's answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The script, embedded at build time.
const GCRA: &str = include_str!("gcra.lua");

/// The script's reply: `{admitted, retry_after_us, remaining, reset_us}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraReply {
    /// Whether the units were taken.
    pub admitted: bool,
    /// When a refused request would be admitted.
    pub retry_after: Duration,
    /// Units that could be taken right after this decision.
    pub remaining: u64,
    /// Time until the key's allowance is whole again.
    pub reset: Duration,
}

impl GcraReply {
    fn from_values(values: &[i64]) -> Option<Self> {
        let micros = |v: i64| Duration::from_micros(u64::try_from(v.max(0)).unwrap_or(0));
        match values {
            [admitted, retry_after, remaining, reset] => Some(Self {
                admitted: *admitted == 1,
                retry_after: micros(*retry_after),
                remaining: u64::try_from((*remaining).max(0)).unwrap_or(0),
                reset: micros(*reset),
            }),
            _ => None,
        }
    }
}

/// A per-key GCRA limiter shared by every replica through Redis.
#[derive(Clone)]
pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: Script,
    config: RateLimitConfig,
    prefix: String,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("config", &self.config)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// Connects to `url` (`redis://…`; the password, if any, stays inside the client) and uses
    /// keys `<prefix><key>`.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] for a bad configuration or URL; [`StoreError::Redis`]
    /// when the server cannot be reached.
    pub async fn connect(
        url: &str,
        prefix: &str,
        config: RateLimitConfig,
    ) -> Result<Self, StoreError> {
        config.validate()?;
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::InvalidConfig(format!("redis_url: {e}")))?;
        // Bounded: a request path must never hang on a dead Redis (the failover policy then
        // decides), and a start against a missing server fails within seconds.
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(500);
        let connection = ConnectionManager::new_with_config(client, settings).await?;
        Ok(Self {
            connection,
            script: Script::new(GCRA),
            config,
            prefix: prefix.to_owned(),
        })
    }

    /// Runs the script for `key` at `now` (microseconds; `None`: the server's clock).
    ///
    /// # Errors
    /// [`StoreError::Redis`] when the call fails or the reply is not the script's.
    pub async fn decide_at(
        &self,
        key: &str,
        cost: u32,
        now_micros: Option<u64>,
    ) -> Result<RateDecision, StoreError> {
        self.decide_with(key, cost, RateQuota::default(), now_micros)
            .await
    }

    /// [`RedisRateLimiter::decide_at`] under `quota` (its unset parts are the defaults).
    ///
    /// # Errors
    /// As [`RedisRateLimiter::decide_at`].
    pub async fn decide_with(
        &self,
        key: &str,
        cost: u32,
        quota: RateQuota,
        now_micros: Option<u64>,
    ) -> Result<RateDecision, StoreError> {
        let per_minute = quota.per_minute.unwrap_or(self.config.per_minute);
        let burst = quota.burst.unwrap_or(self.config.burst);
        if cost == 0 {
            return Ok(RateDecision::admit(None));
        }
        if cost > burst || per_minute == 0 {
            return Ok(RateDecision::refuse(None, None));
        }
        let interval = 60_000_000 / u64::from(per_minute);
        let tolerance = interval * u64::from(burst);
        let now = now_micros.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut connection = self.connection.clone();
        let values: Vec<i64> = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(interval)
            .arg(tolerance)
            .arg(cost)
            .arg(now)
            .invoke_async(&mut connection)
            .await?;
        let reply = GcraReply::from_values(&values).ok_or_else(|| StoreError::Corrupt {
            field: "gcra reply",
            reason: format!("{values:?}"),
        })?;
        let status = Some(RateLimitStatus {
            limit: per_minute,
            remaining: u32::try_from(reply.remaining).unwrap_or(u32::MAX),
            reset: reply.reset,
        });
        Ok(if reply.admitted {
            RateDecision::admit(status)
        } else {
            RateDecision::refuse(
                Some(reply.retry_after.max(Duration::from_millis(1))),
                status,
            )
        })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(
        &self,
        key: &str,
        cost: u32,
        quota: RateQuota,
    ) -> artgen_core::Result<RateDecision> {
        self.decide_with(key, cost, quota, None)
            .await
            .map_err(Error::from)
    }
}
