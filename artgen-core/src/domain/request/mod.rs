//! The generate request: the caller's parameters as parsed, and the validated request that is
//! the only thing a provider accepts.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::{Catalog, ModelFamily, ModelSpec, UnknownParams};
use super::options::{
    Background, Complexity, Dimensions, Moderation, OutputFormat, Quality, ResponseFormat,
    SizeSpec, Style,
};
use super::pricing::PriceKey;
use super::usage::Operation;
use crate::error::{Error, ErrorCode, Result};

/// The parameters of a generation (the PRD's Appendix A plus every parameter of the
/// upstream's current `CreateImageRequest`), as a driving adapter read them from its wire
/// format (artgen-http's DTOs convert into this). Nothing here is trusted until
/// [`GenerateParams::validate`] turns it into a [`GenerateRequest`].
///
/// Parameters ArtGen does not know land in [`GenerateParams::extra`]: forwarded to the upstream
/// unchanged, or refused, as the catalogue's [`UnknownParams`] policy says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateParams {
    /// Model id or alias; empty means the operation's default model.
    pub model: String,
    /// What to draw.
    pub prompt: String,
    /// How many images (default 1).
    pub n: Option<u32>,
    /// `auto` or `WIDTHxHEIGHT`.
    pub size: Option<String>,
    /// Rendering quality.
    pub quality: Option<Quality>,
    /// Output encoding (the wire's `format`, or its synonym `output_format`).
    pub format: Option<OutputFormat>,
    /// 0–100, jpeg/webp only (100, the default, is accepted with any format).
    pub output_compression: Option<u32>,
    /// Background.
    pub background: Option<Background>,
    /// Moderation strictness.
    pub moderation: Option<Moderation>,
    /// Planning effort (gpt-image-2.5).
    pub complexity: Option<Complexity>,
    /// DALL·E 3 style.
    pub style: Option<Style>,
    /// Server-sent events.
    pub stream: Option<bool>,
    /// Partial images while streaming (0–3; ignored without `stream`).
    pub partial_images: Option<u32>,
    /// Frames of a GIF (2–16, default 9).
    pub frame_count: Option<u32>,
    /// Duration of each GIF frame in milliseconds (default 200).
    pub frame_duration_ms: Option<u32>,
    /// SVG authoring options (`{"model": …, "reasoning": {"effort": …}}`), svg only.
    pub svg: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether the answer carries base64 bytes (`b64_json`, default) or only URLs (`url`).
    pub response_format: Option<ResponseFormat>,
    /// End-user id forwarded upstream (deprecated upstream in favour of `safety_identifier`).
    pub user: Option<String>,
    /// End-user id for the upstream's abuse monitoring; a non-empty value wins over `user`.
    pub safety_identifier: Option<String>,
    /// Parameters ArtGen does not know, by name.
    pub extra: BTreeMap<String, serde_json::Value>,
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
    complexity: Option<Complexity>,
    style: Option<Style>,
    stream: bool,
    partial_images: Option<u8>,
    frame_count: Option<u8>,
    frame_duration_ms: Option<u32>,
    svg: Option<serde_json::Map<String, serde_json::Value>>,
    response_format: ResponseFormat,
    safety_identifier: Option<String>,
    safety_identifier_param: &'static str,
    forwarded: BTreeMap<String, serde_json::Value>,
}

const MAX_USER_CHARS: usize = 256;
/// Longest GIF frame accepted, ms (the upstream documents no bound).
const MAX_FRAME_DURATION_MS: u32 = 60_000;

impl GenerateParams {
    /// Validates a generation against the catalogue.
    ///
    /// # Errors
    /// See [`GenerateParams::validate_for`].
    pub fn validate(self, catalog: &Catalog) -> Result<GenerateRequest> {
        self.validate_for(catalog, Operation::Generate)
    }

