//! Presentation: one typed answer per surface, built from the service's [`Generation`] (and,
//! for event streams, its events and errors). Routes run a job through [`respond`] and never
//! call one another.
//!
//! - [`native`]: the PRD's Appendix A answer of `/generate`, `/edit` and `/variation`.
//! - [`openai`]: OpenAI's `ImagesResponse` for `/v1/images/*`.
//! - [`sse`]: the upstream's server-sent event payloads, for `stream: true` on either.
//!
//! JSON answers carry their images through [`crate::inline`], which writes each image's base64
//! straight into the answer's one buffer.

pub mod native;
pub mod openai;
pub mod sse;

use artgen_core::domain::{JobParams, Quality, ResponseFormat};
use artgen_core::{Error, Generation, RequestContext};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::inline::InlineImages;
use crate::middleware::{InlineImages as InlineRecord, RequestSummary};
use crate::routes::images::BaseUrl;
use crate::state::AppState;

/// Which answer shape a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The PRD's Appendix A ([`native::GenerateResponse`]).
    Native,
    /// OpenAI's `ImagesResponse` ([`openai::ImagesResponse`]).
    OpenAi,
}

/// Runs a job and answers in `shape`: server-sent events when it asks for a stream, else the
/// shape's JSON.
///
/// # Errors
/// The service's errors, with the request id.
pub async fn respond(
    state: AppState,
    ctx: RequestContext,
    base: BaseUrl,
    params: JobParams,
    shape: Shape,
) -> Result<Response, ApiError> {
    if params.wants_stream() {
        return crate::sse::respond(state, ctx, base, params).await;
    }
    let service = state.service().clone();
    let job_ctx = ctx.clone();
    let generation = to_completion(async move { service.execute(&job_ctx, params).await })
        .await
        .map_err(|e| ApiError::new(e, Some(ctx.request_id.clone())))?;
    let images = InlineImages::default();
    let json = match shape {
        Shape::Native => images.to_json(&native::GenerateResponse::new(
            &state,
            &base,
            &generation,
            &images,
        )),
        Shape::OpenAi => images.to_json(&openai::ImagesResponse::new(
            &state,
            &base,
            &generation,
            &images,
        )),
    }
    .map_err(|e| ApiError::new(Error::internal(e), Some(ctx.request_id.clone())))?;
    let json_type = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    let mut response = (json_type, json).into_response();
    crate::error::warning_headers(response.headers_mut(), &generation.warnings);
    budget_headers(
        response.headers_mut(),
        generation.budget_remaining,
        generation.quality_downgraded,
    );
    response.extensions_mut().insert(summary(&generation));
    if generation.response_format == ResponseFormat::B64Json {
        // Both shapes carry each image's base64 text, in order: the idempotency layer keeps
        // the answer without them.
        let images = generation.images.iter();
        let inline = images.map(|i| (i.id.clone(), i.bytes.clone())).collect();
        response.extensions_mut().insert(InlineRecord(inline));
    }
    Ok(response)
}

/// The money left in the caller's budget, where a money limit applies (decimal USD).
pub const BUDGET_REMAINING: &str = "x-artgen-budget-remaining-usd";

/// Present when a budget past its soft threshold lowered the quality: `high->medium`.
pub const QUALITY_DOWNGRADED: &str = "x-artgen-quality-downgraded";

/// Adds what the caller's budgets say to an answer: the money left, a lowered quality.
pub fn budget_headers(
    headers: &mut axum::http::HeaderMap,
    remaining: Option<artgen_core::domain::Money>,
    downgraded: Option<(Quality, Quality)>,
) {
    if let Some(left) = remaining {
        let micros = left.micros();
        let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.insert(BUDGET_REMAINING, value);
        }
    }
    if let Some((from, to)) = downgraded {
        if let Ok(value) = HeaderValue::from_str(&format!("{from}->{to}")) {
            headers.insert(QUALITY_DOWNGRADED, value);
        }
    }
}

/// Runs a service call on its own task, so that a client that leaves (or a server timeout)
/// does not cut it off between its upstream call, which may already be paid for, and the
/// usage row that records it.
///
/// # Errors
/// The call's error, or `internal_error` if the task panicked.
pub async fn to_completion<T: Send + 'static>(
    call: impl std::future::Future<Output = artgen_core::Result<T>> + Send + 'static,
) -> artgen_core::Result<T> {
    tokio::spawn(call)
        .await
        .unwrap_or_else(|join| Err(artgen_core::Error::internal(join)))
}

/// What the access log records of a finished generation.
pub fn summary(generation: &Generation) -> RequestSummary {
    RequestSummary {
        model: generation.model.clone(),
        cost: generation.cost,
        images: generation.images.len(),
        prompt: generation.prompt.clone(),
    }
}
