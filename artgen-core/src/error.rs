//! The one error type of the core, with stable codes and a transport-free kind.

use std::fmt;
use std::time::Duration;

/// A boxed error kept as the cause of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, independent of any transport. Only the HTTP adapter turns a kind into a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller sent something invalid.
    InvalidInput,
    /// No valid credential.
    Unauthenticated,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The thing does not exist (or is not the caller's).
    NotFound,
    /// The thing exists but does not take this operation.
    MethodNotAllowed,
    /// The caller exceeded a rate limit.
    RateLimited,
    /// The caller exceeded a budget or quota.
    QuotaExceeded,
    /// The request body or a part of it is too large.
    PayloadTooLarge,
    /// An upload is not of a supported media type.
    UnsupportedMedia,
    /// The request conflicts with another one.
    Conflict,
    /// The upstream provider failed or answered something unusable.
    Upstream,
    /// The upstream provider did not answer in time.
    UpstreamTimeout,
    /// A dependency is unavailable or overloaded; try again later.
    Unavailable,
    /// The caller went away before the answer was complete.
    Cancelled,
    /// A bug or an unexpected failure inside ArtGen.
    Internal,
}

/// Stable, documented error codes. Each maps to exactly one [`ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Bad parameter or malformed request; `param` names the culprit.
    InvalidRequest,
    /// Missing, malformed, unknown or revoked credential.
    Unauthenticated,
    /// The principal may not do this.
    Forbidden,
    /// No such resource for this principal.
    NotFound,
    /// The resource exists but does not take this method.
    MethodNotAllowed,
    /// The per-user rate limit is exhausted.
    RateLimited,
    /// The user's budget does not cover the request.
    BudgetExceeded,
    /// Body or part too large.
    PayloadTooLarge,
    /// Upload type not supported.
    UnsupportedMediaType,
    /// An uploaded image is unusable (corrupt, wrong shape, ...).
    InvalidImage,
    /// The upstream's safety system refused the prompt or image.
    ContentPolicyViolation,
    /// The model is retired or unknown upstream.
    ModelUnavailable,
    /// The upstream refused ArtGen's own credentials (not the caller's fault).
    UpstreamAuth,
    /// The upstream rate limit or quota is exhausted.
    UpstreamRateLimited,
    /// The upstream failed or sent an unusable answer.
    UpstreamError,
    /// The upstream did not answer within the deadline.
    UpstreamTimeout,
    /// The upstream is unavailable (circuit open, no provider left).
    UpstreamUnavailable,
    /// Too many requests are waiting for the upstream.
    UpstreamBusy,
    /// The request conflicts with an earlier one (e.g. idempotency key reuse).
    Conflict,
    /// A request with the same idempotency key is still running.
    IdempotencyInProgress,
    /// The client closed the connection before the answer was complete.
    Cancelled,
    /// An unexpected failure inside ArtGen.
    Internal,
}

impl ErrorCode {
    /// The stable wire name of the code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::BudgetExceeded => "budget_exceeded",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidImage => "invalid_image",
            Self::ContentPolicyViolation => "content_policy_violation",
            Self::ModelUnavailable => "model_unavailable",
            Self::UpstreamAuth => "upstream_auth",
            Self::UpstreamRateLimited => "upstream_rate_limited",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamBusy => "upstream_busy",
            Self::Conflict => "conflict",
            Self::IdempotencyInProgress => "idempotency_in_progress",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal_error",
        }
    }

    /// The transport-free kind of the code.
    pub const fn kind(self) -> ErrorKind {
        match self {
            Self::InvalidRequest | Self::InvalidImage | Self::ContentPolicyViolation => {
                ErrorKind::InvalidInput
            }
            Self::ModelUnavailable => ErrorKind::InvalidInput,
            Self::Unauthenticated => ErrorKind::Unauthenticated,
            Self::Forbidden => ErrorKind::Forbidden,
            Self::NotFound => ErrorKind::NotFound,
            Self::MethodNotAllowed => ErrorKind::MethodNotAllowed,
            Self::RateLimited | Self::UpstreamRateLimited => ErrorKind::RateLimited,
            Self::BudgetExceeded => ErrorKind::QuotaExceeded,
            Self::PayloadTooLarge => ErrorKind::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorKind::UnsupportedMedia,
            Self::Conflict | Self::IdempotencyInProgress => ErrorKind::Conflict,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::UpstreamAuth | Self::UpstreamError => ErrorKind::Upstream,
            Self::UpstreamTimeout => ErrorKind::UpstreamTimeout,
            Self::UpstreamUnavailable | Self::UpstreamBusy => ErrorKind::Unavailable,
            Self::Internal => ErrorKind::Internal,
        }
    }

    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 22] = [
        Self::InvalidRequest,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::BudgetExceeded,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::InvalidImage,
        Self::ContentPolicyViolation,
        Self::ModelUnavailable,
        Self::UpstreamAuth,
        Self::UpstreamRateLimited,
        Self::UpstreamError,
        Self::UpstreamTimeout,
        Self::UpstreamUnavailable,
        Self::UpstreamBusy,
        Self::Conflict,
        Self::IdempotencyInProgress,
        Self::Cancelled,
        Self::Internal,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The core error: a stable code, a message safe to show the caller, the offending parameter,
/// retry advice, and the cause (never shown to callers, logged once by the edge).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
    param: Option<String>,
    retry_after: Option<Duration>,
    retryable: bool,
    #[source]
    source: Option<BoxError>,
}

impl Error {
    /// A new error with a code and a caller-safe message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            retry_after: None,
            retryable: false,
            source: None,
        }
    }

    /// `invalid_request` naming the bad parameter.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_param(param)
    }

    /// `internal_error` keeping the cause for the logs; the caller sees a generic message.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorCode::Internal, "internal error").with_source(source)
    }

    /// Names the offending parameter.
    #[must_use]
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Advises the caller (or the retry decorator) when to try again.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Marks the error as safe to retry against the upstream.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Keeps the cause for logging.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The transport-free kind.
    pub fn kind(&self) -> ErrorKind {
        self.code.kind()
    }

    /// The message safe to show the caller.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The offending parameter, if one is to blame.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// When to try again, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether an upstream call that failed this way may be retried.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_unique_wire_names() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn invalid_param_names_the_param() {
        let err = Error::invalid_param("n", "n must be between 1 and 10");
        assert_eq!(err.param(), Some("n"));
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "invalid_request: n must be between 1 and 10"
        );
    }
}
