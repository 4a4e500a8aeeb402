//! What both image stores share about their layout: blobs are named by the lower-case hex
//! SHA-256 of their bytes and the format's extension; stores from before the image index also
//! kept a `meta/<id>.json` per image, read once at start for the import.

use artgen_core::domain::{Dimensions, ImageId, OutputFormat, RequestId};
use artgen_core::ports::ImageMeta;
use serde::Deserialize;

/// What an old `meta/<id>.json` holds (the object store's also has the length).
#[derive(Debug, Deserialize)]
pub(crate) struct LegacyMeta {
    pub(crate) id: ImageId,
    pub(crate) owner: String,
    pub(crate) request_id: RequestId,
    pub(crate) format: OutputFormat,
    pub(crate) dimensions: Dimensions,
    pub(crate) created_at_ms: i64,
    pub(crate) sha256: String,
    #[serde(default)]
    pub(crate) len: Option<u64>,
}

impl LegacyMeta {
    /// Whether the id is an image id and the hash can name a blob (never a path).
    pub(crate) fn is_sound(&self) -> bool {
        ImageId::parse(self.id.as_str()).is_some()
            && self.sha256.len() == 64
            && self
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// The index row of the old image, whose blob is `len` bytes long (prompt and model were
    /// not kept then, so they are empty).
    pub(crate) fn into_meta(self, len: u64) -> ImageMeta {
        ImageMeta {
            id: self.id,
            owner: self.owner,
            org: None,
            request_id: self.request_id,
            prompt: String::new(),
            model: String::new(),
            format: self.format,
            dimensions: self.dimensions,
            sha256: self.sha256,
            len: self.len.unwrap_or(len),
            created_at_ms: self.created_at_ms,
        }
    }
}

/// The file extension of a blob in `format`.
pub(crate) fn extension(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Png => "png",
        OutputFormat::Jpeg => "jpg",
        OutputFormat::Webp => "webp",
        OutputFormat::Gif => "gif",
        OutputFormat::Svg => "svg",
    }
}
