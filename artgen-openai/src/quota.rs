//! The upstream's rate-limit headers (`x-ratelimit-*`), read from every answer, success or
//! error, and handed to an optional [`QuotaObserver`] (e.g. to export them as metrics or to
//! slow down before the upstream refuses).

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;

/// What the upstream said about its rate limits in one answer. Every value is optional: the
/// upstream may omit any header (image endpoints may send no token headers), and a value that
/// does not parse is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaReading {
    /// Name of the provider that received the answer ([`OpenAiConfig::name`]).
    ///
    /// [`OpenAiConfig::name`]: crate::OpenAiConfig::name
    pub provider: String,
    /// The ArtGen model id of the call.
    pub model: String,
    /// `x-ratelimit-remaining-requests`: requests left in the window.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-remaining-tokens`: tokens left in the window.
    pub remaining_tokens: Option<u64>,
    /// `x-ratelimit-limit-requests`: the request cap of the window.
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-limit-tokens`: the token cap of the window.
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-reset-requests` (e.g. `1s`): time until the request budget is full again.
    pub reset_requests: Option<Duration>,
    /// `x-ratelimit-reset-tokens` (e.g. `6m0s`): time until the token budget is full again.
    pub reset_tokens: Option<Duration>,
}

impl QuotaReading {
    /// Reads the `x-ratelimit-*` headers; `None` when the answer carries none of them.
    pub(crate) fn from_headers(provider: &str, model: &str, headers: &HeaderMap) -> Option<Self> {
        let count = |name: &str| text(headers, name).and_then(|v| v.parse::<u64>().ok());
        let reading = Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            remaining_requests: count("x-ratelimit-remaining-requests"),
            remaining_tokens: count("x-ratelimit-remaining-tokens"),
            limit_requests: count("x-ratelimit-limit-requests"),
            limit_tokens: count("x-ratelimit-limit-tokens"),
            reset_requests: text(headers, "x-ratelimit-reset-requests").and_then(parse_go_duration),
            reset_tokens: text(headers, "x-ratelimit-reset-tokens").and_then(parse_go_duration),
        };
        (!reading.is_empty()).then_some(reading)
    }

    /// Whether no value was read.
    pub fn is_empty(&self) -> bool {
        self.remaining_requests.is_none()
            && self.remaining_tokens.is_none()
            && self.limit_requests.is_none()
            && self.limit_tokens.is_none()
            && self.reset_requests.is_none()
            && self.reset_tokens.is_none()
    }
}

/// Receives the rate-limit reading of every upstream answer that carries one.
///
/// Called on the request's task, right after the answer's headers arrive: implementations
/// must be quick and must not block (store the values, update a gauge).
pub trait QuotaObserver: Send + Sync {
    /// One answer's reading.
    fn observe(&self, reading: &QuotaReading);
}

/// The observer a provider was given, printable for the provider's `Debug`.
#[derive(Clone, Default)]
pub(crate) struct Observer(pub(crate) Option<std::sync::Arc<dyn QuotaObserver>>);

impl Observer {
    /// Reports the answer's headers, if it has rate-limit headers and an observer is set.
    pub(crate) fn report(&self, provider: &str, model: &str, headers: &HeaderMap) {
        let Some(observer) = &self.0 else { return };
        if let Some(reading) = QuotaReading::from_headers(provider, model, headers) {
            observer.observe(&reading);
        }
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// Parses a Go duration as OpenAI sends it: a sequence of decimal numbers, each with a unit
/// of `h`, `m`, `s`, `ms`, `us` (or `µs`), `ns`, e.g. `1s`, `6m0s`, `250ms`, `1h2m3.5s`.
/// A bare `0` is zero. Negative, overflowing or malformed values give `None`.
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = value;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" | "μs" => 1_000,
            "ns" => 1,
            _ => return None,
        };
        total = total.checked_add(nanos(number, nanos_per_unit)?)?;
        rest = tail;
    }
    Some(total)
}

/// `number` (decimal, with an optional fraction) times `unit` nanoseconds, exactly.
fn nanos(number: &str, unit: u128) -> Option<Duration> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = |s: &str| s.is_empty() || s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut total = whole.checked_mul(unit)?;
    // Fraction digits beyond a nanosecond's precision are dropped.
    let mut scale = unit;
    for digit in fraction.bytes().take(20) {
        scale /= 10;
        total = total.checked_add(u128::from(digit - b'0') * scale)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    let subsec = u32::try_from(total % 1_000_000_000).ok()?;
    Some(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn parses_the_durations_openai_sends() {
        let cases = [
            ("1s", Duration::from_secs(1)),
            ("6m0s", Duration::from_secs(360)),
            ("250ms", Duration::from_millis(250)),
            ("1h2m3.5s", Duration::from_millis(3_723_500)),
            ("7.66s", Duration::from_millis(7660)),
            ("20us", Duration::from_micros(20)),
            ("5ns", Duration::from_nanos(5)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn refuses_malformed_durations() {
        for bad in [
            "", "s", "1", "-1s", "1x", "1.2.3s", "ms5", "1e3s", ".s", "1s 2s",
        ] {
            assert_eq!(parse_go_duration(bad), None, "accepted {bad:?}");
        }
    }

    #[test]
    fn reads_the_headers_and_ignores_values_that_do_not_parse() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-remaining-tokens", "lots"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }

        let reading = QuotaReading::from_headers("openai", "gpt-image-1", &headers).expect("some");

        assert_eq!(reading.limit_requests, Some(60));
        assert_eq!(reading.remaining_requests, Some(59));
        assert_eq!(reading.remaining_tokens, None);
        assert_eq!(reading.reset_tokens, Some(Duration::from_secs(360)));
        assert_eq!(reading.reset_requests, None);
        assert_eq!(
            QuotaReading::from_headers("openai", "m", &HeaderMap::new()),
            None
        );
    }
}
