//! The upstream's response headers that steer retries and tracing: `x-request-id`,
//! `x-should-retry`, `retry-after-ms` and `retry-after`, read the way the official SDKs read
//! them. Values that do not parse are ignored, never trusted.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Longest upstream request id kept (they are short; anything longer is not an id).
const MAX_REQUEST_ID_CHARS: usize = 128;

/// The upstream's `x-request-id`, when it is a short printable token.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    let id = text(headers, "x-request-id")?;
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    (printable && !id.is_empty() && id.len() <= MAX_REQUEST_ID_CHARS).then(|| id.to_owned())
}

/// The upstream's `x-should-retry: true|false`, which overrides the status rules.
pub(crate) fn should_retry(headers: &HeaderMap) -> Option<bool> {
    let value = text(headers, "x-should-retry")?;
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// When the upstream asked to be retried: `retry-after-ms` (milliseconds, float) first, then
/// `retry-after` (seconds as a float, or an HTTP-date measured from `now`).
/// Advice beyond a day is clamped to a day: the upstream is not trusted to park clients forever.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let advice = match text(headers, "retry-after-ms").and_then(parse_millis) {
        Some(after) => Some(after),
        None => text(headers, "retry-after").and_then(|value| parse_retry_after(value, now)),
    };
    advice.map(|d| d.min(MAX_ADVICE))
}

const MAX_ADVICE: Duration = Duration::from_secs(24 * 3600);

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// A finite, non-negative float.
fn non_negative(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

fn parse_millis(value: &str) -> Option<Duration> {
    Duration::try_from_secs_f64(non_negative(value)? / 1000.0).ok()
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Some(secs) = non_negative(value) {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                HeaderValue::from_str(value).expect("test header is valid"),
            );
        }
        map
    }

    fn now() -> SystemTime {
        httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("valid date")
    }

    #[test]
    fn reads_retry_after_as_whole_or_fractional_seconds() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")]), now()),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 0.5 ")]), now()),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn reads_retry_after_as_an_http_date_relative_to_now() {
        let later = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:40 GMT")]);
        let earlier = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:30 GMT")]);

        assert_eq!(retry_after(&later, now()), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&earlier, now()), Some(Duration::ZERO));
    }

    #[test]
    fn prefers_retry_after_ms_over_retry_after() {
        let both = headers(&[("retry-after-ms", "1500.5"), ("retry-after", "9")]);

        assert_eq!(
            retry_after(&both, now()),
            Some(Duration::from_micros(1_500_500))
        );
    }

    #[test]
    fn ignores_retry_advice_that_does_not_parse() {
        for bad in ["-1", "soon", "NaN", "inf", "1e400", ""] {
            let map = headers(&[("retry-after", bad), ("retry-after-ms", bad)]);
            assert_eq!(retry_after(&map, now()), None, "accepted {bad:?}");
        }
        let fallback = headers(&[("retry-after-ms", "later"), ("retry-after", "4")]);
        assert_eq!(retry_after(&fallback, now()), Some(Duration::from_secs(4)));
    }

    #[test]
    fn reads_should_retry_only_when_true_or_false() {
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "true")])),
            Some(true)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "FALSE")])),
            Some(false)
        );
        assert_eq!(should_retry(&headers(&[("x-should-retry", "maybe")])), None);
        assert_eq!(should_retry(&HeaderMap::new()), None);
    }

    #[test]
    fn keeps_only_short_printable_request_ids() {
        let ok = headers(&[("x-request-id", "req_abc123")]);
        let long = "r".repeat(MAX_REQUEST_ID_CHARS + 1);
        let too_long = headers(&[("x-request-id", long.as_str())]);
        let spaced = headers(&[("x-request-id", "req abc")]);

        assert_eq!(request_id(&ok).as_deref(), Some("req_abc123"));
        assert_eq!(request_id(&too_long), None);
        assert_eq!(request_id(&spaced), None);
    }

    #[test]
    fn absurd_advice_is_clamped_to_a_day() {
        let map = headers(&[("retry-after", "99999999999")]);
        assert_eq!(retry_after(&map, SystemTime::UNIX_EPOCH), Some(MAX_ADVICE));
    }

    proptest::proptest! {
        /// Whatever an upstream (or something in between) puts in these headers, parsing
        /// never panics and never yields a negative or absurd delay.
        #[test]
        fn arbitrary_retry_headers_never_panic(
            after in "[ -~]{0,40}",
            after_ms in "[ -~]{0,40}",
            should in "[ -~]{0,10}",
        ) {
            let map = headers(&[("retry-after", &after), ("retry-after-ms", &after_ms), ("x-should-retry", &should)]);
            let _ = should_retry(&map);
            if let Some(delay) = retry_after(&map, SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)) {
                proptest::prop_assert!(delay <= MAX_ADVICE);
            }
        }
    }
}
