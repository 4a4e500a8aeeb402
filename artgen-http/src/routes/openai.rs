//! The OpenAI-compatible routes, `/v1/images/{generations,edits,variations}`: the upstream's
//! request and response shapes, so the official SDKs work by changing only their base URL,
//! with ArtGen's auth, limits and accounting applied as on the native routes.

use artgen_core::domain::{GenerateParams, JobParams, ModelFamily, Operation};
use artgen_core::{Error, Generation, RequestContext};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use serde::ser::SerializeMap as _;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::edit::{edit_params, read_upload, variation_params, EDIT_FIELDS, VARIATION_FIELDS};
use super::generate::{answer, Shape};
use super::images::{signed_url, BaseUrl};
use crate::error::ApiError;
use crate::extract::{from_value, JsonBody};
use crate::inline::{Inline, InlineImages};
use crate::openapi::schemas::{ImageStream, ImagesResponse, VariationForm};
use crate::openapi::{IdempotencyKey, JobErrors, UploadErrors};
use crate::sse::images_usage;
use crate::state::AppState;

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

/// The upstream's one default that differs from the native routes': DALL·E answers with URLs
/// unless `response_format` says otherwise. (The model's own default, when `model` is absent
/// or `null`, is the catalogue's per-operation default, as on the native routes.)
fn apply_defaults(fields: &mut Map<String, Value>, operation: Operation, state: &AppState) {
    let catalog = state.service().catalog();
    let model = fields
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| catalog.default_model(operation));
    let takes_urls = catalog.get(model).is_some_and(|m| m.response_format);
    let unset = fields.get("response_format").is_none_or(Value::is_null);
    if takes_urls && unset {
        fields.insert("response_format".into(), json!("url"));
    }
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
    JsonBody(mut body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    apply_defaults(&mut body, Operation::Generate, &state);
    let params: GenerateParams = from_value(Value::Object(body)).map_err(fail)?;
    answer(state, ctx, base, JobParams::Generate(params), Shape::OpenAi).await
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
    let mut form = read_upload(&state, &ctx, multipart, EDIT_FIELDS).await?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    apply_defaults(&mut form.fields, Operation::Edit, &state);
    let params = edit_params(form).map_err(fail)?;
    answer(state, ctx, base, JobParams::Edit(params), Shape::OpenAi).await
}

/// Variations of an image (OpenAI-compatible).
///
/// OpenAI's form and `ImagesResponse`; `model` defaults to `dall-e-2`.
#[utoipa::path(
    post,
    path = "/v1/images/variations",
    tag = "openai",
    request_body(content = VariationForm, content_type = "multipart/form-data"),
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
    let mut form = read_upload(&state, &ctx, multipart, VARIATION_FIELDS).await?;
    let fail = |e: Error| ApiError::new(e, Some(ctx.request_id.clone()));
    apply_defaults(&mut form.fields, Operation::Variation, &state);
    let params = variation_params(form).map_err(fail)?;
    answer(
        state,
        ctx,
        base,
        JobParams::Variation(params),
        Shape::OpenAi,
    )
    .await
}

/// The upstream's `ImagesResponse`, with exactly the fields OpenAI sends for the model's
/// family (GPT image: `created`, `data`, `background`, `output_format`, `quality`, `size`,
/// `usage`; DALL·E: `created`, `data`), plus the upstream's other fields as it sent them
/// (`svg_usage`, `safety_identifier`, fields ArtGen does not know). Serialise it with
/// [`InlineImages::to_json`] of `images`.
pub fn images_response<'a>(
    state: &AppState,
    base: &BaseUrl,
    generation: &'a Generation,
    images: &'a InlineImages<'a>,
) -> ImagesBody<'a> {
    let inline = generation.response_format == artgen_core::domain::ResponseFormat::B64Json;
    let data = generation
        .images
        .iter()
        .map(|image| ImageData {
            b64_json: inline.then(|| images.image(&image.bytes)),
            revised_prompt: image.revised_prompt.as_deref(),
            url: (!inline).then(|| signed_url(state, base, image.id.as_str())),
        })
        .collect();
    let mut body = Map::new();
    body.insert("created".into(), json!(generation.created));
    // Holds `data`'s place among the (sorted) fields; `ImagesBody` writes the images there.
    body.insert("data".into(), Value::Null);
    if generation.family == ModelFamily::GptImage {
        let echo = &generation.echo;
        for (name, value) in [
            ("background", &echo.background),
            ("output_format", &echo.output_format),
            ("quality", &echo.quality),
            ("size", &echo.size),
        ] {
            if let Some(value) = value {
                body.insert(name.into(), json!(value));
            }
        }
        if let Some(usage) = &generation.usage {
            let mut usage_json = images_usage(Some(usage));
            usage_json["output_tokens_details"] = json!({
                "image_tokens": usage.output_image_tokens,
                "text_tokens": usage.output_text_tokens,
            });
            body.insert("usage".into(), usage_json);
        }
    }
    for (name, value) in &generation.extra {
        // The upstream's own usage block wins over the one rebuilt from its counts.
        let known = matches!(name.as_str(), "created" | "data");
        if !known && (generation.family == ModelFamily::GptImage || name != "usage") {
            body.insert(name.clone(), value.clone());
        }
    }
    ImagesBody { fields: body, data }
}

/// An OpenAI `ImagesResponse` ready to serialise: its fields, and its images written in place
/// of `data`.
#[derive(Debug)]
pub struct ImagesBody<'a> {
    fields: Map<String, Value>,
    data: Vec<ImageData<'a>>,
}

/// One item of `data`: `b64_json` or `url`, as `response_format` asked.
#[derive(Debug, Serialize)]
struct ImageData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    b64_json: Option<Inline<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revised_prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

impl Serialize for ImagesBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in &self.fields {
            if name == "data" {
                map.serialize_entry(name, &self.data)?;
            } else {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}
