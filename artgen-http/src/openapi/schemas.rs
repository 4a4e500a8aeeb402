//! Doc-only schemas: shapes the handlers build from core types or `serde_json::Value`, described
//! for the document. Nothing here is (de)serialized; `tests/openapi.rs` checks them against the
//! real types and form specs.

use std::borrow::Cow;
use std::collections::BTreeMap;

use artgen_core::domain::{
    Background, Complexity, InputFidelity, Moderation, OutputFormat, Quality, ResponseFormat, Style,
};
use artgen_core::ErrorCode;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// String enums whose values come from a core type's own list, so the document cannot drift.
macro_rules! enum_schemas {
    ($($ty:ident = $name:literal, $values:expr, $description:literal;)+) => {$(
        #[doc = $description]
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .enum_values(Some($values.iter().map(|v| v.to_string())))
                    .into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    )+};
}

enum_schemas! {
    ErrorCodeSchema = "ErrorCode", ErrorCode::wire_names(),
        "Stable error code: every code ArtGen answers with (`artgen_core::ErrorCode::ALL`).";
    QualitySchema = "Quality", Quality::ALL, "Rendering quality: GPT image `auto`/`low`/\
        `medium`/`high` (gpt-image-2.5 also `xhigh`/`max`); DALL·E `auto` (its default), \
        dall-e-3 `standard`/`hd`, dall-e-2 `standard`.";
    OutputFormatSchema = "OutputFormat", OutputFormat::ALL, "Image encoding (DALL·E: `png` \
        only; `gif` and `svg`: gpt-image-2.5).";
    BackgroundSchema = "Background", Background::ALL,
        "Background (GPT image); `transparent` needs `png` or `webp`.";
    ModerationSchema = "Moderation", Moderation::ALL, "Moderation strictness (GPT image).";
    StyleSchema = "Style", Style::ALL, "Style (dall-e-3).";
    ComplexitySchema = "Complexity", Complexity::ALL,
        "Planning effort before drawing, independent of quality (gpt-image-2.5).";
    ResponseFormatSchema = "ResponseFormat", ResponseFormat::ALL,
        "`b64_json` (default): bytes inline and a signed URL; `url`: the URL only.";
    InputFidelitySchema = "InputFidelity", [InputFidelity::Low, InputFidelity::High],
        "How closely an edit keeps the input's details (gpt-image-1 and 1.5).";
}

/// A string schema with a fixed description, for what has no JSON shape.
macro_rules! string_schema {
    ($(#[$meta:meta])* $ty:ident, $description:expr, $format:expr) => {
        $(#[$meta])*
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format($format)
                    .description(Some($description))
                    .into()
            }
        }

        impl ToSchema for $ty {}
    };
}

string_schema!(
    /// Image bytes, as uploaded or served.
    ImageFile,
    "PNG, JPEG or WebP bytes (uploads: the type is sniffed from the bytes, not trusted).",
    Some(SchemaFormat::KnownFormat(KnownFormat::Binary))
);
string_schema!(
    /// The `text/event-stream` answer of a streamed generation or edit.
    ImageStream,
    STREAM_EVENTS,
    None
);

/// The `exp` of a signed link, as the server reads it (`signing::parse_expiry`).
pub struct LinkExpiry;

impl PartialSchema for LinkExpiry {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::Custom("uint64".into())))
            .minimum(Some(0_u64))
            .maximum(Some(u64::MAX))
            .description(Some(
                "Expiry of a signed link, Unix seconds, as in the answers' `url`: decimal digits \
                 without sign or leading zeros. Any other spelling is the 404 of a bad signature.",
            ))
            .into()
    }
}

impl ToSchema for LinkExpiry {}

const STREAM_EVENTS: &str = "Server-sent events, answered when the request sets `stream: true` \
(GPT image models). Each event's name equals its payload's `type`; its data is one JSON object. \
Generations send `image_generation.partial_image` (up to `partial_images` times) and one \
`image_generation.completed` per image; edits send `image_edit.partial_image` and \
`image_edit.completed`. Every payload has `type`, `b64_json`, `created_at` (Unix seconds), \
`size`, `quality`, `background`, `output_format` and ArtGen's `request_id`; partial images add \
`partial_image_index`; completed events add `usage` (`total_tokens`, `input_tokens`, \
`output_tokens`, `input_tokens_details`), `image_id` (for `GET /images/{id}`) and a signed `url`. \
A failure after the stream started is one `error` event whose data is \
`{\"type\":\"error\",\"error\":{...}}` with the body of the error envelope; failures before the \
first event are ordinary JSON errors with their status.";

