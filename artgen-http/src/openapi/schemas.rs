//! Doc-only schemas: the core's value lists (enums whose wire names the core owns), what has
//! no JSON shape (files, event streams, a link's expiry), and the health answer, which its
//! handler builds as JSON. Request bodies and job answers derive their schemas themselves
//! ([`crate::wire`], [`crate::present`]).

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
