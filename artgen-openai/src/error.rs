//! The crate's error type, and how each failure maps to the core's error codes under the
//! `ImageProvider::generate` contract.

use std::fmt;
use std::time::{Duration, SystemTime};

use artgen_core::{Error, ErrorCode};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::headers;
use crate::types::WireError;

/// Longest upstream refusal reason passed on to the caller, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// Everything that can go wrong talking to the upstream. Converts into [`artgen_core::Error`]
/// with the right code and retry advice, keeping itself as the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenAiError {
    /// The configuration cannot work.
    #[error("invalid OpenAI provider config: {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The request body could not be encoded.
    #[error("could not encode the request body")]
    Encode(#[source] serde_json::Error),
    /// No answer: connecting, sending or reading failed, or the deadline passed.
    #[error("the call to the upstream failed")]
    Transport(#[source] reqwest::Error),
    /// The upstream answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// A success answer that is not the expected JSON.
    #[error("the upstream's answer is not valid JSON")]
    Decode(#[source] serde_json::Error),
    /// An image whose `b64_json` is not valid base64.
    #[error("image {index} of the upstream's answer is not valid base64")]
    Base64 {
        /// Position of the image in `data`.
        index: usize,
        /// The decoding failure.
        #[source]
        source: base64::DecodeError,
    },
    /// The answer is larger than `max_response_bytes`.
    #[error("the upstream's answer exceeds {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A success answer without any image.
    #[error("the upstream's answer holds no images")]
    NoImages,
    /// An image given only as a URL, which ArtGen does not fetch.
    #[error("image {index} of the upstream's answer is a URL, not base64 data")]
    UrlOnly {
        /// Position of the image in `data`.
        index: usize,
    },
    /// An image with neither base64 data nor a URL.
    #[error("image {index} of the upstream's answer has no data")]
    EmptyImage {
        /// Position of the image in `data`.
        index: usize,
    },
}

/// An error answer of the upstream: its status, the parsed `error` object (when the body was
/// OpenAI's JSON) and the headers that steer retries. Kept as the cause of the core error, so
/// the upstream's own words reach the logs but not the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status.
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
        }
    }

    /// Whether `error.code` or `error.type` is `value`.
    fn says(&self, value: &str) -> bool {
        self.code.as_deref() == Some(value) || self.error_type.as_deref() == Some(value)
    }

    /// The core error this answer means; see `ImageProvider::generate`'s `# Errors`.
    fn classify(&self) -> Error {
        let status = self.status;
        let policy = self.says("moderation_blocked")
            || self.says("content_policy_violation")
            || self.says("image_generation_user_error");
        let error = if status == 400 && policy {
            Error::new(ErrorCode::ContentPolicyViolation, self.reason())
        } else if status == 404 || self.says("model_not_found") {
            let model = &self.model;
            let message = format!("model '{model}' is not available upstream (retired or unknown)");
            Error::new(ErrorCode::ModelUnavailable, message)
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
        write!(
            f,
            "upstream answered HTTP {} for model '{}'",
            self.status, self.model
        )?;
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

/// Maps an error answer (status, headers, body) to the core error, keeping it as the cause.
pub(crate) fn error_from_response(
    model: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    OpenAiError::Api(Box::new(ApiError::from_response(
        model, status, headers, body,
    )))
    .into()
}

impl From<OpenAiError> for Error {
    fn from(err: OpenAiError) -> Self {
        let error = match &err {
            OpenAiError::InvalidConfig { .. } | OpenAiError::Client(_) | OpenAiError::Encode(_) => {
                Error::new(ErrorCode::Internal, "internal error")
            }
            OpenAiError::Transport(cause) => transport(cause),
            OpenAiError::Api(api) => api.classify(),
            OpenAiError::TooLarge { limit } => Error::new(
                ErrorCode::UpstreamError,
                format!("the upstream's answer exceeded {limit} bytes"),
            ),
            OpenAiError::Decode(_)
            | OpenAiError::Base64 { .. }
            | OpenAiError::NoImages
            | OpenAiError::UrlOnly { .. }
            | OpenAiError::EmptyImage { .. } => Error::new(
                ErrorCode::UpstreamError,
                "the upstream sent an answer ArtGen cannot use",
            ),
        };
        error.with_source(err)
    }
}

/// A call that got no answer. Nothing was sent when connecting failed, so that is retryable;
/// after a timeout or a broken connection the upstream may have done (and billed) the work,
/// so those are not.
fn transport(cause: &reqwest::Error) -> Error {
    if cause.is_connect() {
        Error::new(
            ErrorCode::UpstreamError,
            "could not connect to the upstream",
        )
        .retryable(true)
    } else if cause.is_timeout() {
        Error::new(
            ErrorCode::UpstreamTimeout,
            "the upstream did not answer in time",
        )
    } else {
        Error::new(
            ErrorCode::UpstreamError,
            "the connection to the upstream failed during the call",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn repeats_only_plausible_parameter_names() {
        assert!(is_param_name("size"));
        assert!(is_param_name("image[0]"));
        assert!(!is_param_name("<script>"));
        assert!(!is_param_name(""));
    }
}
