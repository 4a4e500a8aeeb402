//! The budget policy the settings ask for, with calendar months in the configured time zone.

use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::{
    BudgetCalendar, BudgetLimits, BudgetPeriod, BudgetPolicy, Money, UtcMonths,
};
use artgen_core::ports::{Clock as _, Ledger, SystemClock};
use artgen_core::Error;

use crate::settings::BudgetSettings;

/// Calendar months in a named time zone.
#[derive(Debug, Clone)]
pub struct ZonedMonths {
    zone: jiff::tz::TimeZone,
}

impl ZonedMonths {
    /// Months in the IANA time zone `name`.
    ///
    /// # Errors
    /// `invalid_value` (`budget.time_zone`) for a zone the time zone database does not know.
    pub fn new(name: &str) -> Result<Self, Error> {
        let zone = jiff::tz::TimeZone::get(name).map_err(|err| {
            Error::invalid_param(
                "budget.time_zone",
                format!("unknown time zone {name:?}: {err}"),
            )
        })?;
        Ok(Self { zone })
    }

    fn month_of(&self, now_ms: i64) -> Option<BudgetPeriod> {
        let now = jiff::Timestamp::from_millisecond(now_ms).ok()?;
        let start = now
            .to_zoned(self.zone.clone())
            .first_of_month()
            .ok()?
            .start_of_day()
            .ok()?;
        let end = start.checked_add(jiff::Span::new().months(1)).ok()?;
        Some(BudgetPeriod {
            start_ms: start.timestamp().as_millisecond(),
            end_ms: end.start_of_day().ok()?.timestamp().as_millisecond(),
        })
    }
}

impl BudgetCalendar for ZonedMonths {
    fn period_at(&self, now_ms: i64) -> BudgetPeriod {
        // Out of jiff's range (years beyond ±9999): the UTC month, computed without it.
        self.month_of(now_ms)
            .unwrap_or_else(|| BudgetPeriod::utc_month(now_ms))
    }
}

/// The calendar of `name`: UTC months without any time zone data for `UTC` (or an empty
/// name), else [`ZonedMonths`].
///
/// # Errors
/// As [`ZonedMonths::new`].
pub fn calendar(name: &str) -> Result<Arc<dyn BudgetCalendar>, Error> {
    let name = name.trim();
    if name.is_empty() || name.eq_ignore_ascii_case("utc") || name == "Etc/UTC" {
        return Ok(Arc::new(UtcMonths));
    }
    Ok(Arc::new(ZonedMonths::new(name)?))
}

fn usd(value: Option<f64>, param: &str) -> Result<Option<Money>, Error> {
    value
        .map(|usd| {
            Money::from_usd(usd).ok_or_else(|| {
                Error::invalid_param(
                    param,
                    format!("{param} must be a non-negative amount of USD"),
                )
            })
        })
        .transpose()
}

/// The budget policy of `settings`.
///
/// # Errors
/// `invalid_value` naming the setting: a negative amount, a threshold outside (0, 1], an
/// unknown time zone, a zero lease.
pub fn policy(settings: &BudgetSettings) -> Result<BudgetPolicy, Error> {
    let threshold = settings.soft_threshold;
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(Error::invalid_param(
            "budget.soft_threshold",
            "budget.soft_threshold must be a fraction in (0, 1], e.g. 0.8",
        ));
    }
    if settings.lease_secs == 0 {
        return Err(Error::invalid_param(
            "budget.lease_secs",
            "budget.lease_secs must be at least 1",
        ));
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked within (0, 1], so the percent is 1..=100"
    )]
    let percent = ((threshold * 100.0).round() as u8).max(1);
    Ok(BudgetPolicy {
        user_defaults: BudgetLimits {
            usd: usd(settings.usd_per_month, "budget.usd_per_month")?,
            tokens: settings.tokens_per_month,
        },
        org_defaults: BudgetLimits {
            usd: usd(settings.org_usd_per_month, "budget.org_usd_per_month")?,
            tokens: settings.org_tokens_per_month,
        },
        soft_threshold_percent: percent,
        downgrade_quality: settings.downgrade_quality,
        lease_ms: i64::try_from(settings.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        calendar: calendar(&settings.time_zone)?,
    })
}

