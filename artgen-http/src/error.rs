//! The one place core errors become HTTP answers.

use std::time::Duration;

use artgen_core::domain::RequestId;
use artgen_core::{Error, ErrorCode, ErrorKind};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error on its way to the caller: a core error plus the request id it happened under.
#[derive(Debug)]
pub struct ApiError {
    error: Error,
    request_id: Option<RequestId>,
}

/// What the access log needs to know about an error (put in response extensions, so the
/// cause is logged once, by the middleware, and never sent to the caller).
#[derive(Debug, Clone)]
pub struct LoggedError {
    /// The stable code.
    pub code: &'static str,
    /// The message and its cause chain.
    pub detail: String,
}

impl ApiError {
    /// Wraps a core error.
    pub fn new(error: Error, request_id: Option<RequestId>) -> Self {
        Self { error, request_id }
    }

    /// The wrapped error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        status_code(self.error.kind())
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self::new(error, None)
    }
}

/// Maps an error kind to its status. The only place that knows.
pub fn status_code(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput | ErrorKind::Refused => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::RateLimited | ErrorKind::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // nginx's "client closed request": only ever logged, the client is gone.
        ErrorKind::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// OpenAI's error `type` for a code, so that OpenAI SDKs and code written against OpenAI
/// classify ArtGen's errors as they would OpenAI's (a 401 is `invalid_request_error` there
/// too; a 429 of a request limit is `requests`).
pub fn error_type(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ModerationBlocked => "image_generation_user_error",
        ErrorCode::RateLimited | ErrorCode::UpstreamRateLimited => "requests",
        ErrorCode::BudgetExceeded => "insufficient_quota",
        ErrorCode::Forbidden => "permission_error",
        code => match status_code(code.kind()).as_u16() {
            500.. => "server_error",
            _ => "invalid_request_error",
        },
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// Adds one `Warning: 299 artgen "…"` header per warning (RFC 9111's miscellaneous
/// persistent warning), e.g. for a model retired or near retirement.
pub fn warning_headers(headers: &mut axum::http::HeaderMap, warnings: &[String]) {
    for warning in warnings {
        let text: String = warning
            .chars()
            .map(|c| match c {
                '"' | '\\' => '\'',
                c if c.is_ascii() && !c.is_ascii_control() => c,
                _ => '?',
            })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&format!("299 artgen \"{text}\"")) {
            headers.append(header::WARNING, value);
        }
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub fn retry_after_secs(after: Duration) -> u64 {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    secs.max(1)
}

fn chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let kind = self.error.kind();
        // 5xx answers never carry internals; the cause goes to the log via extensions.
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error"
        } else {
            self.error.message()
        };
        let body = Envelope {
            error: Body {
                code: self.error.code().as_str(),
                message,
                kind: error_type(self.error.code()),
                param: self.error.param(),
                request_id: self.request_id.as_ref().map(RequestId::as_str),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if kind == ErrorKind::Unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let advises_retry = matches!(
            self.error.code(),
            ErrorCode::RateLimited
                | ErrorCode::UpstreamRateLimited
                | ErrorCode::UpstreamBusy
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::StorageUnavailable
        );
        if let (true, Some(after)) = (advises_retry, self.error.retry_after()) {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
        }
        response.extensions_mut().insert(LoggedError {
            code: self.error.code().as_str(),
            detail: chain(&self.error),
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_a_status_that_matches_its_class() {
        for code in ErrorCode::ALL {
            let status = status_code(code.kind());
            let expected_class = match code {
                ErrorCode::Internal => 5,
                ErrorCode::UpstreamAuth
                | ErrorCode::UpstreamError
                | ErrorCode::UpstreamTimeout
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::UpstreamBusy
                | ErrorCode::StorageUnavailable => 5,
                _ => 4,
            };
            assert_eq!(status.as_u16() / 100, expected_class, "{code}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
