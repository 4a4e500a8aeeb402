//! `POST /edit` and `POST /variation` (multipart), answered like `/generate`.

use artgen_core::domain::{EditParams, GenerateParams, InputFidelity, JobParams, VariationParams};
use artgen_core::{Error, RequestContext};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde_json::Value;

use super::generate::{answer, GenerateResponse, Shape};
use super::images::BaseUrl;
use crate::error::ApiError;
use crate::extract::from_value;
use crate::form::{read_form, FormSpec, ImageForm};
use crate::openapi::schemas::{EditForm, ImageStream, VariationForm};
use crate::openapi::{IdempotencyKey, UploadErrors};
use crate::state::AppState;

/// Text fields of an edit form.
pub const EDIT_FIELDS: FormSpec = FormSpec {
    text: &[
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "format",
        "output_format",
        "output_compression",
        "background",
        "moderation",
        "complexity",
        "stream",
        "partial_images",
        "frame_count",
        "frame_duration_ms",
        "svg",
        "response_format",
        "user",
        "safety_identifier",
        "input_fidelity",
    ],
    integers: &[
        "n",
        "output_compression",
        "partial_images",
        "frame_count",
        "frame_duration_ms",
    ],
    booleans: &["stream"],
    objects: &["svg"],
    mask: true,
    markup: true,
    many_images: true,
};

/// Text fields of a variation form.
pub const VARIATION_FIELDS: FormSpec = FormSpec {
    text: &[
        "model",
        "n",
        "size",
        "format",
        "response_format",
        "user",
        "safety_identifier",
    ],
    integers: &["n"],
    booleans: &[],
    objects: &[],
    mask: false,
    markup: false,
    many_images: false,
};

/// Routes of this resource (multipart: the router gives them the upload body limit).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/edit", post(edit))
        .route("/variation", post(variation))
}

/// Turns a read edit form into edit parameters.
///
/// # Errors
/// `invalid_request` naming a field of the wrong type or value.
pub fn edit_params(mut form: ImageForm) -> Result<EditParams, Error> {
    let input_fidelity = form
        .take("input_fidelity")
        .map(from_value::<InputFidelity>)
        .transpose()
        .map_err(|e| e.with_param("input_fidelity"))?;
    let options: GenerateParams = from_value(Value::Object(form.fields))?;
    Ok(EditParams {
        options,
        images: form.images,
        mask: form.mask,
        markup: form.markup,
        input_fidelity,
    })
}

/// Turns a read variation form into variation parameters.
///
/// # Errors
/// `invalid_request` naming a field of the wrong type or value.
pub fn variation_params(mut form: ImageForm) -> Result<VariationParams, Error> {
    let text = |v: Value, name: &str| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid_param(name, format!("{name} must be a string")))
    };
    let model = form.take("model").map(|v| text(v, "model")).transpose()?;
    let size = form.take("size").map(|v| text(v, "size")).transpose()?;
    let user = form.take("user").map(|v| text(v, "user")).transpose()?;
    let safety_identifier = form
        .take("safety_identifier")
        .map(|v| text(v, "safety_identifier"))
        .transpose()?;
    let n = form
        .take("n")
        .map(|v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| Error::invalid_param("n", "n must be an integer between 1 and 10"))
        })
        .transpose()?;
    let format = form
        .take("format")
        .map(from_value)
        .transpose()
        .map_err(|e| e.with_param("format"))?;
    let response_format = form
        .take("response_format")
        .map(from_value)
        .transpose()
        .map_err(|e| e.with_param("response_format"))?;
    Ok(VariationParams {
        model,
        n,
        size,
        format,
        response_format,
        user,
        safety_identifier,
        extra: form.fields.into_iter().collect(),
        image: form.images.into_iter().next(),
    })
}

/// Reads and checks an upload form, answering every failure with the request id.
///
/// The router's [`require_multipart`](crate::form::require_multipart) has already refused a
/// body not declared as `multipart/form-data`.
///
/// # Errors
/// `invalid_request` when the form's `Content-Type` has no usable boundary; the errors of
/// [`read_form`].
pub async fn read_upload(
    state: &AppState,
    ctx: &RequestContext,
    multipart: Result<Multipart, MultipartRejection>,
    spec: FormSpec,
) -> Result<ImageForm, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    let multipart = multipart_body(multipart).map_err(fail)?;
    read_form(multipart, spec, state.service().catalog())
        .await
        .map_err(fail)
}

/// The multipart body of a request declared as `multipart/form-data`.
///
/// # Errors
/// `invalid_request` (param `Content-Type`) when its boundary is missing or unusable.
pub fn multipart_body(body: Result<Multipart, MultipartRejection>) -> Result<Multipart, Error> {
    body.map_err(|_| {
        Error::invalid_param(
            "Content-Type",
            "the multipart/form-data Content-Type needs a boundary parameter, as HTTP clients \
             set when they build the form",
        )
    })
}

/// Edit images with a prompt (and optionally a mask).
///
/// Answers like `/generate`: the images as JSON, or server-sent events with `stream=true`.
#[utoipa::path(
    post,
    path = "/edit",
    tag = "native",
    request_body(content = EditForm, content_type = "multipart/form-data"),
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
    let params = edit_params(form).map_err(fail)?;
    answer(state, ctx, base, JobParams::Edit(params), Shape::Native).await
}

/// Variations of an image (dall-e-2).
///
/// Answers like `/generate` (never streamed).
#[utoipa::path(
    post,
    path = "/variation",
    tag = "native",
    request_body(content = VariationForm, content_type = "multipart/form-data"),
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
    let params = variation_params(form).map_err(fail)?;
    answer(
        state,
        ctx,
        base,
        JobParams::Variation(params),
        Shape::Native,
    )
    .await
}
