//! The generate request: the caller's parameters as parsed, and the validated request that is
//! the only thing a provider accepts.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{Catalog, ModelFamily, ModelSpec};
use super::options::{
    Background, Dimensions, Moderation, OutputFormat, Quality, ResponseFormat, SizeSpec, Style,
};
use super::pricing::PriceKey;
use crate::error::{Error, Result};

/// Parameters of `POST /generate` as the caller sent them (the PRD's Appendix A plus the
/// upstream's optional fields). Unknown fields are refused. Nothing here is trusted until
/// [`GenerateParams::validate`] turns it into a [`GenerateRequest`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateParams {
    /// Model id or alias.
    pub model: String,
    /// What to draw.
    pub prompt: String,
    /// How many images (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// `auto` or `WIDTHxHEIGHT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Rendering quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// Output encoding (`output_format` is accepted as a synonym).
    #[serde(
        default,
        alias = "output_format",
        skip_serializing_if = "Option::is_none"
    )]
    pub format: Option<OutputFormat>,
    /// 0–100, jpeg/webp only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_compression: Option<u32>,
    /// Background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Background>,
    /// Moderation strictness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Moderation>,
    /// DALL·E 3 style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
    /// Server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Partial images while streaming (0–3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_images: Option<u32>,
    /// Whether the answer carries base64 bytes (`b64_json`, default) or only URLs (`url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// End-user id forwarded upstream for abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A prompt that is non-blank and within the model's length limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt(String);

impl Prompt {
    /// Checks a prompt against a length limit in characters.
    ///
    /// # Errors
    /// `invalid_request` with `param = "prompt"` when blank or too long.
    pub fn new(text: String, max_chars: u32) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(Error::invalid_param("prompt", "prompt must not be empty"));
        }
        let chars = text.chars().count();
        if chars > max_chars as usize {
            return Err(Error::invalid_param(
                "prompt",
                format!("prompt is {chars} characters; this model accepts at most {max_chars}"),
            ));
        }
        Ok(Self(text))
    }

    /// The prompt text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A number of images within the model's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageCount(u8);

impl ImageCount {
    /// Checks `n` against `1..=max`.
    ///
    /// # Errors
    /// `invalid_request` with `param = "n"` when out of range.
    pub fn new(n: u32, max: u8) -> Result<Self> {
        match u8::try_from(n) {
            Ok(v) if (1..=max).contains(&v) => Ok(Self(v)),
            _ if max == 1 => Err(Error::invalid_param("n", "this model accepts only n = 1")),
            _ => Err(Error::invalid_param(
                "n",
                format!("n must be between 1 and {max}"),
            )),
        }
    }

    /// The count.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A generate request that satisfies every rule of its model. Only [`GenerateParams::validate`]
/// makes one, so a provider never sees an invalid request.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    model: Arc<ModelSpec>,
    prompt: Prompt,
    n: ImageCount,
    size: SizeSpec,
    quality: Option<Quality>,
    output_format: Option<OutputFormat>,
    output_compression: Option<u8>,
    background: Option<Background>,
    moderation: Option<Moderation>,
    style: Option<Style>,
    stream: bool,
    partial_images: Option<u8>,
    response_format: ResponseFormat,
    user: Option<String>,
}

const MAX_USER_CHARS: usize = 256;

impl GenerateParams {
    /// Validates against the catalogue.
    ///
    /// # Errors
    /// `invalid_request` naming the offending parameter for any rule of the reference: unknown
    /// model, blank or long prompt, `n`, size, quality, format, compression, background,
    /// moderation, style, streaming, user.
    pub fn validate(self, catalog: &Catalog) -> Result<GenerateRequest> {
        let model = catalog.get(&self.model).cloned().ok_or_else(|| {
            Error::invalid_param(
                "model",
                format!("unknown model '{}'", truncate(&self.model)),
            )
        })?;
        let m = &*model;
        let unsupported = |param: &str| {
            Error::invalid_param(
                param,
                format!("{param} is not supported by model '{}'", m.id),
            )
        };

        let prompt = Prompt::new(self.prompt, m.max_prompt_chars)?;
        let n = ImageCount::new(self.n.unwrap_or(1), m.max_n)?;
        let size = parse_size(self.size.as_deref(), m)?;

        if let Some(q) = self.quality {
            if !m.qualities.contains(&q) {
                return Err(Error::invalid_param(
                    "quality",
                    format!("quality must be one of: {}", join(&m.qualities)),
                ));
            }
        }
        if let Some(f) = self.format {
            if !m.output_formats.contains(&f) {
                return Err(Error::invalid_param(
                    "format",
                    format!("format must be one of: {}", join(&m.output_formats)),
                ));
            }
        }
        let output_compression = match self.output_compression {
            None => None,
            Some(_) if !m.output_compression => return Err(unsupported("output_compression")),
            Some(_) if !matches!(self.format, Some(OutputFormat::Jpeg | OutputFormat::Webp)) => {
                return Err(Error::invalid_param(
                    "output_compression",
                    "output_compression applies only to format jpeg or webp",
                ));
            }
            Some(c) => Some(u8::try_from(c).ok().filter(|c| *c <= 100).ok_or_else(|| {
                Error::invalid_param("output_compression", "output_compression must be 0-100")
            })?),
        };
        if let Some(b) = self.background {
            if m.backgrounds.is_empty() {
                return Err(unsupported("background"));
            }
            if !m.backgrounds.contains(&b) {
                return Err(Error::invalid_param(
                    "background",
                    format!("background must be one of: {}", join(&m.backgrounds)),
                ));
            }
            let format = self.format.unwrap_or(OutputFormat::Png);
            if b == Background::Transparent && !format.supports_alpha() {
                return Err(Error::invalid_param(
                    "background",
                    "a transparent background needs format png or webp",
                ));
            }
        }
        if self.moderation.is_some() && !m.moderation {
            return Err(unsupported("moderation"));
        }
        if let Some(s) = self.style {
            if !m.styles.contains(&s) {
                return Err(unsupported("style"));
            }
        }
        let stream = self.stream.unwrap_or(false);
        if stream && !m.streaming {
            return Err(unsupported("stream"));
        }
        let partial_images = match self.partial_images {
            None => None,
            Some(_) if !stream => {
                return Err(Error::invalid_param(
                    "partial_images",
                    "partial_images applies only with stream: true",
                ));
            }
            Some(p) => Some(u8::try_from(p).ok().filter(|p| *p <= 3).ok_or_else(|| {
                Error::invalid_param("partial_images", "partial_images must be 0-3")
            })?),
        };
        if let Some(user) = &self.user {
            if user.chars().count() > MAX_USER_CHARS || user.chars().any(char::is_control) {
                return Err(Error::invalid_param(
                    "user",
                    format!("user must be at most {MAX_USER_CHARS} printable characters"),
                ));
            }
        }

        Ok(GenerateRequest {
            model,
            prompt,
            n,
            size,
            quality: self.quality,
            output_format: self.format,
            output_compression,
            background: self.background,
            moderation: self.moderation,
            style: self.style,
            stream,
            partial_images,
            response_format: self.response_format.unwrap_or(ResponseFormat::B64Json),
            user: self.user,
        })
    }
}

