//! [`ApiError`]: an error the upstream reported (an error status, or an error event in a
//! stream), and the core error it means under the `ImageProvider::run` contract.

use std::fmt;
use std::time::{Duration, SystemTime};

use artgen_core::{Error, ErrorCode};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::headers;
use crate::types::WireError;

/// Longest upstream refusal reason passed on to the caller, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// An error answer of the upstream: its status, the parsed `error` object (when the body was
/// OpenAI's JSON) and the headers that steer retries. Kept as the cause of the core error, so
/// the upstream's own words reach the logs but not the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status (for an error event of a stream: the stream's own status, 200).
    pub status: u16,
    /// The ArtGen model id the failed request named.
    pub model: String,
    /// `error.message`.
    pub message: Option<String>,
    /// `error.type`.
    pub error_type: Option<String>,
    /// `error.code`.
    pub code: Option<String>,
    /// `error.param`.
    pub param: Option<String>,
    /// The `x-request-id` header.
    pub request_id: Option<String>,
    /// From `retry-after-ms` or `retry-after`.
    pub retry_after: Option<Duration>,
    /// From `x-should-retry`.
    pub should_retry: Option<bool>,
    /// Whether the error arrived as an event of a streamed answer, after the stream began.
    pub in_stream: bool,
}

impl ApiError {
    /// Reads an error answer. A body that is not OpenAI's error JSON (a proxy's HTML page, a
    /// truncated body) leaves the `error` fields empty.
    pub(crate) fn from_response(
        model: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let wire = WireError::parse(body);
        Self {
            status: status.as_u16(),
            model: model.to_owned(),
            message: wire.message,
            error_type: wire.error_type,
            code: wire.code,
            param: wire.param,
            request_id: headers::request_id(headers),
            retry_after: headers::retry_after(headers, SystemTime::now()),
            should_retry: headers::should_retry(headers),
            in_stream: false,
        }
    }

    /// An error event of a stream that began with HTTP 200.
    pub(crate) fn from_event(model: &str, wire: WireError, request_id: Option<String>) -> Self {
        Self {
            status: StatusCode::OK.as_u16(),
            model: model.to_owned(),
            message: wire.message,
            error_type: wire.error_type,
            code: wire.code,
            param: wire.param,
            request_id,
            retry_after: None,
            should_retry: None,
            in_stream: true,
        }
    }

    /// Whether `error.code` or `error.type` is `value`.
    fn says(&self, value: &str) -> bool {
        self.code.as_deref() == Some(value) || self.error_type.as_deref() == Some(value)
    }

    /// Whether the upstream's safety system refused.
    fn is_policy(&self) -> bool {
        self.says("moderation_blocked")
            || self.says("content_policy_violation")
            || self.says("image_generation_user_error")
    }

    /// The safety refusal under the upstream's own code: `content_policy_violation` where it
    /// said so (DALL·E), else `moderation_blocked` (GPT image models).
    fn policy(&self) -> Error {
        let code = if self.says("content_policy_violation") {
            ErrorCode::ContentPolicyViolation
        } else {
            ErrorCode::ModerationBlocked
        };
        Error::new(code, self.reason())
    }

    /// The core error this answer means; see `ImageProvider::run`'s `# Errors`.
    pub(crate) fn classify(&self) -> Error {
        if self.in_stream {
            return self.classify_event();
        }
        let status = self.status;
        let error = if status == 400 && self.is_policy() {
            self.policy()
        } else if status == 404 || self.says("model_not_found") {
            self.unavailable()
        } else if status == 401 || status == 403 {
            let message = "the upstream refused the gateway's credentials; \
                           an operator must fix the gateway's upstream API key";
            Error::new(ErrorCode::UpstreamAuth, message)
        } else if status == 429 && self.says("insufficient_quota") {
            let message = "the gateway's upstream quota is exhausted";
            Error::new(ErrorCode::UpstreamRateLimited, message)
        } else if status == 429 {
            let message = "the upstream rate limit was reached; try again later";
            Error::new(ErrorCode::UpstreamRateLimited, message).retryable(true)
        } else if status == 408 || status == 409 || status >= 500 {
            let message = format!("the upstream failed (HTTP {status})");
            Error::new(ErrorCode::UpstreamError, message).retryable(true)
        } else if (400..500).contains(&status) {
            self.rejected()
        } else {
            let message = format!("the upstream answered with unexpected HTTP status {status}");
            Error::new(ErrorCode::UpstreamError, message)
        };
        let error = match self.should_retry {
            Some(retry) => error.retryable(retry),
            None => error,
        };
        match self.retry_after {
            Some(after) if error.is_retryable() => error.with_retry_after(after),
            _ => error,
        }
    }