/// The JSON body of `POST /generate` and `/v1/images/generations`:
/// `artgen_core::domain::GenerateParams`. A parameter ArtGen does not know is forwarded to the
/// upstream unchanged (unless the operator refuses them: 400 `unknown_parameter`); its name
/// must be 1–64 of `[A-Za-z0-9_]`, and at most 32 are forwarded. Which values a model takes
/// (sizes, qualities, `n`, prompt length, the options only some models have) is checked
/// against the catalogue: 400 `invalid_value` naming the parameter.
#[derive(ToSchema)]
#[schema(as = GenerateRequest)]
pub struct GenerateRequestDoc {
    /// Model id or configured alias; absent, `null` or empty: the catalogue's default for the
    /// operation.
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
    pub quality: Option<QualitySchema>,
    /// Output encoding.
    pub format: Option<OutputFormatSchema>,
    /// Synonym of `format` (OpenAI's name); send one of the two.
    pub output_format: Option<OutputFormatSchema>,
    /// 0–100; GPT image with `jpeg` or `webp` only.
    #[schema(maximum = 100)]
    pub output_compression: Option<u32>,
    /// Background (GPT image).
    pub background: Option<BackgroundSchema>,
    /// Moderation strictness (GPT image).
    pub moderation: Option<ModerationSchema>,
    /// Style (dall-e-3).
    pub style: Option<StyleSchema>,
    /// Answer with server-sent events (GPT image).
    pub stream: Option<bool>,
    /// Partial images while streaming, 0–3 (needs `stream: true`).
    #[schema(maximum = 3)]
    pub partial_images: Option<u32>,
    /// Images inline (`b64_json`, default) or as URLs only.
    pub response_format: Option<ResponseFormatSchema>,
    /// End-user id forwarded upstream: at most 256 printable characters (deprecated upstream
    /// in favour of `safety_identifier`).
    #[schema(max_length = 256)]
    pub user: Option<String>,
    /// Planning effort (gpt-image-2.5).
    pub complexity: Option<ComplexitySchema>,
    /// Frames of an animated GIF, 2–16 (default 9); `output_format: gif` only.
    #[schema(minimum = 2, maximum = 16)]
    pub frame_count: Option<u32>,
    /// Duration of each GIF frame in ms (default 200); `output_format: gif` only.
    #[schema(minimum = 1, maximum = 60000)]
    pub frame_duration_ms: Option<u32>,
    /// SVG authoring options, e.g. `{"model": "…", "reasoning": {"effort": "high"}}`;
    /// `output_format: svg` only (then `n` is 1 and there is no streaming).
    #[schema(value_type = Option<Object>)]
    pub svg: Option<BTreeMap<String, String>>,
    /// End-user id for the upstream's abuse monitoring (OpenAI's replacement of `user`); a
    /// non-empty value wins over `user`. At most 256 printable characters.
    #[schema(max_length = 256)]
    pub safety_identifier: Option<String>,
}

/// The `multipart/form-data` body of `POST /edit` and `/v1/images/edits`: one or more images
/// as `image`, or as repeated `image[]` or `image[0]`, `image[1]`, … parts; an optional `mask`;
/// text fields as for `/generate` but `style` and `moderation`, which edits refuse (400
/// `invalid_value`). Every part is checked before anything goes upstream; a repeated part or
/// an unknown file part is refused. A text field ArtGen does not know is forwarded as for
/// `/generate`, also in the bracket style of nested objects (`name[key][key]`).
#[derive(ToSchema)]
pub struct EditForm {
    /// The image to edit.
    pub image: Option<ImageFile>,
    /// Several images to edit together (GPT image).
    #[serde(rename = "image[]")]
    #[schema(min_items = 1)]
    pub images: Option<Vec<ImageFile>>,
    /// Where to edit: a PNG with an alpha channel, the size of the first image.
    pub mask: Option<ImageFile>,
    /// A transparent PNG overlaid on the first image to guide the edit (gpt-image-2.5; not
    /// with `mask`).
    pub markup: Option<ImageFile>,
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
    pub quality: Option<QualitySchema>,
    /// Output encoding.
    pub format: Option<OutputFormatSchema>,
    /// Synonym of `format`.
    pub output_format: Option<OutputFormatSchema>,
    /// 0–100; `jpeg` or `webp` only.
    #[schema(maximum = 100)]
    pub output_compression: Option<u32>,
    /// Background.
    pub background: Option<BackgroundSchema>,
    /// Answer with server-sent events (`true` or `false`).
    pub stream: Option<bool>,
    /// Partial images while streaming, 0–3.
    #[schema(maximum = 3)]
    pub partial_images: Option<u32>,
    /// Images inline or as URLs only.
    pub response_format: Option<ResponseFormatSchema>,
    /// End-user id forwarded upstream.
    pub user: Option<String>,
    /// How closely to keep the input's details.
    pub input_fidelity: Option<InputFidelitySchema>,
    /// Planning effort (gpt-image-2.5).
    pub complexity: Option<ComplexitySchema>,
    /// Frames of an animated GIF, 2–16 (default 9); `output_format: gif` only.
    #[schema(minimum = 2, maximum = 16)]
    pub frame_count: Option<u32>,
    /// Duration of each GIF frame in ms (default 200); `output_format: gif` only.
    #[schema(minimum = 1, maximum = 60000)]
    pub frame_duration_ms: Option<u32>,
    /// SVG authoring options, e.g. `{"model": "…", "reasoning": {"effort": "high"}}`;
    /// `output_format: svg` only (then `n` is 1 and there is no streaming).
    #[schema(value_type = Option<Object>)]
    pub svg: Option<BTreeMap<String, String>>,
    /// End-user id for the upstream's abuse monitoring (OpenAI's replacement of `user`); a
    /// non-empty value wins over `user`. At most 256 printable characters.
    #[schema(max_length = 256)]
    pub safety_identifier: Option<String>,
}

