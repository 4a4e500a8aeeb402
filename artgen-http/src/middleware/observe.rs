//! The outermost middleware: gives each request an id (also sent back as `x-request-id`),
//! logs it exactly once, and counts it in the metrics.

use std::time::Instant;

use artgen_core::domain::{Money, RequestId};
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::auth::AuthenticatedUser;
use crate::error::LoggedError;
use crate::routes::images::BaseUrl;
use crate::state::AppState;

/// What a handler tells the access log about the work it did.
#[derive(Debug, Clone)]
pub struct RequestSummary {
    /// Model id.
    pub model: String,
    /// Settled cost.
    pub cost: Money,
    /// Images returned.
    pub images: usize,
}

/// Request id, access log and request metrics.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = RequestId::generate();
    request.extensions_mut().insert(request_id.clone());
    let base = BaseUrl::for_request(state.config(), request.headers());
    request.extensions_mut().insert(base);
    let method = request.method().clone();
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());

    let mut response = next.run(request).await;

    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status();
    let user = response
        .extensions()
        .get::<AuthenticatedUser>()
        .map(|u| u.0.clone());
    let summary = response.extensions().get::<RequestSummary>().cloned();
    let error = response.extensions().get::<LoggedError>().cloned();
    let model = summary.as_ref().map_or("", |s| s.model.as_str());
    if endpoint != "/metrics" && endpoint != "/health" {
        state
            .metrics()
            .observe_request(&endpoint, model, status.as_u16(), elapsed);
    }
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let cost_usd = summary.as_ref().map(|s| s.cost.as_usd());
    let images = summary.as_ref().map(|s| s.images);
    let code = error.as_ref().map(|e| e.code);
    if status.is_server_error() {
        tracing::error!(
            target: "artgen::access",
            request_id = %request_id, %method, endpoint, status = status.as_u16(), user, model,
            latency_ms, error_code = code, error = error.as_ref().map(|e| e.detail.as_str()),
            "request failed"
        );
    } else {
        tracing::info!(
            target: "artgen::access",
            request_id = %request_id, %method, endpoint, status = status.as_u16(), user, model,
            latency_ms, cost_usd, images, error_code = code,
            "request"
        );
    }
    response
}
