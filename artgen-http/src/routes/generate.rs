//! `POST /generate`: the PRD's Appendix A request ([`GenerateBody`]) and answer
//! ([`GenerateResponse`]).

use artgen_core::domain::JobParams;
use artgen_core::RequestContext;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};

use super::images::BaseUrl;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::openapi::schemas::ImageStream;
use crate::openapi::{IdempotencyKey, JobErrors};
use crate::present::native::GenerateResponse;
use crate::present::{respond, Shape};
use crate::state::AppState;
use crate::wire::GenerateBody;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/generate", post(generate))
}

/// Generate images from a prompt.
///
/// Answers the images as JSON, or as server-sent events when the body sets `stream: true`.
#[utoipa::path(
    post,
    path = "/generate",
    tag = "native",
    request_body(content = GenerateBody, content_type = "application/json"),
    params(IdempotencyKey),
    responses(
        (status = 200, description = "The images, or their event stream.", content(
            (GenerateResponse = "application/json"),
            (ImageStream = "text/event-stream"),
        )),
        JobErrors,
    ),
    security(("bearer" = [])),
)]
async fn generate(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(base): Extension<BaseUrl>,
    JsonBody(body): JsonBody<GenerateBody>,
) -> Result<Response, ApiError> {
    let params = JobParams::Generate(body.into());
    respond(state, ctx, base, params, Shape::Native).await
}