/// The `multipart/form-data` body of `POST /variation` and `/v1/images/variations` (dall-e-2):
/// one square PNG as `image` and optional text fields; unknown text fields are forwarded as
/// for `/edit`.
#[derive(ToSchema)]
pub struct VariationForm {
    /// The image to vary.
    pub image: ImageFile,
    /// Model id or alias (default `dall-e-2`).
    pub model: Option<String>,
    /// How many images, 1–10.
    #[schema(minimum = 1, maximum = 10)]
    pub n: Option<u32>,
    /// `256x256`, `512x512` or `1024x1024`.
    pub size: Option<String>,
    /// Output encoding (`png` only).
    pub format: Option<OutputFormatSchema>,
    /// Images inline or as URLs only.
    pub response_format: Option<ResponseFormatSchema>,
    /// End-user id forwarded upstream.
    pub user: Option<String>,
    /// End-user id for the upstream (wins over `user`).
    #[schema(max_length = 256)]
    pub safety_identifier: Option<String>,
}

/// OpenAI's `ImagesResponse`, the answer of the `/v1/images/*` routes: GPT image models add
/// the echo fields and `usage`; other fields the upstream sends (e.g. `svg_usage`) are passed
/// on as sent.
#[derive(ToSchema)]
pub struct ImagesResponse {
    /// Unix seconds.
    pub created: u64,
    /// The images.
    pub data: Vec<ImageData>,
    /// Background of the images, as the upstream says (GPT image).
    pub background: Option<String>,
    /// Quality used, as the upstream says (GPT image).
    pub quality: Option<String>,
    /// Encoding of the images, as the upstream says (GPT image).
    pub output_format: Option<String>,
    /// `WxH` of the images, as the upstream says (GPT image).
    pub size: Option<String>,
    /// Token usage (GPT image; absent for models billed per image).
    pub usage: Option<ImagesUsage>,
}

/// One image of an [`ImagesResponse`]: `b64_json` or `url`, as `response_format` asked.
#[derive(ToSchema)]
pub struct ImageData {
    /// Base64 bytes.
    pub b64_json: Option<String>,
    /// A signed, expiring link to `GET /images/{id}`.
    pub url: Option<String>,
    /// The prompt the model used, where it rewrites prompts.
    pub revised_prompt: Option<String>,
}

/// OpenAI's `ImagesUsage` (the upstream's own block when it sends one, which may add fields).
#[derive(ToSchema)]
pub struct ImagesUsage {
    /// All tokens.
    pub total_tokens: u64,
    /// Input tokens (text and image).
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens by kind.
    pub input_tokens_details: TokenDetails,
    /// Output tokens by kind.
    pub output_tokens_details: Option<TokenDetails>,
}

/// Tokens by kind.
#[derive(ToSchema)]
pub struct TokenDetails {
    /// Text tokens.
    pub text_tokens: u64,
    /// Image tokens.
    pub image_tokens: u64,
}

/// The answer of `GET /health`.
#[derive(ToSchema)]
pub struct HealthStatus {
    /// Always `ok`.
    pub status: String,
    /// Server version.
    pub version: String,
    /// Name of the primary upstream.
    pub provider: String,
    /// Whether the mock provider answers (no `OPENAI_API_KEY`: test images, no real cost).
    pub mock_provider: bool,
    /// Last `x-ratelimit-remaining-*` readings by model: `remaining_requests`,
    /// `remaining_tokens`.
    pub upstream_quota: BTreeMap<String, BTreeMap<String, u64>>,
    /// Upstream admission by upstream name, then model: the adaptive `limit` on calls in
    /// flight, `in_flight`, `queued` callers, `paused_ms` left of a pause the upstream asked
    /// for, and the smoothed `call_ms` (null until a call finished).
    pub upstream_admission: BTreeMap<String, BTreeMap<String, GateStatus>>,
    /// The storage backend and the usage writes waiting in its spool.
    pub storage: Option<StorageStatus>,
    /// Set when the mock provider answers.
    pub warning: Option<String>,
}

/// Storage as `/health` reports it.
#[derive(ToSchema)]
pub struct StorageStatus {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Usage writes kept in the spool because the database refuses them or cannot be reached
    /// (applied when it takes them again; new requests get 503 when the spool is full).
    pub buffered_usage_writes: u64,
}

/// One model's admission gate on one upstream.
#[derive(ToSchema)]
pub struct GateStatus {
    /// Current limit on calls in flight.
    pub limit: u32,
    /// Calls in flight.
    pub in_flight: u32,
    /// Callers waiting.
    pub queued: u32,
    /// Milliseconds left of a pause after a 429.
    pub paused_ms: u64,
    /// Smoothed duration of one upstream call, milliseconds.
    #[schema(required = true)]
    pub call_ms: Option<u64>,
}
