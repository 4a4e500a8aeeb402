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
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::model::SizeRule;

    fn params(model: &str) -> GenerateParams {
        GenerateParams {
            model: model.into(),
            prompt: "a cat".into(),
            ..Default::default()
        }
    }

    fn refused(p: GenerateParams) -> Error {
        p.validate(&Catalog::default())
            .expect_err("must be refused")
    }

    #[test]
    fn accepts_the_appendix_a_example() {
        let p = GenerateParams {
            model: "gpt-image-1".into(),
            prompt: "Castle on a cliff at dawn".into(),
            n: Some(1),
            size: Some("1024x1024".into()),
            quality: Some(Quality::Medium),
            format: Some(OutputFormat::Png),
            background: Some(Background::Auto),
            ..Default::default()
        };
        let r = p.validate(&Catalog::default()).expect("valid");
        assert_eq!(r.size(), SizeSpec::Exact(Dimensions::new(1024, 1024)));
        assert_eq!(r.effective_quality(), Quality::Medium);
    }

    #[test]
    fn names_the_bad_parameter() {
        let cases: Vec<(GenerateParams, &str)> = vec![
            (params("dall-e-4"), "model"),
            (
                GenerateParams {
                    prompt: "  ".into(),
                    ..params("gpt-image-1")
                },
                "prompt",
            ),
            (
                GenerateParams {
                    prompt: "x".repeat(1001),
                    ..params("dall-e-2")
                },
                "prompt",
            ),
            (
                GenerateParams {
                    n: Some(2),
                    ..params("dall-e-3")
                },
                "n",
            ),
            (
                GenerateParams {
                    n: Some(0),
                    ..params("gpt-image-1")
                },
                "n",
            ),
            (
                GenerateParams {
                    n: Some(11),
                    ..params("dall-e-2")
                },
                "n",
            ),
            (
                GenerateParams {
                    size: Some("512x512".into()),
                    ..params("gpt-image-1")
                },
                "size",
            ),
            (
                GenerateParams {
                    size: Some("auto".into()),
                    ..params("dall-e-3")
                },
                "size",
            ),
            (
                GenerateParams {
                    size: Some("big".into()),
                    ..params("gpt-image-2")
                },
                "size",
            ),
            (
                GenerateParams {
                    quality: Some(Quality::Hd),
                    ..params("gpt-image-1")
                },
                "quality",
            ),
            (
                GenerateParams {
                    quality: Some(Quality::High),
                    ..params("dall-e-3")
                },
                "quality",
            ),
            (
                GenerateParams {
                    format: Some(OutputFormat::Webp),
                    ..params("dall-e-2")
                },
                "format",
            ),
            (
                GenerateParams {
                    output_compression: Some(50),
                    ..params("gpt-image-1")
                },
                "output_compression",
            ),
            (
                GenerateParams {
                    output_compression: Some(101),
                    format: Some(OutputFormat::Jpeg),
                    ..params("gpt-image-1")
                },
                "output_compression",
            ),
            (
                GenerateParams {
                    background: Some(Background::Opaque),
                    ..params("dall-e-3")
                },
                "background",
            ),
            (
                GenerateParams {
                    background: Some(Background::Transparent),
                    format: Some(OutputFormat::Jpeg),
                    ..params("gpt-image-1")
                },
                "background",
            ),
            (
                GenerateParams {
                    moderation: Some(Moderation::Low),
                    ..params("dall-e-3")
                },
                "moderation",
            ),
            (
                GenerateParams {
                    style: Some(Style::Vivid),
                    ..params("gpt-image-1")
                },
                "style",
            ),
            (
                GenerateParams {
                    stream: Some(true),
                    ..params("dall-e-2")
                },
                "stream",
            ),
            (
                GenerateParams {
                    partial_images: Some(2),
                    ..params("gpt-image-1")
                },
                "partial_images",
            ),
            (
                GenerateParams {
                    user: Some("x".repeat(300)),
                    ..params("gpt-image-1")
                },
                "user",
            ),
        ];
        for (p, param) in cases {
            let err = refused(p.clone());
            assert_eq!(err.param(), Some(param), "{p:?} → {err}");
        }
    }

    #[test]
    fn dall_e_defaults_to_its_largest_square_and_standard_quality() {
        let r = params("dall-e-2")
            .validate(&Catalog::default())
            .expect("valid");
        assert_eq!(r.size(), SizeSpec::Exact(Dimensions::new(1024, 1024)));
        assert_eq!(r.effective_quality(), Quality::Standard);
    }

    fn any_params() -> impl Strategy<Value = GenerateParams> {
        let models = Catalog::default()
            .models()
            .map(|m| m.id.clone())
            .collect::<Vec<_>>();
        let sizes = prop_oneof![
            Just(None),
            Just(Some("auto".to_string())),
            prop::sample::select(vec![
                "256x256",
                "512x512",
                "1024x1024",
                "1536x1024",
                "1024x1536",
                "1792x1024",
                "1024x1792",
                "2048x1152",
                "1000x1000",
                "3840x2160",
                "4000x4000",
                "16x4096"
            ])
            .prop_map(|s| Some(s.to_string())),
            (1u32..5000, 1u32..5000).prop_map(|(w, h)| Some(format!("{w}x{h}"))),
        ];
        (
            prop::sample::select(models),
            prop_oneof![
                Just(String::new()),
                "[a-z ]{1,40}",
                Just("y".repeat(1500)),
                Just("z".repeat(5000))
            ],
            prop::option::of(0u32..14),
            sizes,
            prop::option::of(prop::sample::select(Quality::ALL.to_vec())),
            prop::option::of(prop::sample::select(OutputFormat::ALL.to_vec())),
            prop::option::of(0u32..120),
            prop::option::of(prop::sample::select(Background::ALL.to_vec())),
            prop::option::of(prop::sample::select(Moderation::ALL.to_vec())),
            prop::option::of(prop::sample::select(Style::ALL.to_vec())),
            (prop::option::of(any::<bool>()), prop::option::of(0u32..6)),
        )
            .prop_map(
                |(
                    model,
                    prompt,
                    n,
                    size,
                    quality,
                    format,
                    output_compression,
                    background,
                    moderation,
                    style,
                    (stream, partial_images),
                )| {
                    GenerateParams {
                        model,
                        prompt,
                        n,
                        size,
                        quality,
                        format,
                        output_compression,
                        background,
                        moderation,
                        style,
                        stream,
                        partial_images,
                        response_format: None,
                        user: None,
                    }
                },
            )
    }

    /// An independent statement of the capability matrix: which param, if any, is wrong.
    fn first_violation(p: &GenerateParams, m: &ModelSpec) -> Option<&'static str> {
        let chars = p.prompt.chars().count();
        if p.prompt.trim().is_empty() || chars > m.max_prompt_chars as usize {
            return Some("prompt");
        }
        if let Some(n) = p.n {
            if n == 0 || n > u32::from(m.max_n) {
                return Some("n");
            }
        }
        if let Some(size) = &p.size {
            let ok = if size == "auto" {
                m.sizes.accepts_auto()
            } else {
                match (Dimensions::parse(size), &m.sizes) {
                    (None, _) => false,
                    (Some(d), SizeRule::Fixed { sizes, .. }) => sizes.contains(&d),
                    (Some(d), SizeRule::Free { .. }) => {
                        let (w, h) = (d.width, d.height);
                        w % 16 == 0
                            && h % 16 == 0
                            && w.max(h) <= 3840
                            && w.max(h) <= 3 * w.min(h)
                            && (655_360..=8_294_400).contains(&d.pixels())
                    }
                }
            };
            if !ok {
                return Some("size");
            }
        }
        if p.quality.is_some_and(|q| !m.qualities.contains(&q)) {
            return Some("quality");
        }
        if p.format.is_some_and(|f| !m.output_formats.contains(&f)) {
            return Some("format");
        }
        if let Some(c) = p.output_compression {
            if !m.output_compression
                || !matches!(p.format, Some(OutputFormat::Jpeg | OutputFormat::Webp))
                || c > 100
            {
                return Some("output_compression");
            }
        }
        if let Some(b) = p.background {
            if !m.backgrounds.contains(&b)
                || (b == Background::Transparent && p.format == Some(OutputFormat::Jpeg))
            {
                return Some("background");
            }
        }
        if p.moderation.is_some() && !m.moderation {
            return Some("moderation");
        }
        if p.style.is_some_and(|s| !m.styles.contains(&s)) {
            return Some("style");
        }
        let stream = p.stream.unwrap_or(false);
        if stream && !m.streaming {
            return Some("stream");
        }
        if let Some(pi) = p.partial_images {
            if !stream || pi > 3 {
                return Some("partial_images");
            }
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn validator_agrees_with_the_capability_matrix(p in any_params()) {
            let catalog = Catalog::default();
            let model = catalog.get(&p.model).expect("generated from the catalogue").clone();
            let expected = first_violation(&p, &model);
            match (p.clone().validate(&catalog), expected) {
                (Ok(r), None) => {
                    // Everything accepted is allowed by the matrix.
                    prop_assert!(r.n().get() >= 1 && r.n().get() <= model.max_n);
                    if let SizeSpec::Exact(d) = r.size() {
                        prop_assert!(model.sizes.check(d).is_ok());
                    }
                    prop_assert!(model.qualities.contains(&r.effective_quality()));
                }
                (Err(err), Some(param)) => prop_assert_eq!(err.param(), Some(param), "{}", err),
                (Ok(_), Some(param)) => prop_assert!(false, "accepted, but {} is invalid", param),
                (Err(err), None) => prop_assert!(false, "refused a valid request: {}", err),
            }
        }
    }
}
