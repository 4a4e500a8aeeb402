//! JSON answers that carry images inline as base64 (`b64_json`), written straight from the
//! image bytes into one buffer of the answer's exact size.
//!
//! Serialising a base64 `String` per image through `Json` costs, for a 1.5 MB answer, the
//! string itself, a scan of it for characters to escape (base64 has none), and a buffer that
//! grows by doubling from 128 bytes (copying the answer each time). Instead, the answer is
//! first serialised with an empty string where each image goes ([`Inline`] records the place),
//! then copied once into a buffer of the final size with every image base64-encoded (with
//! SIMD) into its place. The answer is then the only base64 copy of the images.
//!
//! ```
//! use artgen_http::inline::InlineImages;
//!
//! #[derive(serde::Serialize)]
//! struct Answer<'a> {
//!     b64_json: artgen_http::inline::Inline<'a>,
//!     size: &'static str,
//! }
//!
//! let images = InlineImages::default();
//! let answer = Answer { b64_json: images.image(b"hi"), size: "1x1" };
//! let json = images.to_json(&answer)?;
//! assert_eq!(json, br#"{"b64_json":"aGk=","size":"1x1"}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::io;

use serde::{Serialize, Serializer};

/// The images of one answer and where they go in it. Serialise the answer with
/// [`InlineImages::to_json`] only: the places are offsets into that serialisation.
#[derive(Debug, Default)]
pub struct InlineImages<'a> {
    /// Whether `to_json` is serialising (an `Inline` serialised otherwise is an error).
    active: Cell<bool>,
    /// Bytes of the skeleton written so far (kept by the writer of `to_json`).
    written: Cell<usize>,
    /// Per image, in order: the offset of its empty string's closing quote, and its bytes.
    holes: RefCell<Vec<(usize, &'a [u8])>>,
}

/// One image, serialised as its base64 by [`InlineImages::to_json`].
#[derive(Debug, Clone, Copy)]
pub struct Inline<'a> {
    bytes: &'a [u8],
    images: &'a InlineImages<'a>,
}

impl<'a> InlineImages<'a> {
    /// An image of the answer.
    pub fn image(&'a self, bytes: &'a [u8]) -> Inline<'a> {
        Inline {
            bytes,
            images: self,
        }
    }

    /// The answer's JSON with every image's base64 in its place.
    ///
    /// # Errors
    /// When `answer` does not serialise, e.g. because it holds an [`Inline`] of another
    /// `InlineImages`.
    pub fn to_json(&self, answer: &impl Serialize) -> serde_json::Result<Vec<u8>> {
        self.holes.borrow_mut().clear();
        self.written.set(0);
        let mut skeleton = Vec::with_capacity(1024);
        self.active.set(true);
        let written = serde_json::to_writer(
            Tracked {
                out: &mut skeleton,
                written: &self.written,
            },
            answer,
        );
        self.active.set(false);
        written?;
        let holes = self.holes.borrow();
        let encoded = |bytes: &[u8]| base64_simd::STANDARD.encoded_length(bytes.len());
        let size = skeleton.len() + holes.iter().map(|(_, b)| encoded(b)).sum::<usize>();
        let mut json = Vec::with_capacity(size);
        let mut copied = 0;
        for &(at, bytes) in holes.iter() {
            let empty_string =
                at >= 1 && at >= copied && skeleton.get(at - 1..=at) == Some(b"\"\"");
            if !empty_string {
                return Err(serde::ser::Error::custom("an inline image lost its place"));
            }
            json.extend_from_slice(&skeleton[copied..at]);
            base64_simd::STANDARD.encode_append(bytes, &mut json);
            copied = at;
        }
        json.extend_from_slice(&skeleton[copied..]);
        Ok(json)
    }
}

impl Serialize for Inline<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !self.images.active.get() {
            return Err(serde::ser::Error::custom(
                "an inline image is serialised only by the to_json of its own InlineImages",
            ));
        }
        let done = serializer.serialize_str("")?;
        // serde_json writes straight through, so the empty string's closing quote is the last
        // byte written: the base64 goes just before it.
        let at = self.images.written.get().saturating_sub(1);
        self.images.holes.borrow_mut().push((at, self.bytes));
        Ok(done)
    }
}

/// The skeleton's writer: appends, and tells how much is written.
struct Tracked<'w> {
    out: &'w mut Vec<u8>,
    written: &'w Cell<usize>,
}

impl io::Write for Tracked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        self.written.set(self.out.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    #[derive(Serialize)]
    struct Item<'a> {
        b64_json: Option<Inline<'a>>,
        revised_prompt: Option<&'a str>,
    }

    #[test]
    fn writes_each_image_as_the_base64_a_string_would_hold() {
        let pictures: [&[u8]; 3] = [b"", b"\x89PNG\r\n", &[0xff; 1000]];
        let images = InlineImages::default();
        let items: Vec<Item<'_>> = pictures
            .iter()
            .map(|bytes| Item {
                b64_json: Some(images.image(bytes)),
                revised_prompt: Some("a \"quoted\" fox"),
            })
            .collect();

        let json = images.to_json(&items).expect("serialises");

        let expected: Vec<serde_json::Value> = pictures
            .iter()
            .map(|bytes| {
                serde_json::json!({
                    "b64_json": ENGINE.encode(bytes),
                    "revised_prompt": "a \"quoted\" fox",
                })
            })
            .collect();
        assert_eq!(json, serde_json::to_vec(&expected).expect("serialises"));
        assert_eq!(json.capacity(), json.len(), "sized exactly");
    }

    #[test]
    fn an_answer_can_be_serialised_twice() {
        let images = InlineImages::default();
        let item = Item {
            b64_json: Some(images.image(b"hi")),
            revised_prompt: None,
        };

        let first = images.to_json(&item).expect("serialises");
        let second = images.to_json(&item).expect("serialises");

        assert_eq!(first, second);
        assert_eq!(first, br#"{"b64_json":"aGk=","revised_prompt":null}"#);
    }

    #[test]
    fn an_image_serialised_elsewhere_is_an_error_not_an_empty_string() {
        let mine = InlineImages::default();
        let other = InlineImages::default();
        let item = Item {
            b64_json: Some(other.image(b"hi")),
            revised_prompt: None,
        };

        assert!(mine.to_json(&item).is_err());
        assert!(serde_json::to_vec(&item).is_err());
        assert!(other.to_json(&item).is_ok());
    }
}
