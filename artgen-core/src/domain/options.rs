//! The small enums and value types of an image request.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!(
                        "'{other}' is not one of: {}",
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }
    };
}

wire_enum!(
    /// Encoding of a returned image.
    OutputFormat {
        /// PNG (lossless, alpha).
        Png => "png",
        /// JPEG (lossy, no alpha).
        Jpeg => "jpeg",
        /// WebP (alpha).
        Webp => "webp",
        /// Animated GIF (gpt-image-2.5; `frame_count`, `frame_duration_ms`).
        Gif => "gif",
        /// SVG vector drawing (gpt-image-2.5; `n = 1`, no streaming).
        Svg => "svg",
    }
);

impl OutputFormat {
    /// The MIME type.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Svg => "image/svg+xml",
        }
    }

    /// Whether the format can carry transparency.
    pub const fn supports_alpha(self) -> bool {
        !matches!(self, Self::Jpeg)
    }

    /// Whether the format is a raster image (every format but SVG).
    pub const fn is_raster(self) -> bool {
        !matches!(self, Self::Svg)
    }

    /// Detects the format from the first bytes of an encoded image.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if looks_like_svg(bytes) {
            Some(Self::Svg)
        } else {
            None
        }
    }
}

/// Whether the bytes start (after a BOM, whitespace, an XML declaration and comments) with an
/// `<svg` element.
fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let Ok(text) = std::str::from_utf8(head).or_else(|e| {
        // A multi-byte character cut by the 4 KiB window is fine.
        std::str::from_utf8(&head[..e.valid_up_to()])
    }) else {
        return false;
    };
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("<?") {
            let Some(end) = after.find("?>") else {
                return false;
            };
            rest = after[end + 2..].trim_start();
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let Some(end) = after.find("-->") else {
                return false;
            };
            rest = after[end + 3..].trim_start();
        } else if let Some(after) = rest.strip_prefix("<!DOCTYPE") {
            let Some(end) = after.find('>') else {
                return false;
            };
            rest = after[end + 1..].trim_start();
        } else {
            return rest.starts_with("<svg");
        }
    }
}

wire_enum!(
    /// Rendering quality.
    Quality {
        /// Let the model choose.
        Auto => "auto",
        /// GPT image: low.
        Low => "low",
        /// GPT image: medium.
        Medium => "medium",
        /// GPT image: high.
        High => "high",
        /// gpt-image-2.5: extra high.
        Xhigh => "xhigh",
        /// gpt-image-2.5: the most effort.
        Max => "max",
        /// DALL·E: standard.
        Standard => "standard",
        /// DALL·E 3: hd.
        Hd => "hd",
    }
);

wire_enum!(
    /// Background handling (GPT image models).
    Background {
        /// Let the model choose.
        Auto => "auto",
        /// Transparent (PNG or WebP only).
        Transparent => "transparent",
        /// Opaque.
        Opaque => "opaque",
    }
);

wire_enum!(
    /// DALL·E 3 style.
    Style {
        /// Hyper-real, dramatic.
        Vivid => "vivid",
        /// More natural.
        Natural => "natural",
    }
);

wire_enum!(
    /// Planning effort before drawing, independent of quality (gpt-image-2.5).
    Complexity {
        /// Little planning.
        Low => "low",
        /// Some planning.
        Medium => "medium",
        /// Most planning.
        High => "high",
    }
);

wire_enum!(
    /// Content moderation strictness (GPT image models).
    Moderation {
        /// Default filtering.
        Auto => "auto",
        /// Less restrictive filtering.
        Low => "low",
    }
);

wire_enum!(
    /// How the caller wants the image bytes in the answer.
    ResponseFormat {
        /// Only a URL served by ArtGen.
        Url => "url",
        /// Base64 bytes inline (and the URL).
        B64Json => "b64_json",
    }
);

/// Width and height of an image in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dimensions {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Dimensions {
    /// New dimensions.
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Total pixels.
    pub const fn pixels(self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// Parses `WIDTHxHEIGHT` (digits only, no sign, no spaces).
    pub fn parse(text: &str) -> Option<Self> {
        let (w, h) = text.split_once('x')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(w) || !digits(h) {
            return None;
        }
        Some(Self::new(w.parse().ok()?, h.parse().ok()?))
    }
}

impl fmt::Display for Dimensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl Serialize for Dimensions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dimensions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("expected WIDTHxHEIGHT"))
    }
}

/// A requested size: `auto` or explicit dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeSpec {
    /// Let the model choose.
    Auto,
    /// Exact dimensions.
    Exact(Dimensions),
}

impl fmt::Display for SizeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Exact(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dimensions_strictly() {
        assert_eq!(
            Dimensions::parse("1024x1536"),
            Some(Dimensions::new(1024, 1536))
        );
        assert_eq!(Dimensions::parse("1024X1536"), None);
        assert_eq!(Dimensions::parse("-1x5"), None);
        assert_eq!(Dimensions::parse("1024x"), None);
        assert_eq!(Dimensions::parse("99999999x1"), None);
    }

    #[test]
    fn sniffs_formats_from_magic_bytes() {
        assert_eq!(
            OutputFormat::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(OutputFormat::Png)
        );
        assert_eq!(
            OutputFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(OutputFormat::Jpeg)
        );
        assert_eq!(
            OutputFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(OutputFormat::Webp)
        );
        assert_eq!(
            OutputFormat::sniff(b"GIF89a\x01\x00"),
            Some(OutputFormat::Gif)
        );
        assert_eq!(
            OutputFormat::sniff(
                b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- mock -->\n<svg xmlns=\"\">"
            ),
            Some(OutputFormat::Svg)
        );
        assert_eq!(OutputFormat::sniff(b"<html><svg>"), None);
        assert_eq!(OutputFormat::sniff(b"BM\x00\x00"), None);
    }

    #[test]
    fn wire_enums_round_trip_through_their_names() {
        for q in Quality::ALL {
            assert_eq!(q.as_str().parse::<Quality>(), Ok(*q));
        }
        assert!("ultra".parse::<Quality>().is_err());
    }
}
