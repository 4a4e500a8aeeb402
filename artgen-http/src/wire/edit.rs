//! The text fields of the multipart forms of `POST /edit`, `POST /variation` and their
//! `/v1/images/*` twins. The form reader ([`crate::form::read_form`]) turns the parts into
//! JSON values (numbers and booleans where a field is numeric or boolean) and keeps the files
//! apart; these DTOs read the values, and convert with the files into the core's parameters.

use std::collections::BTreeMap;

use artgen_core::domain::{
    Background, Catalog, Complexity, EditParams, GenerateParams, InputFidelity, Moderation,
    Operation, OutputFormat, Quality, ResponseFormat, Style, VariationParams,
};
use artgen_core::{Error, ErrorCode};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::generate::openai_response_format;
use crate::extract::from_value;
use crate::form::{FormSpec, Uploads};
use crate::openapi::schemas::{
    BackgroundSchema, ComplexitySchema, InputFidelitySchema, ModerationSchema, OutputFormatSchema,
    QualitySchema, ResponseFormatSchema, StyleSchema,
};

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

/// The `multipart/form-data` body of `POST /edit` and `/v1/images/edits`: one or more images
/// as `image`, or as repeated `image[]` or `image[0]`, `image[1]`, … parts; an optional `mask`;
/// text fields as for `/generate` but `style` and `moderation`, which edits refuse (400
/// `invalid_value`). Every part is checked before anything goes upstream; a repeated part or
/// an unknown file part is refused. A text field ArtGen does not know is forwarded as for
/// `/generate`, also in the bracket style of nested objects (`name[key][key]`).
// This type reads the text fields; the form reader keeps the files apart, and the document
// adds their parts from `EDIT_FIELDS`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[schema(as = EditForm)]
pub struct EditBody {
    /// Model id or configured alias; absent or empty: the catalogue's default for edits.
    pub model: Option<String>,
    /// What to change: non-blank; at most as many characters as the model takes.
    pub prompt: String,
    /// How many images, 1–10.
    #[schema(minimum = 1, maximum = 10)]
    pub n: Option<u32>,
    /// `auto` or `WIDTHxHEIGHT`.
    pub size: Option<String>,
    /// Rendering quality.
    #[schema(value_type = Option<QualitySchema>)]
    pub quality: Option<Quality>,
    /// Output encoding.
    // `output_format` is a synonym; the document lists it on its own.
    #[serde(alias = "output_format")]
    #[schema(value_type = Option<OutputFormatSchema>)]
    pub format: Option<OutputFormat>,
    /// 0–100; `jpeg` or `webp` only.
    #[schema(maximum = 100)]
    pub output_compression: Option<u32>,
    /// Background.
    #[schema(value_type = Option<BackgroundSchema>)]
    pub background: Option<Background>,
    /// Refused for edits (read so that it is refused, not forwarded).
    #[schema(value_type = Option<ModerationSchema>)]
    pub moderation: Option<Moderation>,
    /// Refused for edits (read so that it is refused, not forwarded).
    #[schema(value_type = Option<StyleSchema>)]
    pub style: Option<Style>,
    /// Answer with server-sent events (`true` or `false`).
    pub stream: Option<bool>,
    /// Partial images while streaming, 0–3.
    #[schema(maximum = 3)]
    pub partial_images: Option<u32>,
    /// Images inline or as URLs only.
    #[schema(value_type = Option<ResponseFormatSchema>)]
    pub response_format: Option<ResponseFormat>,
    /// End-user id forwarded upstream.
    pub user: Option<String>,
    /// How closely to keep the input's details.
    #[schema(value_type = Option<InputFidelitySchema>)]
    pub input_fidelity: Option<InputFidelity>,
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
    /// Text fields ArtGen does not know, by name.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl EditBody {
    /// Reads the text fields of an edit form.
    ///
    /// # Errors
    /// `invalid_request` naming a field of the wrong type or value (for `input_fidelity`,
    /// code `invalid_request`, as it has always been).
    pub fn from_fields(fields: Map<String, Value>) -> Result<Self, Error> {
        from_value(Value::Object(fields)).map_err(|e| request_level(e, &["input_fidelity"]))
    }

