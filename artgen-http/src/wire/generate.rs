//! The JSON body of `POST /generate` and `/v1/images/generations`.

use std::collections::BTreeMap;

use artgen_core::domain::{
    Background, Catalog, Complexity, GenerateParams, Moderation, Operation, OutputFormat, Quality,
    ResponseFormat, Style,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::openapi::schemas::{
    BackgroundSchema, ComplexitySchema, ModerationSchema, OutputFormatSchema, QualitySchema,
    ResponseFormatSchema, StyleSchema,
};

/// The JSON body of `POST /generate` and `/v1/images/generations`. A parameter ArtGen does
/// not know is forwarded to the upstream unchanged (unless the operator refuses them: 400
/// `unknown_parameter`); its name must be 1–64 of `[A-Za-z0-9_]`, and at most 32 are
/// forwarded. Which values a model takes (sizes, qualities, `n`, prompt length, the options
/// only some models have) is checked against the catalogue: 400 `invalid_value` naming the
/// parameter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[schema(as = GenerateRequest)]
pub struct GenerateBody {
    /// Model id or configured alias; absent, `null` or empty: the catalogue's default for the
    /// operation.
    #[serde(default)]
    pub model: Option<String>,
    /// What to draw: non-blank; at most 32,000 characters (GPT image), 4,000 (dall-e-3) or
    /// 1,000 (dall-e-2).
    pub prompt: String,
    /// How many images, 1–10 (dall-e-3: 1). Default 1.
    #[schema(minimum = 1, maximum = 10)]
    pub n: Option<u32>,
    /// `auto` or `WIDTHxHEIGHT`; which sizes a model accepts is in the API guide.
    pub size: Option<String>,
    /// Rendering quality.
    #[schema(value_type = Option<QualitySchema>)]
    pub quality: Option<Quality>,
    /// Output encoding.
    // `output_format` (OpenAI's name) is a synonym; the document lists it on its own.
    #[serde(alias = "output_format")]
    #[schema(value_type = Option<OutputFormatSchema>)]
    pub format: Option<OutputFormat>,
    /// 0–100; GPT image with `jpeg` or `webp` only.
    #[schema(maximum = 100)]
    pub output_compression: Option<u32>,
    /// Background (GPT image).
    #[schema(value_type = Option<BackgroundSchema>)]
    pub background: Option<Background>,
    /// Moderation strictness (GPT image).
    #[schema(value_type = Option<ModerationSchema>)]
    pub moderation: Option<Moderation>,
    /// Style (dall-e-3).
    #[schema(value_type = Option<StyleSchema>)]
    pub style: Option<Style>,
    /// Answer with server-sent events (GPT image).
    pub stream: Option<bool>,
    /// Partial images while streaming, 0–3 (needs `stream: true`).
    #[schema(maximum = 3)]
    pub partial_images: Option<u32>,
    /// Images inline (`b64_json`, default) or as URLs only.
    #[schema(value_type = Option<ResponseFormatSchema>)]
    pub response_format: Option<ResponseFormat>,
    /// End-user id forwarded upstream: at most 256 printable characters (deprecated upstream
    /// in favour of `safety_identifier`).
    #[schema(max_length = 256)]
    pub user: Option<String>,
    /// Planning effort (gpt-image-2.5).
    #[schema(value_type = Option<ComplexitySchema>)]
    pub complexity: Option<Complexity>,
    /// Frames of an animated GIF, 2–16 (default 9); `output_format: gif` only.
    #[schema(minimum = 2, maximum = 16)]
    pub frame_count: Option<u32>,
    /// Duration of each GIF frame in ms (default 200); `output_format: gif` only.
    #[schema(minimum = 1, maximum = 60000)]
    pub frame_duration_ms: Option<u32>,
    /// SVG authoring options, e.g. `{"model": "…", "reasoning": {"effort": "high"}}`;
    /// `output_format: svg` only (then `n` is 1 and there is no streaming).
    #[schema(value_type = Option<Object>)]
    pub svg: Option<Map<String, Value>>,
    /// End-user id for the upstream's abuse monitoring (OpenAI's replacement of `user`); a
    /// non-empty value wins over `user`. At most 256 printable characters.
    #[schema(max_length = 256)]
    pub safety_identifier: Option<String>,
    /// Parameters ArtGen does not know, by name (the catalogue's `unknown_params` policy
    /// forwards or refuses them).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl GenerateBody {
    /// Applies the `/v1` routes' defaults (see [`openai_response_format`]).
    #[must_use]
    pub fn with_openai_defaults(mut self, catalog: &Catalog, operation: Operation) -> Self {
        self.response_format = openai_response_format(
            catalog,
            operation,
            self.model.as_deref(),
            self.response_format,
        );
        self
    }
}

/// The upstream's one default that differs from the native routes': DALL·E answers with URLs
/// unless `response_format` says otherwise. (The model's own default, when `model` is absent,
/// `null` or empty, is the catalogue's per-operation default, as on the native routes.)
pub fn openai_response_format(
    catalog: &Catalog,
    operation: Operation,
    model: Option<&str>,
    asked: Option<ResponseFormat>,
) -> Option<ResponseFormat> {
    let model = model
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| catalog.default_model(operation));
    let takes_urls = catalog.get(model).is_some_and(|m| m.response_format);
    match asked {
        None if takes_urls => Some(ResponseFormat::Url),
        asked => asked,
    }
}

