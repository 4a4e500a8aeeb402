//! Bearer authentication: puts a [`RequestContext`] in the request's extensions or answers
//! 401 with `WWW-Authenticate: Bearer`.

use artgen_core::domain::{Principal, RequestId};
use artgen_core::ports::RateLimitStatus;
use artgen_core::{Error, ErrorCode, RequestContext};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated user's id, copied into response extensions for the access log.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser(pub String);

/// Verifies the `Authorization: Bearer` header.
///
/// # Errors
/// `invalid_request` (param `Authorization`) when the header is sent more than once, before
/// any key is looked up; `unauthenticated` when it is missing or not a bearer credential, or
/// the credential is refused.
pub async fn authenticate_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Principal, Error> {
    let missing = || {
        Error::new(
            ErrorCode::Unauthenticated,
            "missing credentials: send 'Authorization: Bearer <API key>'",
        )
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or_else(missing)?;
    // Which of two credentials counts is up to each proxy on the way; refuse to guess.
    if values.next().is_some() {
        return Err(Error::invalid_param(
            "Authorization",
            "send exactly one Authorization header",
        ));
    }
    let text = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    state.service().authenticate(token.trim()).await
}

/// The caller's own limit in OpenAI's header names: `x-ratelimit-limit-requests` (units per
/// minute), `x-ratelimit-remaining-requests` (units left) and `x-ratelimit-reset-requests` (a
/// duration in OpenAI's style, e.g. `1s`, `6m0s`). The names say requests because OpenAI's
/// do; the values count rate-limit units, which a request takes one or more of by what it
/// asks for (`[rate_limit.weights]`).
fn rate_limit_headers(headers: &mut axum::http::HeaderMap, status: RateLimitStatus) {
    let reset = {
        let millis = status.reset.as_millis();
        let secs = millis.div_ceil(1000);
        match (secs / 60, secs % 60) {
            (0, _) if millis < 1000 && millis > 0 => format!("{millis}ms"),
            (0, s) => format!("{s}s"),
            (m, s) => format!("{m}m{s}s"),
        }
    };
    for (name, value) in [
        ("x-ratelimit-limit-requests", status.limit.to_string()),
        (
            "x-ratelimit-remaining-requests",
            status.remaining.to_string(),
        ),
        ("x-ratelimit-reset-requests", reset),
    ] {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Middleware for protected routes.
pub async fn require_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::generate);
    match authenticate_headers(&state, request.headers()).await {
        Ok(principal) => {
            let user = principal.user.clone();
            let ctx = RequestContext::new(request_id, principal);
            let rate_limit = ctx.rate_limit.clone();
            request.extensions_mut().insert(ctx);
            let mut response = next.run(request).await;
            if let Some(status) = rate_limit.get() {
                rate_limit_headers(response.headers_mut(), status);
            }
            response.extensions_mut().insert(AuthenticatedUser(user));
            response
        }
        Err(err) => ApiError::new(err, Some(request_id)).into_response(),
    }
}
