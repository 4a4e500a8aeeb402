//! The one place core errors become HTTP answers.

use std::time::Duration;

use artgen_core::domain::budget::rfc3339_utc;
use artgen_core::domain::{BudgetDimension, BudgetRefusal, RequestId};
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
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    budget: Option<BudgetFields>,
}

/// The figures of a `budget_exceeded` refusal, beside the message: the limit crossed, what
/// was spent or held before the request, and when the budget resets. USD as decimal numbers.
#[derive(Serialize)]
struct BudgetFields {
    /// `user` or `org`.
    budget_scope: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spent_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spent_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_tokens: Option<u64>,
    /// RFC 3339, UTC.
    resets_at: String,
}

/// Micro-dollars as a decimal number of dollars (exact for any amount below 2^53 µ$).
pub fn usd(micros: u64) -> f64 {
    artgen_core::domain::Money::from_micros(micros).as_usd()
}

impl From<&BudgetRefusal> for BudgetFields {
    fn from(r: &BudgetRefusal) -> Self {
        let money = r.dimension == BudgetDimension::Usd;
        let in_usd = |v: u64| money.then(|| usd(v));
        let in_tokens = |v: u64| (!money).then_some(v);
        Self {
            budget_scope: r.scope.kind(),
            limit_usd: in_usd(r.limit),
            spent_usd: in_usd(r.committed),
            requested_usd: in_usd(r.requested),
            limit_tokens: in_tokens(r.limit),
            spent_tokens: in_tokens(r.committed),
            requested_tokens: in_tokens(r.requested),
            resets_at: rfc3339_utc(r.resets_at_ms),
        }
    }
}

/// The header by which OpenAI's SDKs are told whether to retry.
pub const SHOULD_RETRY: &str = "x-should-retry";

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
                budget: self.error.budget_refusal().map(BudgetFields::from),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if kind == ErrorKind::Unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.error.code() == ErrorCode::BudgetExceeded {
            // OpenAI's SDKs retry a 429 unless told not to; a spent budget stays spent until
            // it resets.
            headers.insert(SHOULD_RETRY, HeaderValue::from_static("false"));
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

    #[tokio::test]
    async fn a_budget_refusal_carries_its_figures_and_tells_sdks_not_to_retry() {
        let refusal = BudgetRefusal {
            scope: artgen_core::domain::BudgetScope::User("ann".into()),
            dimension: BudgetDimension::Usd,
            limit: 20_000_000,
            committed: 19_990_000,
            requested: 16_000,
            resets_at_ms: 1_798_761_600_000,
        };
        let err = Error::new(ErrorCode::BudgetExceeded, "over budget").with_budget_refusal(refusal);

        let response = ApiError::new(err, None).into_response();

        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(SHOULD_RETRY)
                .map(HeaderValue::as_bytes),
            Some(&b"false"[..])
        );
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("readable");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let error = &json["error"];
        assert_eq!(error["code"], "budget_exceeded");
        assert_eq!(error["type"], "insufficient_quota");
        assert_eq!(error["limit_usd"], 20.0);
        assert_eq!(error["spent_usd"], 19.99);
        assert_eq!(error["requested_usd"], 0.016);
        assert_eq!(error["resets_at"], "2027-01-01T00:00:00Z");
        assert_eq!(error["budget_scope"], "user");
        assert!(error.get("limit_tokens").is_none());
    }

    #[test]
    fn other_errors_carry_no_budget_fields() {
        let response = ApiError::new(Error::invalid_param("n", "bad"), None).into_response();
        assert!(response.headers().get(SHOULD_RETRY).is_none());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
