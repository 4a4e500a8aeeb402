//! What both image stores share about their layout: blobs are named by the lower-case hex
//! SHA-256 of their bytes and the format's extension.

use artgen_core::domain::OutputFormat;

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

/// Whether `text` can name a blob: 64 lower-case hex digits (never a path).
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
