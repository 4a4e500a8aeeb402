//! The OpenAI-compatible routes, `/v1/images/{generations,edits,variations}`: the upstream's
//! request and response shapes, so the official SDKs work by changing only their base URL,
//! with ArtGen's auth, limits and accounting applied as on the native routes.

use artgen_core::domain::{JobParams, Operation};
use artgen_core::{Error, RequestContext};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};

use super::images::BaseUrl;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::form::read_upload;
use crate::openapi::schemas::ImageStream;
use crate::openapi::{IdempotencyKey, JobErrors, UploadErrors};
use crate::present::openai::ImagesResponse;
use crate::present::{respond, Shape};
use crate::state::AppState;
use crate::wire::{EditBody, GenerateBody, VariationBody, EDIT_FIELDS, VARIATION_FIELDS};

/// The JSON route, mounted under `/v1/images`.
pub fn json_router() -> Router<AppState> {
    Router::new().route("/generations", post(generations))
}

/// The multipart routes, mounted under `/v1/images` (the router gives them the upload body
/// limit).
pub fn upload_router() -> Router<AppState> {
    Router::new()
        .route("/edits", post(edits))
        .route("/variations", post(variations))
}

/// Create images (OpenAI-compatible).
///
/// OpenAI's request and `ImagesResponse`; `model` defaults to `dall-e-2`, and DALL·E models
/// answer with URLs unless `response_format` says otherwise. Server-sent events with
/// `stream: true`.
#[utoipa::path(
    post,
    path = "/v1/images/generations",
    tag = "openai",
    request_body(
        content = ref("#/components/schemas/OpenAiGenerateRequest"),
        content_type = "application/json"
    ),
    params(IdempotencyKey),
    responses(
        (status = 200, description = "The images, or their event stream.", content(
            (ImagesResponse = "application/json"),
            (ImageStream = "text/event-stream"),
        )),
        JobErrors,
    ),
    security(("bearer" = [])),
)]
async fn generations(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(base): Extension<BaseUrl>,
    JsonBody(body): JsonBody<GenerateBody>,
) -> Result<Response, ApiError> {
    let body = body.with_openai_defaults(state.service().catalog(), Operation::Generate);
    let params = JobParams::Generate(body.into());
    respond(state, ctx, base, params, Shape::OpenAi).await
}

/// Edit images (OpenAI-compatible).
///
/// OpenAI's form and `ImagesResponse`; `model` defaults to `gpt-image-1.5`. Server-sent
/// events with `stream=true`.
#[utoipa::path(
    post,
    path = "/v1/images/edits",
    tag = "openai",
    request_body(
        content = ref("#/components/schemas/OpenAiEditForm"),
        content_type = "multipart/form-data"
    ),
    params(IdempotencyKey),
    responses(
        (status = 200, description = "The images, or their event stream.", content(
            (ImagesResponse = "application/json"),
            (ImageStream = "text/event-stream"),
        )),
        UploadErrors,
    ),
    security(("bearer" = [])),
)]
async fn edits(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(base): Extension<BaseUrl>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let form = read_upload(&state, &ctx, multipart, EDIT_FIELDS).await?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let body = EditBody::from_fields(form.fields).map_err(fail)?;
    let body = body.with_openai_defaults(state.service().catalog());
    let params = JobParams::Edit(body.into_params(form.uploads));
    respond(state, ctx, base, params, Shape::OpenAi).await
}

/// Variations of an image (OpenAI-compatible).
///
/// OpenAI's form and `ImagesResponse`; `model` defaults to `dall-e-2`.
#[utoipa::path(
    post,
    path = "/v1/images/variations",
    tag = "openai",
    request_body(content = VariationBody, content_type = "multipart/form-data"),
    params(IdempotencyKey),
    responses((status = 200, description = "The images.", body = ImagesResponse), UploadErrors),
    security(("bearer" = [])),
)]
async fn variations(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(base): Extension<BaseUrl>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let form = read_upload(&state, &ctx, multipart, VARIATION_FIELDS).await?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let body = VariationBody::from_fields(form.fields).map_err(fail)?;
    let body = body.with_openai_defaults(state.service().catalog());
    let params = JobParams::Variation(body.into_params(form.uploads));
    respond(state, ctx, base, params, Shape::OpenAi).await
}
