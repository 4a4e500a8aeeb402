//! Uploaded images (edits, variations), checked from their headers without decoding them, so a
//! decompression bomb (a tiny file declaring huge dimensions) is refused before any pixel is
//! allocated.

use bytes::Bytes;

use super::options::{Dimensions, OutputFormat};
use crate::error::{Error, ErrorCode, Result};

/// Largest pixel count ArtGen accepts in an upload (64 megapixels).
pub const MAX_INPUT_PIXELS: u64 = 64 * 1024 * 1024;

/// An uploaded image whose type, structure and dimensions were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedImage {
    part: String,
    filename: String,
    bytes: Bytes,
    format: OutputFormat,
    dimensions: Dimensions,
    has_alpha: bool,
}

impl UploadedImage {
    /// Checks an upload: the content must be PNG, JPEG or WebP and match `declared_type` when
    /// one is given; the file must be structurally complete; its declared dimensions must be
    /// non-zero and at most [`MAX_INPUT_PIXELS`]; its size at most `max_bytes`.
    ///
    /// # Errors
    /// Each naming `part`: `image_too_large` over `max_bytes`; `invalid_image_format` for
    /// another type or a content/declared-type mismatch; `invalid_image` for a truncated or
    /// malformed file or oversized dimensions.
    pub fn inspect(
        part: &str,
        filename: Option<&str>,
        declared_type: Option<&str>,
        bytes: Bytes,
        max_bytes: u64,
    ) -> Result<Self> {
        if bytes.len() as u64 > max_bytes {
            return Err(Error::new(
                ErrorCode::ImageTooLarge,
                format!("{part} is {} bytes; the limit is {max_bytes}", bytes.len()),
            )
            .with_param(part));
        }
        let unsupported =
            |why: String| Error::new(ErrorCode::InvalidImageFormat, why).with_param(part);
        let format = OutputFormat::sniff(&bytes)
            .filter(|f| {
                matches!(
                    f,
                    OutputFormat::Png | OutputFormat::Jpeg | OutputFormat::Webp
                )
            })
            .ok_or_else(|| unsupported(format!("{part} must be a PNG, JPEG or WebP image")))?;
        if let Some(declared) = declared_type.map(|t| t.split(';').next().unwrap_or(t).trim()) {
            let generic = declared.is_empty() || declared == "application/octet-stream";
            let same = declared.eq_ignore_ascii_case(format.mime())
                || (format == OutputFormat::Jpeg && declared.eq_ignore_ascii_case("image/jpg"));
            if !generic && !same {
                return Err(unsupported(format!(
                    "{part} is declared as {declared} but its content is {}",
                    format.mime()
                )));
            }
        }
        let invalid = |why: &str| {
            Error::new(ErrorCode::InvalidImage, format!("{part}: {why}")).with_param(part)
        };
        let has_alpha = match format {
            OutputFormat::Png => png_structure(&bytes).map_err(&invalid)?,
            OutputFormat::Jpeg => {
                jpeg_structure(&bytes).map_err(&invalid)?;
                false
            }
            OutputFormat::Webp => webp_structure(&bytes).map_err(&invalid)?,
            OutputFormat::Gif | OutputFormat::Svg => {
                return Err(unsupported(format!(
                    "{part} must be a PNG, JPEG or WebP image"
                )))
            }
        };
        let size = imagesize::blob_size(&bytes).map_err(|_| invalid("unreadable image header"))?;
        let (w, h) = (
            u32::try_from(size.width).map_err(|_| invalid("image too large"))?,
            u32::try_from(size.height).map_err(|_| invalid("image too large"))?,
        );
        let dimensions = Dimensions::new(w, h);
        if w == 0 || h == 0 {
            return Err(invalid("image has no pixels"));
        }
        if dimensions.pixels() > MAX_INPUT_PIXELS {
            return Err(invalid(&format!(
                "image declares {dimensions} pixels; at most {MAX_INPUT_PIXELS} pixels are accepted"
            )));
        }
        Ok(Self {
            part: part.to_owned(),
            filename: filename
                .filter(|f| !f.is_empty())
                .unwrap_or(part)
                .to_owned(),
            bytes,
            format,
            dimensions,
            has_alpha,
        })
    }

    /// The multipart part it came from (`image`, `image[]`, `mask`).
    pub fn part(&self) -> &str {
        &self.part
    }
    /// The client's file name (or the part name).
    pub fn filename(&self) -> &str {
        &self.filename
    }
    /// The bytes, unchanged.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    /// The format found in the content.
    pub fn format(&self) -> OutputFormat {
        self.format
    }
    /// The dimensions declared in the header.
    pub fn dimensions(&self) -> Dimensions {
        self.dimensions
    }
    /// Whether the image can carry transparency (PNG with alpha or `tRNS`, WebP with alpha).
    pub fn has_alpha(&self) -> bool {
        self.has_alpha
    }
}

/// Walks PNG chunks (without inflating any): IHDR first, IEND last, lengths in bounds.
/// Returns whether the image has an alpha channel or a transparency chunk.
fn png_structure(bytes: &[u8]) -> std::result::Result<bool, &'static str> {
    let mut at = 8;
    let mut alpha = false;
    let mut first = true;
    loop {
        let header = bytes.get(at..at + 8).ok_or("truncated PNG")?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let data_end = at.checked_add(8 + len).ok_or("malformed PNG")?;
        let data = bytes.get(at + 8..data_end).ok_or("truncated PNG")?;
        bytes.get(data_end..data_end + 4).ok_or("truncated PNG")?;
        if first {
            if kind != b"IHDR" || len != 13 {
                return Err("malformed PNG (no IHDR)");
            }
            alpha = matches!(data[9], 4 | 6);
            first = false;
        }
        match kind {
            b"tRNS" => alpha = true,
            b"IEND" => return Ok(alpha),
            _ => {}
        }
        at = data_end + 4;
    }
}