    /// An error event: the same codes by `error.code`/`error.type`, never retryable (events
    /// were already delivered, and the upstream may have billed the work).
    fn classify_event(&self) -> Error {
        if self.is_policy() {
            self.policy()
        } else if self.says("model_not_found") {
            self.unavailable()
        } else if self.says("rate_limit_exceeded") || self.says("insufficient_quota") {
            let message = "the upstream rate limit was reached during the stream";
            Error::new(ErrorCode::UpstreamRateLimited, message)
        } else {
            Error::new(
                ErrorCode::UpstreamError,
                "the upstream failed during the stream",
            )
        }
    }

    fn unavailable(&self) -> Error {
        let model = &self.model;
        let message = format!("model '{model}' is not available upstream (retired or unknown)");
        Error::new(ErrorCode::ModelNotFound, message)
    }

    /// The upstream's refusal reason, for content-policy errors only.
    fn reason(&self) -> String {
        match self.message.as_deref().map(str::trim) {
            Some(message) if !message.is_empty() => {
                message.chars().take(MAX_REASON_CHARS).collect()
            }
            _ => "the upstream's safety system rejected the request".to_owned(),
        }
    }

    /// Any other 4xx: a generic message, naming the parameter the upstream blamed.
    fn rejected(&self) -> Error {
        let status = self.status;
        let param = self.param.as_deref().filter(|p| is_param_name(p));
        match param {
            Some(param) => Error::new(
                ErrorCode::UpstreamError,
                format!("the upstream rejected the request (HTTP {status}, parameter '{param}')"),
            )
            .with_param(param),
            None => Error::new(
                ErrorCode::UpstreamError,
                format!("the upstream rejected the request (HTTP {status})"),
            ),
        }
    }
}

/// A plausible parameter name (`size`, `image[0]`), safe to repeat to the caller.
fn is_param_name(param: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']');
    !param.is_empty() && param.len() <= 64 && param.chars().all(allowed)
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.in_stream {
            "an error event in a stream"
        } else {
            "HTTP"
        };
        write!(f, "upstream answered {kind}")?;
        if !self.in_stream {
            write!(f, " {}", self.status)?;
        }
        write!(f, " for model '{}'", self.model)?;
        let fields = [
            ("type", &self.error_type),
            ("code", &self.code),
            ("param", &self.param),
            ("request id", &self.request_id),
        ];
        for (label, value) in fields {
            if let Some(value) = value {
                write!(f, ", {label} {value}")?;
            }
        }
        match &self.message {
            Some(message) => write!(f, ": {message}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OpenAiError;

    fn api(status: u16) -> ApiError {
        ApiError {
            status,
            model: "gpt-image-1".into(),
            message: Some("Incorrect API key provided: sk-abc***xyz".into()),
            error_type: None,
            code: None,
            param: None,
            request_id: Some("req_1".into()),
            retry_after: Some(Duration::from_secs(3)),
            should_retry: None,
            in_stream: false,
        }
    }

    #[test]
    fn the_cause_keeps_the_upstream_details_for_the_logs() {
        let error: Error = OpenAiError::Api(Box::new(api(401))).into();

        let cause = std::error::Error::source(&error).expect("cause kept");

        assert_eq!(error.code(), ErrorCode::UpstreamAuth);
        assert!(!error.message().contains("sk-abc"));
        assert!(cause.to_string().contains("request id req_1"));
    }

    #[test]
    fn retry_advice_is_attached_only_to_retryable_errors() {
        let forbidden = api(403).classify();
        let unavailable = api(503).classify();

        assert_eq!(forbidden.retry_after(), None);
        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn error_events_map_by_code_and_are_never_retried() {
        let event = |code: &str| {
            let wire = WireError {
                code: Some(code.into()),
                message: Some("why".into()),
                ..WireError::default()
            };
            ApiError::from_event("gpt-image-1", wire, None).classify()
        };

        assert_eq!(
            event("moderation_blocked").code(),
            ErrorCode::ModerationBlocked
        );
        assert_eq!(
            event("content_policy_violation").code(),
            ErrorCode::ContentPolicyViolation
        );
        assert_eq!(event("moderation_blocked").message(), "why");
        assert_eq!(
            event("rate_limit_exceeded").code(),
            ErrorCode::UpstreamRateLimited
        );
        assert_eq!(event("server_error").code(), ErrorCode::UpstreamError);
        assert!(!event("server_error").is_retryable());
    }

    #[test]
    fn repeats_only_plausible_parameter_names() {
        assert!(is_param_name("size"));
        assert!(is_param_name("image[0]"));
        assert!(!is_param_name("<script>"));
        assert!(!is_param_name(""));
    }
}
