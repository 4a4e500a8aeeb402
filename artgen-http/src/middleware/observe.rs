//! The outermost middleware: gives each request an id (also sent back as `x-request-id`),
//! logs it exactly once, and counts it in the metrics.
//!
//! A request that fails before a generation still counts under the model its body named, when
//! the catalogue knows that model: the code that reads a body (the JSON extractor, the form
//! reader) calls [`note_model`], and this middleware keeps the note. It travels in a task-local
//! scoped to the request, because the form reader sees neither the request nor its extensions.
//! Names the catalogue does not know count under `""`, so a caller cannot mint label values.

use std::sync::{Arc, Mutex, PoisonError};
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
    /// The request's prompt, logged as the prompt-logging policy says.
    pub prompt: String,
}

/// The model a request's body names, as noted by whoever reads the body.
type NamedModel = Arc<Mutex<Option<String>>>;

tokio::task_local! {
    static NAMED_MODEL: NamedModel;
}

/// Notes the model the request's body names (for the metrics' and the access log's `model`,
/// should the request fail before a generation). Outside a request it does nothing.
pub fn note_model(name: &str) {
    let _outside_a_request = NAMED_MODEL.try_with(|named| {
        *named.lock().unwrap_or_else(PoisonError::into_inner) = Some(name.to_owned());
    });
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

    let named = NamedModel::default();
    let mut response = NAMED_MODEL.scope(named.clone(), next.run(request)).await;

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
    // The model that served, else the catalogue's id for the model the body named (an alias
    // counts as its model), else none.
    let named = named.lock().unwrap_or_else(PoisonError::into_inner).take();
    let catalog = state.service().catalog();
    let known = named.as_deref().and_then(|name| catalog.get(name));
    let model = match &summary {
        Some(summary) => summary.model.as_str(),
        None => known.map_or("", |m| m.id.as_str()),
    };
    if endpoint != "/metrics" && endpoint != "/health" {
        state
            .metrics()
            .observe_request(&endpoint, model, status.as_u16(), elapsed);
    }
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let cost_usd = summary.as_ref().map(|s| s.cost.as_usd());
    let images = summary.as_ref().map(|s| s.images);
    let code = error.as_ref().map(|e| e.code);
    let prompt = summary
        .as_ref()
        .and_then(|s| state.config().prompt_logging.render(&s.prompt));
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
            latency_ms, cost_usd, images, error_code = code, prompt,
            "request"
        );
    }
    response
}
