//! The native answer of `/generate`, `/edit` and `/variation` (the PRD's Appendix A).

use artgen_core::domain::{ResponseFormat, TokenUsage};
use artgen_core::Generation;
use serde::Serialize;

use crate::inline::{Inline, InlineImages};
use crate::routes::images::{signed_url, BaseUrl};
use crate::state::AppState;

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
    /// Present when a budget past its soft threshold lowered the quality (with
    /// `budget.downgrade_quality` on): what was asked for and what was made, e.g.
    /// `high->medium` (also the `x-artgen-quality-downgraded` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality_downgraded: Option<String>,
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
            quality_downgraded: generation
                .quality_downgraded
                .map(|(asked, made)| format!("{asked}->{made}")),
        }
    }
}
