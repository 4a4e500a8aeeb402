//! One unit of work for a provider: a validated generation, edit or variation.

use std::sync::Arc;

use super::edit::{EditParams, EditRequest, InputFidelity, VariationParams, VariationRequest};
use super::model::{Catalog, ModelSpec};
use super::options::{Background, OutputFormat, Quality, ResponseFormat, SizeSpec};
use super::pricing::{Money, PriceKey, Pricing, TokenUsage};
use super::request::{GenerateParams, GenerateRequest, ImageCount};
use super::usage::Operation;
use crate::error::Result;

/// Input tokens an input image is estimated at (one 512 px tile on gpt-image-1).
const INPUT_IMAGE_TOKENS: u64 = 194;
/// Extra input tokens estimated for a high-fidelity input image.
const HIGH_FIDELITY_EXTRA_TOKENS: u64 = 4096;

/// Unvalidated parameters of any operation.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per request, moved once into validation; boxing buys nothing"
)]
pub enum JobParams {
    /// Text to image.
    Generate(GenerateParams),
    /// Image edit.
    Edit(EditParams),
    /// Image variation.
    Variation(VariationParams),
}

impl JobParams {
    /// Validates into a job.
    ///
    /// # Errors
    /// The errors of the operation's validator.
    pub fn validate(self, catalog: &Catalog) -> Result<ImageJob> {
        Ok(match self {
            JobParams::Generate(p) => ImageJob::Generate(p.validate(catalog)?),
            JobParams::Edit(p) => ImageJob::Edit(p.validate(catalog)?),
            JobParams::Variation(p) => ImageJob::Variation(p.validate(catalog)?),
        })
    }

    /// Whether the caller asked for a stream (before validation).
    pub fn wants_stream(&self) -> bool {
        match self {
            JobParams::Generate(p) => p.stream == Some(true),
            JobParams::Edit(p) => p.options.stream == Some(true),
            JobParams::Variation(_) => false,
        }
    }
}

/// A validated request of any operation: the only thing a provider accepts.
#[derive(Debug, Clone)]
pub enum ImageJob {
    /// Text to image.
    Generate(GenerateRequest),
    /// Image edit.
    Edit(EditRequest),
    /// Image variation.
    Variation(VariationRequest),
}

impl From<GenerateRequest> for ImageJob {
    fn from(r: GenerateRequest) -> Self {
        ImageJob::Generate(r)
    }
}

impl ImageJob {
    /// The generation options of any job (a variation's prompt is a stand-in, never sent).
    pub fn options(&self) -> &GenerateRequest {
        match self {
            ImageJob::Generate(r) => r,
            ImageJob::Edit(e) => e.base(),
            ImageJob::Variation(v) => v.options(),
        }
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        match self {
            ImageJob::Generate(_) => Operation::Generate,
            ImageJob::Edit(_) => Operation::Edit,
            ImageJob::Variation(_) => Operation::Variation,
        }
    }

    /// The model.
    pub fn model(&self) -> &Arc<ModelSpec> {
        self.options().model()
    }

    /// Images asked for.
    pub fn n(&self) -> ImageCount {
        self.options().n()
    }

    /// Size asked for.
    pub fn size(&self) -> SizeSpec {
        match self {
            ImageJob::Variation(v) => SizeSpec::Exact(v.size()),
            other => other.options().size(),
        }
    }

    /// The prompt (empty for variations).
    pub fn prompt(&self) -> &str {
        match self {
            ImageJob::Variation(_) => "",
            other => other.options().prompt().as_str(),
        }
    }

    /// Quality used for pricing and display.
    pub fn effective_quality(&self) -> Quality {
        self.options().effective_quality()
    }

    /// Lowers `quality: high` to `medium` where the model takes `medium` (a budget past its
    /// soft threshold); the qualities before and after, when it changed.
    pub fn downgrade_quality(&mut self) -> Option<(Quality, Quality)> {
        let (from, to) = (Quality::High, Quality::Medium);
        if self.effective_quality() != from || !self.model().qualities.contains(&to) {
            return None;
        }
        match self {
            ImageJob::Generate(r) => r.set_quality(to),
            ImageJob::Edit(e) => e.base_mut().set_quality(to),
            ImageJob::Variation(_) => return None,
        }
        Some((from, to))
    }

    /// Format the images will have.
    pub fn effective_format(&self) -> OutputFormat {
        self.options().effective_format()
    }

    /// Requested background.
    pub fn background(&self) -> Option<Background> {
        self.options().background()
    }

    /// How the answer carries images.
    pub fn response_format(&self) -> ResponseFormat {
        self.options().response_format()
    }

    /// The effective end-user id.
    pub fn safety_identifier(&self) -> Option<&str> {
        self.options().safety_identifier()
    }

    /// Whether the caller asked for a stream.
    pub fn stream(&self) -> bool {
        self.options().stream()
    }

    /// Partial images while streaming.
    pub fn partial_images(&self) -> u8 {
        self.options().partial_images().unwrap_or(0)
    }

    /// Names of the parameters ArtGen did not know and forwards unchanged.
    pub fn forwarded_params(&self) -> Vec<String> {
        self.options().forwarded().keys().cloned().collect()
    }

    /// Whether the job has a known price (the model's, and SVG authoring's where asked for).
    pub fn is_priced(&self) -> bool {
        let pricing = &self.model().pricing;
        pricing.is_known() && (self.effective_format() != OutputFormat::Svg || pricing.prices_svg())
    }

    /// The key into the model's price table.
    pub fn price_key(&self) -> PriceKey {
        match self {
            ImageJob::Variation(v) => PriceKey {
                quality: Quality::Standard,
                size: Some(v.size()),
            },
            other => other.options().price_key(),
        }
    }

    fn input_image_tokens(&self) -> u64 {
        let ImageJob::Edit(e) = self else { return 0 };
        let per_image = INPUT_IMAGE_TOKENS
            + match e.input_fidelity() {
                Some(InputFidelity::High) => HIGH_FIDELITY_EXTRA_TOKENS,
                _ => 0,
            };
        per_image * e.images().len() as u64
    }

    /// Estimated usage and cost before the call.
    pub fn estimate(&self) -> (Option<TokenUsage>, Money) {
        let model = self.model();
        let (usage, cost) = model
            .pricing
            .estimate(self.price_key(), self.n().get(), self.prompt());
        match (usage, &model.pricing) {
            (Some(mut usage), Pricing::Tokens(rates)) => {
                usage.input_image_tokens += self.input_image_tokens();
                (Some(usage), rates.cost(&usage))
            }
            (usage, _) => (usage, cost),
        }
    }

    /// The settled cost of `images` delivered images: from the upstream's usage where the model
    /// bills tokens and usage was reported, else from the estimate for that many images.
    pub fn settle(&self, usage: Option<&TokenUsage>, images: u8) -> Money {
        match (usage, &self.model().pricing) {
            (Some(usage), Pricing::Tokens(rates)) => rates.cost(usage),
            _ => {
                self.model()
                    .pricing
                    .estimate(self.price_key(), images, self.prompt())
                    .1
            }
        }
    }
}