impl From<GenerateBody> for GenerateParams {
    fn from(body: GenerateBody) -> Self {
        Self {
            model: body.model.unwrap_or_default(),
            prompt: body.prompt,
            n: body.n,
            size: body.size,
            quality: body.quality,
            format: body.format,
            output_compression: body.output_compression,
            background: body.background,
            moderation: body.moderation,
            complexity: body.complexity,
            style: body.style,
            stream: body.stream,
            partial_images: body.partial_images,
            frame_count: body.frame_count,
            frame_duration_ms: body.frame_duration_ms,
            svg: body.svg,
            response_format: body.response_format,
            user: body.user,
            safety_identifier: body.safety_identifier,
            extra: body.extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use artgen_core::ErrorCode;
    use serde_json::json;

    use super::*;
    use crate::extract::from_value;

    fn body(value: Value) -> GenerateBody {
        from_value(value).expect("parses")
    }

    #[test]
    fn an_absent_or_null_model_is_the_operations_default() {
        let catalog = Catalog::default();
        for value in [
            json!({"prompt": "a cat"}),
            json!({"model": null, "prompt": "a cat"}),
        ] {
            let params = GenerateParams::from(body(value));
            assert_eq!(params.model, "");
            let request = params.validate(&catalog).expect("default model");
            assert_eq!(
                request.model().id,
                catalog.default_model(Operation::Generate)
            );
        }
    }

    #[test]
    fn null_means_absent_and_output_format_means_format() {
        let parsed = body(json!({"prompt": "p", "n": null, "output_format": "webp"}));
        assert_eq!(parsed.n, None);
        assert_eq!(parsed.format, Some(OutputFormat::Webp));
        let both = json!({"prompt": "p", "format": "png", "output_format": "png"});
        assert!(from_value::<GenerateBody>(both).is_err());
    }

    #[test]
    fn unknown_parameters_reach_the_policy_unchanged() {
        let parsed = body(json!({"prompt": "p", "new_knob": {"x": 1}}));
        let params = GenerateParams::from(parsed);
        assert_eq!(params.extra["new_knob"], json!({"x": 1}));
        let strict = Catalog::default().with_policy(
            artgen_core::domain::model::CatalogPolicy::default()
                .with_unknown_params(artgen_core::domain::model::UnknownParams::Reject),
        );
        let err = params.validate(&strict).expect_err("refused");
        assert_eq!(err.code(), ErrorCode::UnknownParameter);
        assert_eq!(err.param(), Some("new_knob"));
    }

    #[test]
    fn the_v1_routes_default_dalle_to_urls_and_keep_what_was_asked() {
        let catalog = Catalog::default();
        let v1 = |value: Value| body(value).with_openai_defaults(&catalog, Operation::Generate);
        let dalle = v1(json!({"model": "dall-e-3", "prompt": "p"}));
        assert_eq!(dalle.response_format, Some(ResponseFormat::Url));
        let asked = v1(json!({"model": "dall-e-3", "prompt": "p", "response_format": "b64_json"}));
        assert_eq!(asked.response_format, Some(ResponseFormat::B64Json));
        let gpt = v1(json!({"model": "gpt-image-1", "prompt": "p"}));
        assert_eq!(gpt.response_format, None);
        // No model (or `null`, or empty): the operation's default, dall-e-2 in the shipped one.
        for model in [json!(null), json!("")] {
            let default = v1(json!({"model": model, "prompt": "p"}));
            let takes_urls = catalog
                .get(catalog.default_model(Operation::Generate))
                .is_some_and(|m| m.response_format);
            assert_eq!(default.response_format.is_some(), takes_urls, "{model}");
        }
    }
}