    /// Validates the options of an `operation` against the catalogue; an empty model means
    /// that operation's default.
    ///
    /// # Errors
    /// `model_not_found` / `model_unpriced` for the model (see [`Catalog::resolve`]);
    /// `invalid_value` naming the offending parameter for any rule of the model: blank or long
    /// prompt, `n`, size, quality, format, compression, background, moderation, complexity,
    /// style, streaming, partial images, GIF frames, SVG options, user ids; `unknown_parameter`
    /// for a parameter ArtGen does not know when the policy rejects them.
    pub fn validate_for(self, catalog: &Catalog, operation: Operation) -> Result<GenerateRequest> {
        let model = catalog.resolve(&self.model, operation)?;
        let forwarded = check_unknown(self.extra, catalog.policy().unknown_params)?;
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

        let quality = match self.quality {
            None => None,
            Some(q) if m.qualities.contains(&q) => Some(q),
            Some(q) => {
                return Err(Error::invalid_param(
                    "quality",
                    format!(
                        "quality '{q}' is not accepted by model '{}'; use one of: {}",
                        m.id,
                        join(&m.qualities)
                    ),
                ))
            }
        }
        // `auto` means the model's default where the model has no `auto` of its own (DALL·E).
        .map(|q| match q {
            Quality::Auto if m.default_quality != Quality::Auto => m.default_quality,
            q => q,
        });
        let format_param = "output_format";
        if let Some(f) = self.format {
            if !m.output_formats.contains(&f) {
                return Err(Error::invalid_param(
                    format_param,
                    format!(
                        "output_format '{f}' is not accepted by model '{}'; use one of: {}",
                        m.id,
                        join(&m.output_formats)
                    ),
                ));
            }
        }
        let format = self.format.unwrap_or(OutputFormat::Png);
        let output_compression = match self.output_compression {
            None => None,
            Some(c) if c > 100 => {
                return Err(Error::invalid_param(
                    "output_compression",
                    "output_compression must be 0-100",
                ))
            }
            Some(_) if !m.output_compression => return Err(unsupported("output_compression")),
            Some(_) if format == OutputFormat::Svg => {
                return Err(Error::invalid_param(
                    "output_compression",
                    "output_compression does not apply to svg",
                ))
            }
            // 100 is the default: harmless with any format, and not forwarded.
            Some(100) if !matches!(format, OutputFormat::Jpeg | OutputFormat::Webp) => None,
            Some(_) if !matches!(format, OutputFormat::Jpeg | OutputFormat::Webp) => {
                return Err(Error::invalid_param(
                    "output_compression",
                    "output_compression below 100 applies only to output_format jpeg or webp",
                ));
            }
            Some(c) => u8::try_from(c).ok(),
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
            if b == Background::Transparent && !format.supports_alpha() {
                return Err(Error::invalid_param(
                    "background",
                    "a transparent background needs output_format png, webp, gif or svg",
                ));
            }
        }
        if self.moderation.is_some() && !m.moderation {
            return Err(unsupported("moderation"));
        }
        if self.complexity.is_some() && !m.complexity {
            return Err(unsupported("complexity"));
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
            Some(p) if p > 3 => {
                return Err(Error::invalid_param(
                    "partial_images",
                    "partial_images must be 0-3",
                ))
            }
            // Without a stream the parameter has no effect, as upstream: accepted, not sent.
            Some(_) if !stream => None,
            Some(p) if p > u32::from(m.max_partial_images) => {
                return Err(Error::invalid_param(
                    "partial_images",
                    format!(
                        "model '{}' sends at most {} partial images",
                        m.id, m.max_partial_images
                    ),
                ))
            }
            Some(p) => u8::try_from(p).ok(),
        };
        let (frame_count, frame_duration_ms) =
            gif_options(m, format, self.frame_count, self.frame_duration_ms)?;
        let svg = svg_options(m, format, self.svg, n, stream, partial_images)?;
        for (param, id) in [
            ("user", &self.user),
            ("safety_identifier", &self.safety_identifier),
        ] {
            if let Some(id) = id {
                if id.chars().count() > MAX_USER_CHARS || id.chars().any(char::is_control) {
                    return Err(Error::invalid_param(
                        param,
                        format!("{param} must be at most {MAX_USER_CHARS} printable characters"),
                    ));
                }
            }
        }
        let (safety_identifier, safety_identifier_param) =
            match (self.safety_identifier.filter(|s| !s.is_empty()), self.user) {
                (Some(id), _) => (Some(id), "safety_identifier"),
                (None, user) => (user.filter(|u| !u.is_empty()), "user"),
            };

        Ok(GenerateRequest {
            model,
            prompt,
            n,
            size,
            quality,
            output_format: self.format,
            output_compression,
            background: self.background,
            moderation: self.moderation,
            complexity: self.complexity,
            style: self.style,
            stream,
            partial_images,
            frame_count,
            frame_duration_ms,
            svg,
            response_format: self.response_format.unwrap_or(ResponseFormat::B64Json),
            safety_identifier,
            safety_identifier_param,
            forwarded,
        })
    }
}

/// Most unknown parameters one request may forward.
const MAX_FORWARDED: usize = 32;

/// Applies the unknown-parameter policy: the parameters to forward, or the refusal. A name
/// no parameter could have (`[A-Za-z0-9_]`, at most 64 bytes) is refused under either policy.
fn check_unknown(
    extra: BTreeMap<String, serde_json::Value>,
    policy: UnknownParams,
) -> Result<BTreeMap<String, serde_json::Value>> {
    let refuse = |name: &str, why: &str| {
        Error::new(
            ErrorCode::UnknownParameter,
            format!("unknown parameter '{}'{why}", truncate(name)),
        )
        .with_param(truncate(name))
    };
    for name in extra.keys() {
        let plausible = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plausible {
            return Err(refuse(name, ": not a parameter name"));
        }
        if policy == UnknownParams::Reject {
            return Err(refuse(name, ""));
        }
    }
    if extra.len() > MAX_FORWARDED {
        return Err(Error::new(
            ErrorCode::UnknownParameter,
            format!("at most {MAX_FORWARDED} unknown parameters are forwarded"),
        ));
    }
    Ok(extra)
}