/// The budget webhook the settings ask for, started; `None` when no URL is set.
///
/// # Errors
/// `invalid_value` (`budget.webhook_secret`) when a URL is set without a secret, or
/// (`budget.webhook_url`) when it is not an `http(s)://` URL or no client can be built.
pub fn webhook(settings: &BudgetSettings) -> Result<Option<crate::webhook::BudgetWebhook>, Error> {
    let Some(url) = settings
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::invalid_param(
            "budget.webhook_url",
            "budget.webhook_url must be an http:// or https:// URL",
        ));
    }
    let Some(secret) = settings.webhook_secret.clone() else {
        return Err(Error::invalid_param(
            "budget.webhook_secret",
            "budget.webhook_url needs budget.webhook_secret to sign its alerts",
        ));
    };
    crate::webhook::BudgetWebhook::start(url.to_owned(), secret)
        .map(Some)
        .map_err(|err| {
            Error::invalid_param("budget.webhook_url", "no HTTP client").with_source(err)
        })
}

/// The background task that sweeps expired reservations; aborted when dropped.
#[derive(Debug)]
pub struct Sweeper(tokio::task::AbortHandle);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts sweeping `ledger`'s expired reservations every `every` (at least a second).
pub fn start_sweeper(ledger: Arc<dyn Ledger>, every: Duration) -> Sweeper {
    let every = every.max(Duration::from_secs(1));
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match ledger.sweep(SystemClock.now_ms()).await {
                Ok(0) => {}
                Ok(swept) => tracing::info!(
                    swept,
                    "budget reservations whose requests never finished were released"
                ),
                Err(err) => tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    "sweeping expired budget reservations failed; the next tick tries again"
                ),
            }
        }
    });
    Sweeper(task.abort_handle())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_in_a_time_zone_start_at_its_local_midnight() {
        // 2026-12-31T20:00Z is already January in Bangkok (UTC+7).
        let bangkok = ZonedMonths::new("Asia/Bangkok").expect("a known zone");
        let period = bangkok.period_at(1_798_747_200_000);
        assert_eq!(period.start_ms, 1_798_736_400_000, "2027-01-01T00:00+07");
        assert_eq!(period.end_ms, 1_801_414_800_000, "2027-02-01T00:00+07");
    }

    #[test]
    fn utc_needs_no_time_zone_data() {
        let utc = calendar("UTC").expect("always known");
        assert_eq!(
            utc.period_at(1_798_747_200_000),
            BudgetPeriod::utc_month(1_798_747_200_000)
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_the_setting() {
        let bad = |settings: BudgetSettings| policy(&settings).expect_err("refused");
        let zone = bad(BudgetSettings {
            time_zone: "Mars/Olympus".into(),
            ..BudgetSettings::default()
        });
        let threshold = bad(BudgetSettings {
            soft_threshold: 1.5,
            ..BudgetSettings::default()
        });
        let negative = bad(BudgetSettings {
            usd_per_month: Some(-1.0),
            ..BudgetSettings::default()
        });
        assert_eq!(zone.param(), Some("budget.time_zone"));
        assert_eq!(threshold.param(), Some("budget.soft_threshold"));
        assert_eq!(negative.param(), Some("budget.usd_per_month"));
    }

    #[test]
    fn defaults_are_unlimited_at_eighty_percent() {
        let policy = policy(&BudgetSettings::default()).expect("valid");
        assert!(policy.user_defaults.is_unlimited() && policy.org_defaults.is_unlimited());
        assert_eq!(policy.soft_threshold_percent, 80);
        assert!(!policy.downgrade_quality);
    }
}
