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
    /// A safety system refused the prompt or an image; the caller may revise and resend.
    Refused,
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
    /// The caller did not send its request in time.
    ClientTimeout,
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
///
/// Wire names are OpenAI's wherever OpenAI has a code for the case (so code that branches on
/// `error.code` works against either), and ArtGen's own only for what OpenAI lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A malformed request (not JSON, not an object, unreadable body).
    InvalidRequest,
    /// A parameter has a value the model does not accept; `param` names it.
    InvalidValue,
    /// A parameter ArtGen does not know, refused because `unknown_params = "reject"`.
    UnknownParameter,
    /// A required parameter is missing; `param` names it.
    MissingParameter,
    /// Missing, malformed, unknown or revoked credential.
    Unauthenticated,
    /// The principal may not do this.
    Forbidden,
    /// No such resource for this principal.
    NotFound,
    /// The resource exists but does not take this method.
    MethodNotAllowed,
    /// The caller's rate limit is exhausted.
    RateLimited,
    /// The user's budget does not cover the request.
    BudgetExceeded,
    /// Body too large.
    PayloadTooLarge,
    /// The request body is not of the media type the route takes.
    UnsupportedMediaType,
    /// The request body did not arrive within the read timeout.
    RequestTimeout,
    /// An uploaded image is unusable (corrupt, wrong shape, a mask without alpha, ...).
    InvalidImage,
    /// An uploaded image is of a format the model does not take.
    InvalidImageFormat,
    /// An uploaded image is over the model's size limit.
    ImageTooLarge,
    /// The GPT image safety system refused the prompt or an image (OpenAI's code).
    ModerationBlocked,
    /// The DALL·E safety system refused the prompt (OpenAI's code).
    ContentPolicyViolation,
    /// The model is not in the catalogue, or unknown upstream.
    ModelNotFound,
    /// The model is retired at OpenAI and the upstream is OpenAI's own API.
    ModelRetired,
    /// The model has no known price and the operator does not serve unpriced models.
    ModelUnpriced,
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
    /// ArtGen cannot record the request's usage right now, so it did not send the request.
    StorageUnavailable,
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
    /// The stable wire name of the code. Two codes share OpenAI's `rate_limit_exceeded`:
    /// whose limit was hit is in the message, not the code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidValue => "invalid_value",
            Self::UnknownParameter => "unknown_parameter",
            Self::MissingParameter => "missing_required_parameter",
            Self::Unauthenticated => "invalid_api_key",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited | Self::UpstreamRateLimited => "rate_limit_exceeded",
            Self::BudgetExceeded => "budget_exceeded",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RequestTimeout => "request_timeout",
            Self::InvalidImage => "invalid_image",
            Self::InvalidImageFormat => "invalid_image_format",
            Self::ImageTooLarge => "image_too_large",
            Self::ModerationBlocked => "moderation_blocked",
            Self::ContentPolicyViolation => "content_policy_violation",
            Self::ModelNotFound => "model_not_found",
            Self::ModelRetired => "model_retired",
            Self::ModelUnpriced => "model_unpriced",
            Self::UpstreamAuth => "upstream_auth",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamBusy => "upstream_busy",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Conflict => "conflict",
            Self::IdempotencyInProgress => "idempotency_in_progress",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal_error",
        }
    }

    /// The transport-free kind of the code.
    pub const fn kind(self) -> ErrorKind {
        match self {
            Self::InvalidRequest
            | Self::InvalidValue
            | Self::UnknownParameter
            | Self::MissingParameter
            | Self::InvalidImage
            | Self::InvalidImageFormat
            | Self::ImageTooLarge
            | Self::ModelUnpriced => ErrorKind::InvalidInput,
            Self::ModerationBlocked | Self::ContentPolicyViolation => ErrorKind::Refused,
            Self::Unauthenticated => ErrorKind::Unauthenticated,
            Self::Forbidden => ErrorKind::Forbidden,
            Self::NotFound | Self::ModelNotFound | Self::ModelRetired => ErrorKind::NotFound,
            Self::MethodNotAllowed => ErrorKind::MethodNotAllowed,
            Self::RateLimited | Self::UpstreamRateLimited => ErrorKind::RateLimited,
            Self::BudgetExceeded => ErrorKind::QuotaExceeded,
            Self::PayloadTooLarge => ErrorKind::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorKind::UnsupportedMedia,
            Self::RequestTimeout => ErrorKind::ClientTimeout,
            Self::Conflict | Self::IdempotencyInProgress => ErrorKind::Conflict,
            Self::Cancelled => ErrorKind::Cancelled,
            Self::UpstreamAuth | Self::UpstreamError => ErrorKind::Upstream,
            Self::UpstreamTimeout => ErrorKind::UpstreamTimeout,
            Self::UpstreamUnavailable | Self::UpstreamBusy | Self::StorageUnavailable => {
                ErrorKind::Unavailable
            }
            Self::Internal => ErrorKind::Internal,
        }
    }

    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 32] = [
        Self::InvalidRequest,
        Self::InvalidValue,
        Self::UnknownParameter,
        Self::MissingParameter,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::BudgetExceeded,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RequestTimeout,
        Self::InvalidImage,
        Self::InvalidImageFormat,
        Self::ImageTooLarge,
        Self::ModerationBlocked,
        Self::ContentPolicyViolation,
        Self::ModelNotFound,
        Self::ModelRetired,
        Self::ModelUnpriced,
        Self::UpstreamAuth,
        Self::UpstreamRateLimited,
        Self::UpstreamError,
        Self::UpstreamTimeout,
        Self::UpstreamUnavailable,
        Self::UpstreamBusy,
        Self::StorageUnavailable,
        Self::Conflict,
        Self::IdempotencyInProgress,
        Self::Cancelled,
        Self::Internal,
    ];

    /// The distinct wire names, in [`ErrorCode::ALL`] order (for documents and schemas).
    pub fn wire_names() -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::with_capacity(Self::ALL.len());
        for code in Self::ALL {
            if !names.contains(&code.as_str()) {
                names.push(code.as_str());
            }
        }
        names
    }
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
    budget: Option<Box<crate::domain::BudgetRefusal>>,
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
            budget: None,
            source: None,
        }
    }

    /// `invalid_value` naming the bad parameter.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidValue, message).with_param(param)
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

    /// Attaches the budget a `budget_exceeded` refusal ran into, for the structured fields
    /// of the answer (limit, spend, reset time).
    #[must_use]
    pub fn with_budget_refusal(mut self, refusal: crate::domain::BudgetRefusal) -> Self {
        self.budget = Some(Box::new(refusal));
        self
    }

    /// The budget a `budget_exceeded` refusal ran into.
    pub fn budget_refusal(&self) -> Option<&crate::domain::BudgetRefusal> {
        self.budget.as_deref()
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
    fn codes_have_unique_wire_names_but_the_two_rate_limits() {
        assert_eq!(ErrorCode::wire_names().len(), ErrorCode::ALL.len() - 1);
        assert_eq!(
            ErrorCode::RateLimited.as_str(),
            ErrorCode::UpstreamRateLimited.as_str()
        );
    }

    #[test]
    fn invalid_param_names_the_param() {
        let err = Error::invalid_param("n", "n must be between 1 and 10");
        assert_eq!(err.param(), Some("n"));
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.to_string(), "invalid_value: n must be between 1 and 10");
    }
}
