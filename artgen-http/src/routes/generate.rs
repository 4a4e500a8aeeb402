//! `POST /generate`: the PRD's Appendix A request and response.

use artgen_core::domain::{GenerateParams, JobParams, ResponseFormat, TokenUsage};
use artgen_core::{Error, Generation, RequestContext};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use serde::Serialize;

use super::images::{signed_url, BaseUrl};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::inline::{Inline, InlineImages};
use crate::middleware::{InlineImages as InlineRecord, RequestSummary};
use crate::openapi::schemas::{GenerateRequestDoc, ImageStream};
use crate::openapi::{IdempotencyKey, JobErrors};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/generate", post(generate))
}

/// The answer to a generate request (its images borrowed from the [`Generation`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GenerateResponse<'a> {
    /// Request id.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Model id.
    pub model: String,
    /// Provider that served.
    pub provider: String,
    /// The images.
    pub images: Vec<ImageDto<'a>>,
    /// Token usage (`null` for models billed per image).
    #[schema(required = true)]
    pub usage: Option<UsageDto>,
    /// Settled cost in micro-dollars.
    pub cost_micros: u64,
    /// Settled cost in dollars, as a decimal string.
    pub cost_usd: String,
}

/// One image of the answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImageDto<'a> {
    /// Image id (for `GET /images/{id}`).
    pub id: String,
    /// Base64 bytes, unless `response_format` was `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub b64_json: Option<Inline<'a>>,
    /// A signed, expiring link to the image.
    pub url: String,
    /// `png`, `jpeg` or `webp`.
    pub filetype: &'static str,
    /// `WxH`.
    pub size: String,
    /// The prompt the model used, where it rewrites prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revised_prompt: Option<String>,
}

/// Token usage in the shape of Appendix A, plus the upstream's fields.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageDto {
    /// Input tokens (text and image).
    pub prompt_tokens: u64,
    /// Output image tokens.
    pub image_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// Input tokens, as the upstream names them.
    pub input_tokens: u64,
    /// Output tokens, as the upstream names them.
    pub output_tokens: u64,
}

impl From<&TokenUsage> for UsageDto {
    fn from(u: &TokenUsage) -> Self {
        Self {
            prompt_tokens: u.input_tokens(),
            image_tokens: u.output_image_tokens,
            total_tokens: u.total_tokens(),
            input_tokens: u.input_tokens(),
            output_tokens: u.output_tokens(),
        }
    }
}

impl<'a> GenerateResponse<'a> {
    /// Builds the answer, signing a URL for each image; serialise it with
    /// [`InlineImages::to_json`] of `images`.
    pub fn new(
        state: &AppState,
        base: &BaseUrl,
        generation: &'a Generation,
        images: &'a InlineImages<'a>,
    ) -> Self {
        let inline = generation.response_format == ResponseFormat::B64Json;
        Self {
            id: generation.request_id.to_string(),
            created: generation.created,
            model: generation.model.clone(),
            provider: generation.provider.clone(),
            images: generation
                .images
                .iter()
                .map(|image| ImageDto {
                    id: image.id.to_string(),
                    b64_json: inline.then(|| images.image(&image.bytes)),
                    url: signed_url(state, base, image.id.as_str()),
                    filetype: image.format.as_str(),
                    size: image.dimensions.to_string(),
                    revised_prompt: image.revised_prompt.clone(),
                })
                .collect(),
            usage: generation.usage.as_ref().map(UsageDto::from),
            cost_micros: generation.cost.micros(),
            cost_usd: generation
                .cost
                .to_string()
                .trim_start_matches('$')
                .to_owned(),
        }
    }
}

/// Generate images from a prompt.
///
/// Answers the images as JSON, or as server-sent events when the body sets `stream: true`.
#[utoipa::path(
    post,
    path = "/generate",
    tag = "native",
    request_body(content = GenerateRequestDoc, content_type = "application/json"),
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
    JsonBody(params): JsonBody<GenerateParams>,
) -> Result<Response, ApiError> {
    answer(state, ctx, base, JobParams::Generate(params), Shape::Native).await
}

/// Runs a job and answers natively: server-sent events when it asks for a stream, else the
/// Appendix A JSON.
///
/// # Errors
/// The service's errors, with the request id.
pub async fn answer(
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
        Shape::Native => {
            images.to_json(&GenerateResponse::new(&state, &base, &generation, &images))
        }
        Shape::OpenAi => images.to_json(&super::openai::images_response(
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

/// Which answer shape a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The PRD's Appendix A ([`GenerateResponse`]).
    Native,
    /// OpenAI's `ImagesResponse`.
    OpenAi,
}

/// What the access log records of a finished generation.
pub fn summary(generation: &Generation) -> RequestSummary {
    RequestSummary {
        model: generation.model.clone(),
        cost: generation.cost,
        images: generation.images.len(),
    }
}