fn parse_size(size: Option<&str>, m: &ModelSpec) -> Result<SizeSpec> {
    let Some(text) = size else {
        return Ok(match &m.sizes {
            rule if rule.accepts_auto() => SizeSpec::Auto,
            super::model::SizeRule::Fixed { sizes, .. } => SizeSpec::Exact(
                sizes
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(Dimensions::new(1024, 1024)),
            ),
            super::model::SizeRule::Free { .. } => SizeSpec::Auto,
        });
    };
    let refuse = |why: String| Error::invalid_param("size", why);
    if text == "auto" {
        return if m.sizes.accepts_auto() {
            Ok(SizeSpec::Auto)
        } else {
            Err(refuse(format!(
                "size must be one of: {}",
                m.sizes.describe()
            )))
        };
    }
    let dims = Dimensions::parse(text).ok_or_else(|| {
        refuse(format!(
            "size '{}' is not WIDTHxHEIGHT or auto",
            truncate(text)
        ))
    })?;
    m.sizes.check(dims).map_err(refuse)?;
    Ok(SizeSpec::Exact(dims))
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

impl GenerateRequest {
    /// The model's full spec.
    pub fn model(&self) -> &Arc<ModelSpec> {
        &self.model
    }
    /// The prompt.
    pub fn prompt(&self) -> &Prompt {
        &self.prompt
    }
    /// Number of images.
    pub fn n(&self) -> ImageCount {
        self.n
    }
    /// Requested size.
    pub fn size(&self) -> SizeSpec {
        self.size
    }
    /// Requested quality (`None`: the upstream's default).
    pub fn quality(&self) -> Option<Quality> {
        self.quality
    }
    /// Quality for pricing and display: the requested one or the model's default.
    pub fn effective_quality(&self) -> Quality {
        self.quality.unwrap_or(self.model.default_quality)
    }
    /// Requested output format (`None`: the upstream's default, PNG).
    pub fn output_format(&self) -> Option<OutputFormat> {
        self.output_format
    }
    /// The format the images will have.
    pub fn effective_format(&self) -> OutputFormat {
        self.output_format.unwrap_or(OutputFormat::Png)
    }
    /// Compression, 0–100.
    pub fn output_compression(&self) -> Option<u8> {
        self.output_compression
    }
    /// Background.
    pub fn background(&self) -> Option<Background> {
        self.background
    }
    /// Moderation.
    pub fn moderation(&self) -> Option<Moderation> {
        self.moderation
    }
    /// Style.
    pub fn style(&self) -> Option<Style> {
        self.style
    }
    /// Whether the caller asked for server-sent events.
    pub fn stream(&self) -> bool {
        self.stream
    }
    /// Partial images while streaming.
    pub fn partial_images(&self) -> Option<u8> {
        self.partial_images
    }
    /// How the answer should carry the images.
    pub fn response_format(&self) -> ResponseFormat {
        self.response_format
    }
    /// End-user id for the upstream.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    /// The key into the model's price table.
    pub fn price_key(&self) -> PriceKey {
        PriceKey {
            quality: self.effective_quality(),
            size: match self.size {
                SizeSpec::Auto => None,
                SizeSpec::Exact(d) => Some(d),
            },
        }
    }
    /// Whether the model belongs to a family.
    pub fn is_family(&self, family: ModelFamily) -> bool {
        self.model.family == family
    }
}

#[cfg(test)]
mod tests;
