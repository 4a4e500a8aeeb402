//! The period of a usage or audit query: `from` and `to` as RFC 3339 instants or `YYYY-MM-DD`
//! days (UTC), the current calendar month (UTC) by default.

use artgen_core::domain::Date;
use artgen_core::Error;

const DAY_MS: i64 = 86_400_000;

/// The first instant of `date`'s day, Unix ms.
fn day_start(date: Date) -> i64 {
    date.days_since_epoch() * DAY_MS
}

/// Reads `text` as an instant (Unix ms). A day is its first instant, or with `end` the first
/// instant of the next day (so `to=2026-12-31` includes that day).
///
/// # Errors
/// `invalid_value` naming `param`.
pub(super) fn instant(param: &str, text: &str, end: bool) -> Result<i64, Error> {
    let refuse = || {
        Error::invalid_param(
            param,
            format!(
                "{param} must be an RFC 3339 time (2026-12-01T00:00:00Z) or a day (2026-12-01)"
            ),
        )
    };
    if text.len() == 10 {
        let date = Date::parse(text).ok_or_else(refuse)?;
        return Ok(day_start(date) + if end { DAY_MS } else { 0 });
    }
    rfc3339(text).ok_or_else(refuse)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as Unix ms (fractions beyond ms are dropped).
fn rfc3339(text: &str) -> Option<i64> {
    let date = Date::parse(text.get(..10)?)?;
    let rest = text.get(10..)?;
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .filter(|r| r.len() >= 9)?;
    let number = |s: &str| -> Option<i64> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (hour, minute, second) = (
        number(rest.get(0..2)?)?,
        number(rest.get(3..5)?)?,
        number(rest.get(6..8)?)?,
    );
    if rest.get(2..3)? != ":" || rest.get(5..6)? != ":" || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = rest.get(8..)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.get(3..4)? != ":" {
                return None;
            }
            let (h, m) = (number(rest.get(1..3)?)?, number(rest.get(4..6)?)?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    let seconds = hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Some(day_start(date) + seconds * 1000 + millis)
}

/// The calendar month (UTC) holding `now_ms`: its first instant and the next month's.
pub(crate) fn month_of(now_ms: i64) -> (i64, i64) {
    let today = Date::from_unix_secs(now_ms.div_euclid(1000)).to_string();
    let year: i32 = today.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1970);
    let month: u8 = today.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let start = Date::new(year, month, 1).map_or(0, day_start);
    let end = Date::new(next_year, next_month, 1).map_or(start + 31 * DAY_MS, day_start);
    (start, end)
}

/// The period `from`..`to` names: each defaults to the current month's bounds.
///
/// # Errors
/// `invalid_value` naming `from` or `to` for a malformed one, or `to` when it is not after
/// `from`.
pub(crate) fn period(
    from: Option<&str>,
    to: Option<&str>,
    now_ms: i64,
) -> Result<(i64, i64), Error> {
    let (month_start, month_end) = month_of(now_ms);
    let from_ms = from.map_or(Ok(month_start), |t| instant("from", t, false))?;
    let to_ms = to.map_or(Ok(month_end), |t| instant("to", t, true))?;
    if to_ms <= from_ms {
        return Err(Error::invalid_param("to", "to must be after from"));
    }
    Ok((from_ms, to_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01T00:00:00Z, Unix ms.
    const DEC_1: i64 = 1_796_083_200_000;

    #[test]
    fn days_and_rfc3339_times_read_as_utc_instants() {
        assert_eq!(instant("from", "2026-12-01", false).expect("day"), DEC_1);
        assert_eq!(
            instant("to", "2026-12-01", true).expect("day"),
            DEC_1 + DAY_MS
        );
        assert_eq!(
            instant("from", "2026-12-01T00:00:00Z", false).expect("time"),
            DEC_1
        );
        assert_eq!(
            instant("from", "2026-12-01T07:00:00.5+07:00", false).expect("offset"),
            DEC_1 + 500
        );
        assert_eq!(
            instant("from", "2026-11-30T23:59:59-00:30", false).expect("offset"),
            DEC_1 + 29 * 60_000 + 59_000
        );
    }

    #[test]
    fn malformed_times_name_their_param() {
        for text in [
            "",
            "2026-13-01",
            "2026-12-01T25:00:00Z",
            "2026-12-01T00:00:00",
            "2026-12-01T00:00:00+7",
            "yesterday",
            "2026-12-01T00:00:00.Z",
        ] {
            let err = instant("from", text, false).expect_err(text);
            assert_eq!(err.param(), Some("from"), "{text}");
        }
    }

    #[test]
    fn the_default_period_is_the_current_utc_month() {
        let (start, end) = month_of(DEC_1 + 15 * DAY_MS + 3_600_000);
        assert_eq!(start, DEC_1);
        assert_eq!(end, DEC_1 + 31 * DAY_MS);
        let err = period(Some("2026-12-02"), Some("2026-12-01"), DEC_1).expect_err("backwards");
        assert_eq!(err.param(), Some("to"));
    }
}
