//! `POST /edit` and `POST /variation` (multipart, read by [`EditBody`] and [`VariationBody`]),
//! answered like `/generate`.

use artgen_core::domain::JobParams;
use artgen_core::{Error, RequestContext};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};

use super::images::BaseUrl;
use crate::error::ApiError;
use crate::form::read_upload;
use crate::openapi::schemas::ImageStream;
use crate::openapi::{IdempotencyKey, UploadErrors};
use crate::present::native::GenerateResponse;
use crate::present::{respond, Shape};
use crate::state::AppState;
use crate::wire::{EditBody, VariationBody, EDIT_FIELDS, VARIATION_FIELDS};

/// Routes of this resource (multipart: the router gives them the upload body limit).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/edit", post(edit))
        .route("/variation", post(variation))
}

/// Edit images with a prompt (and optionally a mask).
///
/// Answers like `/generate`: the images as JSON, or server-sent events with `stream=true`.
#[utoipa::path(
    post,
    path = "/edit",
    tag = "native",
    request_body(content = EditBody, content_type = "multipart/form-data"),
    params(IdempotencyKey),
    responses(
        (status = 200, description = "The images, or their event stream.", content(
            (GenerateResponse = "application/json"),
            (ImageStream = "text/event-stream"),
        )),
        UploadErrors,
    ),
    security(("bearer" = [])),
)]
async fn edit(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(base): Extension<BaseUrl>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let form = read_upload(&state, &ctx, multipart, EDIT_FIELDS).await?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let body = EditBody::from_fields(form.fields).map_err(fail)?;
    let params = JobParams::Edit(body.into_params(form.uploads));
    respond(state, ctx, base, params, Shape::Native).await
}

/// Variations of an image (dall-e-2).
///
/// Answers like `/generate` (never streamed).
#[utoipa::path(
    post,
    path = "/variation",
    tag = "native",
    request_body(content = VariationBody, content_type = "multipart/form-data"),
    params(IdempotencyKey),
    responses(
        (status = 200, description = "The images.", body = GenerateResponse),
        UploadErrors,
    ),
    security(("bearer" = [])),
)]
async fn variation(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(base): Extension<BaseUrl>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let form = read_upload(&state, &ctx, multipart, VARIATION_FIELDS).await?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let body = VariationBody::from_fields(form.fields).map_err(fail)?;
    let params = JobParams::Variation(body.into_params(form.uploads));
    respond(state, ctx, base, params, Shape::Native).await
}
