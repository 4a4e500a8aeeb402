//! What the UI says about a refused request, as the `#error` toast (`role="alert"`, so screen
//! readers announce it): a moderation block with the policy's reason and a link to the usage
//! policy, a rate limit with when to retry, a budget with its limit and reset date. The page
//! handlers render it, and `/ui/stream` sends the same text as JSON for the script.

use artgen_core::domain::budget::rfc3339_utc;
use artgen_core::domain::{BudgetDimension, BudgetScope, Money, RequestId};
use artgen_core::{Error, ErrorCode};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// OpenAI's usage policies, linked from a moderation block.
pub const USAGE_POLICY: &str = "https://openai.com/policies/usage-policies";

/// A refusal as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    /// The answer's status.
    pub status: StatusCode,
    /// The sentence announced.
    pub message: String,
    /// A link that helps (`href`, text), e.g. the usage policy after a moderation block.
    pub link: Option<(String, String)>,
}

/// A UTC time as people read it: `2027-01-01 00:00 UTC`.
pub fn readable_utc(at_ms: i64) -> String {
    let stamp = rfc3339_utc(at_ms);
    let minutes = stamp.get(..16).unwrap_or(&stamp);
    format!("{} UTC", minutes.replace('T', " "))
}

/// The toast of a refused request.
pub fn of(err: &Error) -> Toast {
    let status = crate::error::status_code(err.kind());
    if matches!(
        err.code(),
        ErrorCode::ModerationBlocked | ErrorCode::ContentPolicyViolation
    ) {
        return Toast {
            status,
            message: format!(
                "The content policy blocked this request: {} Your prompt is kept so you can \
                 revise it.",
                sentence(err.message())
            ),
            link: Some((
                USAGE_POLICY.to_owned(),
                "Read the usage policy, then revise the prompt.".to_owned(),
            )),
        };
    }
    if let Some(refusal) = err.budget_refusal() {
        let whose = match refusal.scope {
            BudgetScope::User(_) => "Your",
            BudgetScope::Org(_) => "Your organisation's",
        };
        let (limit, committed, requested) = match refusal.dimension {
            BudgetDimension::Usd => (
                dollars(Money::from_micros(refusal.limit)),
                dollars(Money::from_micros(refusal.committed)),
                dollars(Money::from_micros(refusal.requested)),
            ),
            BudgetDimension::Tokens => (
                format!("{} tokens", refusal.limit),
                format!("{} tokens", refusal.committed),
                format!("{} tokens", refusal.requested),
            ),
        };
        return Toast {
            status,
            message: format!(
                "{whose} monthly budget of {limit} has no room for this request: {committed} \
                 is spent or held and this request is estimated at {requested}. The budget \
                 resets on {}.",
                readable_utc(refusal.resets_at_ms)
            ),
            link: None,
        };
    }
    let message = match err.retry_after() {
        Some(after) => format!(
            "{} Try again in {} s.",
            sentence(err.message()),
            crate::error::retry_after_secs(after)
        ),
        None => sentence(err.message()),
    };
    // 5xx answers never carry internals.
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "Something went wrong on our side; try again shortly.".to_owned()
    } else {
        message
    };
    Toast {
        status,
        message,
        link: None,
    }
}

/// An amount as people read it: whole cents with two decimals (`$5.00`), smaller amounts
/// with as many as they need (`$0.0125`).
pub fn dollars(amount: Money) -> String {
    let micros = amount.micros();
    let whole = micros / 1_000_000;
    let fraction = format!("{:06}", micros % 1_000_000);
    let trimmed = fraction.trim_end_matches('0');
    let digits = if trimmed.len() < 2 {
        &fraction[..2]
    } else {
        trimmed
    };
    format!("${whole}.{digits}")
}

/// `text` as a sentence: a capital first letter and a closing full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The toast as the script's JSON: `{"error": {message, code, param, link?}}`, with the
/// refusal's status and, where the request may be retried, `Retry-After`.
pub fn json(err: &Error, request_id: &RequestId) -> Response {
    let toast = of(err);
    let link = toast
        .link
        .as_ref()
        .map(|(href, text)| serde_json::json!({ "href": href, "text": text }));
    let body = serde_json::json!({
        "error": {
            "message": toast.message,
            "code": err.code().as_str(),
            "param": err.param(),
            "link": link,
            "request_id": request_id.as_str(),
        }
    });
    let mut response = (toast.status, axum::Json(body)).into_response();
    if let Some(after) = err.retry_after() {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::retry_after_secs(after)),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_rate_limit_says_when_to_retry_and_a_block_links_the_policy() {
        let limited = Error::new(
            ErrorCode::UpstreamRateLimited,
            "the upstream rate limit was reached",
        )
        .with_retry_after(Duration::from_millis(41_200));
        let blocked = Error::new(ErrorCode::ModerationBlocked, "violence");

        let limited = of(&limited);
        let blocked = of(&blocked);

        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            limited.message.ends_with("Try again in 42 s."),
            "{}",
            limited.message
        );
        assert!(blocked.message.contains("Violence."), "{}", blocked.message);
        assert_eq!(blocked.link.map(|l| l.0).as_deref(), Some(USAGE_POLICY));
    }

    #[test]
    fn amounts_show_cents_or_the_digits_they_need() {
        assert_eq!(dollars(Money::from_micros(5_000_000)), "$5.00");
        assert_eq!(dollars(Money::from_micros(12_500)), "$0.0125");
        assert_eq!(dollars(Money::from_micros(1_000)), "$0.001");
    }

    #[test]
    fn a_reset_time_reads_as_a_utc_minute() {
        assert_eq!(readable_utc(1_798_761_600_000), "2027-01-01 00:00 UTC");
    }
}