fn gif_options(
    m: &ModelSpec,
    format: OutputFormat,
    frame_count: Option<u32>,
    frame_duration_ms: Option<u32>,
) -> Result<(Option<u8>, Option<u32>)> {
    if format != OutputFormat::Gif {
        for (param, present) in [
            ("frame_count", frame_count.is_some()),
            ("frame_duration_ms", frame_duration_ms.is_some()),
        ] {
            if present {
                return Err(Error::invalid_param(
                    param,
                    format!("{param} applies only to output_format gif"),
                ));
            }
        }
        return Ok((None, None));
    }
    let Some(gif) = m.gif else {
        return Ok((None, None));
    };
    let frames = match frame_count {
        None => None,
        Some(c) => Some(
            u8::try_from(c)
                .ok()
                .filter(|c| (gif.min_frames..=gif.max_frames).contains(c))
                .ok_or_else(|| {
                    Error::invalid_param(
                        "frame_count",
                        format!("frame_count must be {}-{}", gif.min_frames, gif.max_frames),
                    )
                })?,
        ),
    };
    if let Some(ms) = frame_duration_ms {
        if ms == 0 || ms > MAX_FRAME_DURATION_MS {
            return Err(Error::invalid_param(
                "frame_duration_ms",
                format!("frame_duration_ms must be 1-{MAX_FRAME_DURATION_MS}"),
            ));
        }
    }
    Ok((frames, frame_duration_ms))
}

fn svg_options(
    m: &ModelSpec,
    format: OutputFormat,
    svg: Option<serde_json::Map<String, serde_json::Value>>,
    n: ImageCount,
    stream: bool,
    partial_images: Option<u8>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    if format != OutputFormat::Svg {
        return match svg {
            Some(_) => Err(Error::invalid_param(
                "svg",
                "svg options apply only to output_format svg",
            )),
            None => Ok(None),
        };
    }
    if n.get() != 1 {
        return Err(Error::invalid_param(
            "n",
            "output_format svg makes one image: n = 1",
        ));
    }
    if stream {
        return Err(Error::invalid_param(
            "stream",
            "output_format svg does not stream",
        ));
    }
    if partial_images.is_some_and(|p| p > 0) {
        return Err(Error::invalid_param(
            "partial_images",
            "output_format svg sends no partial images",
        ));
    }
    if svg.is_some() && !m.svg {
        return Err(Error::invalid_param(
            "svg",
            format!("svg options are not supported by model '{}'", m.id),
        ));
    }
    if !m.pricing.prices_svg() && m.pricing.is_known() && m.known {
        return Err(Error::new(
            ErrorCode::ModelUnpriced,
            format!(
                "SVG authoring has no known price for model '{}'; the operator sets \
                 catalog.models.\"{}\".price.svg_input_per_mtok and svg_output_per_mtok",
                m.id, m.id
            ),
        )
        .with_param("output_format"));
    }
    Ok(svg)
}

fn parse_size(size: Option<&str>, m: &ModelSpec) -> Result<SizeSpec> {
    let Some(text) = size else {
        return Ok(match m.default_size {
            Some(d) if !m.sizes.accepts_auto() => SizeSpec::Exact(d),
            _ if m.sizes.accepts_auto() => SizeSpec::Auto,
            _ => SizeSpec::Exact(Dimensions::new(1024, 1024)),
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

    /// Makes the request at `quality` instead (a budget policy lowering it); the model must
    /// accept it.
    pub(crate) fn set_quality(&mut self, quality: Quality) {
        self.quality = Some(quality);
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
    /// Planning effort.
    pub fn complexity(&self) -> Option<Complexity> {
        self.complexity
    }
    /// Style.
    pub fn style(&self) -> Option<Style> {
        self.style
    }
    /// GIF frames, where sent.
    pub fn frame_count(&self) -> Option<u8> {
        self.frame_count
    }
    /// GIF frame duration, where sent.
    pub fn frame_duration_ms(&self) -> Option<u32> {
        self.frame_duration_ms
    }
    /// SVG authoring options, where sent.
    pub fn svg(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.svg.as_ref()
    }
    /// Parameters ArtGen does not know, forwarded unchanged.
    pub fn forwarded(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.forwarded
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
    /// The effective end-user id: a non-empty `safety_identifier`, else `user`.
    pub fn safety_identifier(&self) -> Option<&str> {
        self.safety_identifier.as_deref()
    }
    /// The parameter the effective end-user id came from (`safety_identifier` or `user`), so
    /// an adapter forwards it under the name the caller used.
    pub fn safety_identifier_param(&self) -> &'static str {
        self.safety_identifier_param
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
