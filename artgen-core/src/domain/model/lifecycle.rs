//! When a model retires, and what that means for a request today.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A calendar date (UTC), as OpenAI states retirement dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// A date, if it exists on the proleptic Gregorian calendar.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days_in_month)
            .contains(&day)
            .then_some(Self { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = text.get(range)?;
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let year = i32::try_from(digits(0..4)?).ok()?;
        let month = u8::try_from(digits(5..7)?).ok()?;
        let day = u8::try_from(digits(8..10)?).ok()?;
        Self::new(year, month, day)
    }

    /// The UTC date of a Unix time in seconds.
    pub fn from_unix_secs(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("expected a date YYYY-MM-DD"))
    }
}

/// How many days before its retirement a model starts to warn.
pub const RETIREMENT_WARNING_DAYS: i64 = 30;

/// A model's lifecycle as OpenAI announced it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// The day OpenAI shut (or shuts) the model down.
    pub retired_on: Option<Date>,
    /// The models OpenAI names as replacements.
    pub replacement: Vec<String>,
}

/// Where a model stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleState {
    /// No retirement within [`RETIREMENT_WARNING_DAYS`].
    Active,
    /// Retires on the date, within [`RETIREMENT_WARNING_DAYS`] days.
    Retiring(Date),
    /// Retired on the date.
    Retired(Date),
}

impl Lifecycle {
    /// The state on `today`.
    pub fn state(&self, today: Date) -> LifecycleState {
        match self.retired_on {
            Some(date) if date <= today => LifecycleState::Retired(date),
            Some(date) if today.days_until(date) <= RETIREMENT_WARNING_DAYS => {
                LifecycleState::Retiring(date)
            }
            _ => LifecycleState::Active,
        }
    }

    /// `"; use a or b"`, or nothing when no replacement is named.
    pub fn replacement_hint(&self) -> String {
        match self.replacement.as_slice() {
            [] => String::new(),
            [one] => format!("; use {one}"),
            many => format!("; use {}", many.join(" or ")),
        }
    }
}

impl LifecycleState {
    /// The state's name, for listings.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retiring(_) => "retiring",
            Self::Retired(_) => "retired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text).expect("a valid date")
    }

    #[test]
    fn parses_only_real_dates() {
        assert_eq!(date("2026-10-23").to_string(), "2026-10-23");
        assert_eq!(Date::parse("2026-02-29"), None);
        assert!(Date::parse("2024-02-29").is_some());
        assert_eq!(Date::parse("2026-13-01"), None);
        assert_eq!(Date::parse("2026-1-01"), None);
        assert_eq!(Date::parse("+026-01-01"), None);
    }

    #[test]
    fn unix_days_round_trip_through_dates() {
        for secs in [0_i64, 951_782_400, 1_798_761_599, 1_800_000_000, -86_400] {
            let d = Date::from_unix_secs(secs);
            assert_eq!(d.days_since_epoch(), secs.div_euclid(86_400), "{d}");
        }
        assert_eq!(
            Date::from_unix_secs(1_792_713_600).to_string(),
            "2026-10-23"
        );
    }

    #[test]
    fn a_model_warns_for_thirty_days_then_retires() {
        let lifecycle = Lifecycle {
            retired_on: Some(date("2026-10-23")),
            replacement: vec!["gpt-image-2.5-flare".into()],
        };
        assert_eq!(lifecycle.state(date("2026-09-22")), LifecycleState::Active);
        assert_eq!(
            lifecycle.state(date("2026-09-23")),
            LifecycleState::Retiring(date("2026-10-23"))
        );
        assert_eq!(
            lifecycle.state(date("2026-10-23")),
            LifecycleState::Retired(date("2026-10-23"))
        );
        assert_eq!(lifecycle.replacement_hint(), "; use gpt-image-2.5-flare");
    }
}
