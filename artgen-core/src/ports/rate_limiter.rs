//! The port to a per-key rate limiter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use serde::{Deserialize, Serialize};

use crate::domain::{Dimensions, ImageJob, Quality};
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

/// The pixel count of one "megapixel" in [`RateWeights`]: a 1024×1024 image.
const BASE_PIXELS: f64 = 1024.0 * 1024.0;

/// What a request costs in rate-limit units, from what it asks for (`[rate_limit.weights]`):
///
/// `units = ceil(n × quality weight × max(1, per_megapixel × pixels / 1024²))`, at least 1.
///
/// The defaults make a low, medium, standard or auto quality request for one image of up to
/// 1024×1024 cost one unit; `high` and `hd` weigh 2 (a high-quality 1536×1024 image costs
/// ceil(2 × 1.5) = 3 units). A request whose size is `auto` is weighed as 1024×1024.
/// `per_megapixel = 0` ignores the size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateWeights {
    /// Weight of quality `auto`.
    pub auto: f64,
    /// Weight of quality `low`.
    pub low: f64,
    /// Weight of quality `medium`.
    pub medium: f64,
    /// Weight of quality `high`.
    pub high: f64,
    /// Weight of quality `xhigh`.
    pub xhigh: f64,
    /// Weight of quality `max`.
    pub max: f64,
    /// Weight of quality `standard` (DALL·E, and every variation).
    pub standard: f64,
    /// Weight of quality `hd` (DALL·E 3).
    pub hd: f64,
    /// Size factor per 1024×1024 of pixels beyond the first (0: the size does not count).
    pub per_megapixel: f64,
}

impl Default for RateWeights {
    fn default() -> Self {
        Self {
            auto: 1.0,
            low: 1.0,
            medium: 1.0,
            high: 2.0,
            xhigh: 3.0,
            max: 4.0,
            standard: 1.0,
            hd: 2.0,
            per_megapixel: 1.0,
        }
    }
}

impl RateWeights {
    /// Every weight is one and the size does not count: each request costs `n` units.
    pub fn per_image() -> Self {
        Self {
            auto: 1.0,
            low: 1.0,
            medium: 1.0,
            high: 1.0,
            xhigh: 1.0,
            max: 1.0,
            standard: 1.0,
            hd: 1.0,
            per_megapixel: 0.0,
        }
    }

    /// The weight of a quality.
    pub fn quality(&self, quality: Quality) -> f64 {
        match quality {
            Quality::Auto => self.auto,
            Quality::Low => self.low,
            Quality::Medium => self.medium,
            Quality::High => self.high,
            Quality::Xhigh => self.xhigh,
            Quality::Max => self.max,
            Quality::Standard => self.standard,
            Quality::Hd => self.hd,
        }
    }

    /// Units for `n` images of `quality` at `size` (`None`: `auto`, weighed as 1024×1024).
    pub fn units_for(&self, quality: Quality, size: Option<Dimensions>, n: u8) -> u32 {
        let pixels = size.map_or(BASE_PIXELS, |d| f64::from(d.width) * f64::from(d.height));
        let size_factor = (self.per_megapixel * pixels / BASE_PIXELS).max(1.0);
        let units = (f64::from(n) * self.quality(quality) * size_factor).ceil();
        // Saturating float-to-int conversion; validated weights are finite and not negative.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let units = units as u32;
        units.max(1)
    }

    /// Units the job costs.
    pub fn units(&self, job: &ImageJob) -> u32 {
        let key = job.price_key();
        self.units_for(key.quality, key.size, job.n().get())
    }

    /// Checks that every weight is a finite number, not negative.
    ///
    /// # Errors
    /// A sentence naming the first bad weight.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let named = [
            ("auto", self.auto),
            ("low", self.low),
            ("medium", self.medium),
            ("high", self.high),
            ("xhigh", self.xhigh),
            ("max", self.max),
            ("standard", self.standard),
            ("hd", self.hd),
            ("per_megapixel", self.per_megapixel),
        ];
        match named.iter().find(|(_, w)| !w.is_finite() || *w < 0.0) {
            Some((name, weight)) => Err(format!(
                "rate_limit.weights.{name} must be a finite number of at least 0, not {weight}"
            )),
            None => Ok(()),
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
/// request was admitted or not, and how many of the request's units were already taken (see
/// [`ArtGen::admit_early`](crate::ArtGen::admit_early)). Cheap to clone; clones share the slot.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(Arc<Mutex<SlotState>>);

#[derive(Debug, Default)]
struct SlotState {
    status: Option<RateLimitStatus>,
    prepaid: u32,
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

    /// Notes that `units` of the request's cost are taken, so admission takes only the rest.
    pub(crate) fn mark_prepaid(&self, units: u32) {
        self.lock().prepaid = units;
    }

    /// Units of the request's cost taken early; non-zero at most once.
    pub(crate) fn take_prepaid(&self) -> u32 {
        std::mem::take(&mut self.lock().prepaid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_weights_charge_a_plain_request_one_unit() {
        let w = RateWeights::default();
        let square = Some(Dimensions::new(1024, 1024));
        let small = Some(Dimensions::new(256, 256));
        let wide = Some(Dimensions::new(1536, 1024));

        assert_eq!(w.units_for(Quality::Low, square, 1), 1);
        assert_eq!(w.units_for(Quality::Medium, square, 1), 1);
        assert_eq!(w.units_for(Quality::Standard, small, 1), 1);
        assert_eq!(w.units_for(Quality::Auto, None, 1), 1);
        assert_eq!(w.units_for(Quality::Medium, wide, 1), 2, "1.5 rounds up");
        assert_eq!(w.units_for(Quality::High, wide, 1), 3);
        assert_eq!(w.units_for(Quality::High, wide, 4), 12);
        assert_eq!(w.units_for(Quality::Hd, square, 2), 4);
    }

    #[test]
    fn zero_weights_still_cost_one_unit_and_huge_ones_saturate() {
        let free = RateWeights {
            low: 0.0,
            ..RateWeights::default()
        };
        let dear = RateWeights {
            high: 1e30,
            ..RateWeights::default()
        };
        let square = Some(Dimensions::new(1024, 1024));

        assert_eq!(free.units_for(Quality::Low, square, 10), 1);
        assert_eq!(dear.units_for(Quality::High, square, 1), u32::MAX);
    }

    #[test]
    fn weights_parse_from_a_partial_table_and_bad_ones_are_named() {
        let w: RateWeights = toml::from_str("high = 5.0\nper_megapixel = 0").expect("parses");
        assert_eq!(w.high, 5.0);
        assert_eq!(w.low, 1.0);
        assert!(w.validate().is_ok());
        assert!(toml::from_str::<RateWeights>("ultra = 1.0").is_err());

        let negative = RateWeights {
            hd: -1.0,
            ..RateWeights::default()
        };
        let err = negative.validate().expect_err("negative");
        assert!(err.contains("rate_limit.weights.hd"), "{err}");
        let nan = RateWeights {
            per_megapixel: f64::NAN,
            ..RateWeights::default()
        };
        assert!(nan.validate().is_err());
    }
}