    /// Applies the `/v1` routes' defaults (DALL·E answers with URLs).
    #[must_use]
    pub fn with_openai_defaults(mut self, catalog: &Catalog) -> Self {
        self.response_format = openai_response_format(
            catalog,
            Operation::Edit,
            self.model.as_deref(),
            self.response_format,
        );
        self
    }

    /// The edit with its files.
    pub fn into_params(self, uploads: Uploads) -> EditParams {
        EditParams {
            options: GenerateParams {
                model: self.model.unwrap_or_default(),
                prompt: self.prompt,
                n: self.n,
                size: self.size,
                quality: self.quality,
                format: self.format,
                output_compression: self.output_compression,
                background: self.background,
                moderation: self.moderation,
                complexity: self.complexity,
                style: self.style,
                stream: self.stream,
                partial_images: self.partial_images,
                frame_count: self.frame_count,
                frame_duration_ms: self.frame_duration_ms,
                svg: self.svg,
                response_format: self.response_format,
                user: self.user,
                safety_identifier: self.safety_identifier,
                extra: self.extra,
            },
            images: uploads.images,
            mask: uploads.mask,
            markup: uploads.markup,
            input_fidelity: self.input_fidelity,
        }
    }
}

/// The `multipart/form-data` body of `POST /variation` and `/v1/images/variations` (dall-e-2):
/// one square PNG as `image` and optional text fields; unknown text fields are forwarded as
/// for `/edit`.
// This type reads the text fields; the document adds the `image` part from `VARIATION_FIELDS`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[schema(as = VariationForm)]
pub struct VariationBody {
    /// Model id or alias (default `dall-e-2`).
    pub model: Option<String>,
    /// How many images, 1–10.
    #[serde(default, deserialize_with = "variation_count")]
    #[schema(minimum = 1, maximum = 10)]
    pub n: Option<u32>,
    /// `256x256`, `512x512` or `1024x1024`.
    pub size: Option<String>,
    /// Output encoding (`png` only).
    #[schema(value_type = Option<OutputFormatSchema>)]
    pub format: Option<OutputFormat>,
    /// Images inline or as URLs only.
    #[schema(value_type = Option<ResponseFormatSchema>)]
    pub response_format: Option<ResponseFormat>,
    /// End-user id forwarded upstream.
    pub user: Option<String>,
    /// End-user id for the upstream (wins over `user`).
    #[schema(max_length = 256)]
    pub safety_identifier: Option<String>,
    /// Text fields ArtGen does not know, by name.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl VariationBody {
    /// Reads the text fields of a variation form.
    ///
    /// # Errors
    /// `invalid_value` for `n`; `invalid_request` naming `format` or `response_format` for a
    /// value that is none of theirs (the codes these fields have always had).
    pub fn from_fields(fields: Map<String, Value>) -> Result<Self, Error> {
        from_value(Value::Object(fields))
            .map_err(|e| request_level(e, &["format", "response_format"]))
    }

    /// Applies the `/v1` routes' defaults (DALL·E answers with URLs).
    #[must_use]
    pub fn with_openai_defaults(mut self, catalog: &Catalog) -> Self {
        self.response_format = openai_response_format(
            catalog,
            Operation::Variation,
            self.model.as_deref(),
            self.response_format,
        );
        self
    }

    /// The variation with its image.
    pub fn into_params(self, uploads: Uploads) -> VariationParams {
        VariationParams {
            model: self.model,
            n: self.n,
            size: self.size,
            format: self.format,
            response_format: self.response_format,
            user: self.user,
            safety_identifier: self.safety_identifier,
            extra: self.extra,
            image: uploads.images.into_iter().next(),
        }
    }
}

/// A variation's `n`: any integer 1–10 is for the catalogue to judge; anything else is refused
/// with the one message variations have always given.
fn variation_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("n must be an integer between 1 and 10"))
}

/// Gives a value error of one of `fields` the code `invalid_request`, which those fields of
/// the forms have always answered with.
fn request_level(err: Error, fields: &[&str]) -> Error {
    match err.param() {
        Some(param) if err.code() == ErrorCode::InvalidValue && fields.contains(&param) => {
            let param = param.to_owned();
            Error::new(ErrorCode::InvalidRequest, err.message()).with_param(param)
        }
        _ => err,
    }
}