fn jpeg_structure(bytes: &[u8]) -> std::result::Result<(), &'static str> {
    // A complete JPEG ends with the EOI marker (some writers pad a few bytes after it).
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err("truncated JPEG")
    }
}

/// Checks the RIFF length and reads the alpha flag of VP8X / VP8L images.
fn webp_structure(bytes: &[u8]) -> std::result::Result<bool, &'static str> {
    let riff = bytes.get(4..8).ok_or("truncated WebP")?;
    let declared = u32::from_le_bytes([riff[0], riff[1], riff[2], riff[3]]) as usize;
    if declared.saturating_add(8) > bytes.len() {
        return Err("truncated WebP");
    }
    let chunk = bytes.get(12..16).ok_or("truncated WebP")?;
    Ok(match chunk {
        b"VP8X" => bytes.get(20).is_some_and(|flags| flags & 0x10 != 0),
        b"VP8L" => bytes.get(24).is_some_and(|b| b & 0x10 != 0),
        _ => false,
    })
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::render;

    fn png(w: u32, h: u32, alpha: bool) -> Bytes {
        render(Dimensions::new(w, h), OutputFormat::Png, alpha, 0).expect("encodes")
    }

    fn inspect(bytes: Bytes, declared: Option<&str>) -> Result<UploadedImage> {
        UploadedImage::inspect("image", Some("a.png"), declared, bytes, 4 * 1024 * 1024)
    }

    #[test]
    fn accepts_well_formed_images_and_reads_their_header() {
        let img = inspect(png(64, 32, true), Some("image/png")).expect("valid");
        assert_eq!(img.dimensions(), Dimensions::new(64, 32));
        assert_eq!(img.format(), OutputFormat::Png);
        assert!(img.has_alpha());
        for format in [OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp] {
            let bytes = render(Dimensions::new(16, 16), format, false, 0).expect("encodes");
            assert_eq!(inspect(bytes, None).expect("valid").format(), format);
        }
    }

    #[test]
    fn refuses_content_that_does_not_match_its_declared_type() {
        let jpeg = render(Dimensions::new(16, 16), OutputFormat::Jpeg, false, 0).expect("encodes");
        let err = inspect(jpeg, Some("image/png")).expect_err("mismatch");
        assert_eq!(err.code(), ErrorCode::InvalidImageFormat);
        assert_eq!(err.param(), Some("image"));
        let err = inspect(Bytes::from_static(b"GIF89a........"), None).expect_err("gif");
        assert_eq!(err.code(), ErrorCode::InvalidImageFormat);
    }

    #[test]
    fn refuses_truncated_files() {
        let full = png(32, 32, false);
        let err = inspect(full.slice(..full.len() - 20), None).expect_err("truncated");
        assert_eq!(err.code(), ErrorCode::InvalidImage);
    }

    #[test]
    fn refuses_a_tiny_file_declaring_huge_dimensions_without_decoding() {
        // A valid PNG header declaring 100000 x 100000, then IEND: about 60 bytes.
        let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IEND", &[])] {
            bomb.extend_from_slice(&u32::try_from(data.len()).expect("small").to_be_bytes());
            bomb.extend_from_slice(kind);
            bomb.extend_from_slice(data);
            bomb.extend_from_slice(&[0, 0, 0, 0]);
        }
        let err = inspect(Bytes::from(bomb), None).expect_err("bomb");
        assert_eq!(err.code(), ErrorCode::InvalidImage);
        assert!(err.message().contains("100000x100000"), "{}", err.message());
    }

    #[test]
    fn refuses_files_over_the_byte_limit() {
        let err = UploadedImage::inspect("mask", None, None, png(64, 64, false), 100)
            .expect_err("too big");
        assert_eq!(err.code(), ErrorCode::ImageTooLarge);
        assert_eq!(err.param(), Some("mask"));
    }

    #[test]
    fn opaque_png_has_no_alpha() {
        let rgb = render(Dimensions::new(8, 8), OutputFormat::Jpeg, false, 0).expect("encodes");
        let decoded = image::load_from_memory(&rgb).expect("decodes").to_rgb8();
        let mut out = std::io::Cursor::new(Vec::new());
        decoded
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encodes");
        let img = inspect(Bytes::from(out.into_inner()), None).expect("valid");
        assert!(!img.has_alpha());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Arbitrary bytes (and arbitrary bytes behind a valid magic number) never panic and
        /// never get past the checks unless they are a well-formed, bounded image.
        #[test]
        fn arbitrary_uploads_never_panic(
            magic in proptest::sample::select(vec![&b""[..], b"\x89PNG\r\n\x1a\n", b"\xFF\xD8\xFF", b"RIFF\x10\0\0\0WEBPVP8X"]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            declared in proptest::option::of("[a-z/]{0,12}"),
        ) {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&tail);
            if let Ok(image) = UploadedImage::inspect("image", None, declared.as_deref(), Bytes::from(bytes), 4096) {
                proptest::prop_assert!(image.dimensions().pixels() <= MAX_INPUT_PIXELS);
                proptest::prop_assert!(image.dimensions().width > 0 && image.dimensions().height > 0);
            }
        }
    }
}
