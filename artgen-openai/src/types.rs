//! OpenAI's answers: images, usage and error objects. Private to the crate: nothing here
//! leaves it.
//!
//! Answers are parsed leniently, so new upstream values never break a call that produced
//! images: the echo fields (`size`, `quality`, `background`, `output_format`) are kept as
//! text, and every other top-level field (`usage`, `svg_usage`, `safety_identifier`, fields
//! ArtGen does not know) is kept as sent for the OpenAI-compatible routes.
//!
//! An image's base64 is read in place from the answer's body (borrowed, not copied into a
//! string of its own) and decoded into one buffer, which becomes the image's `Bytes`: while an
//! answer is decoded, its image exists twice (body and decoded bytes), never three times.

use std::borrow::Cow;
use std::collections::BTreeMap;

use artgen_core::domain::TokenUsage;
use artgen_core::ports::{ProviderImage, ResponseEcho};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::OpenAiError;
use crate::slots::Slot;

/// A success answer (`ImagesResponse`), borrowing the images' base64 from the body.
#[derive(Debug, Deserialize)]
struct ImagesResponse<'a> {
    #[serde(default, borrow)]
    data: Option<Vec<Image<'a>>>,
    #[serde(default)]
    background: Option<Value>,
    #[serde(default)]
    quality: Option<Value>,
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    output_format: Option<Value>,
    #[serde(default)]
    created: Option<Value>,
    /// Everything else, `usage` and `svg_usage` included, kept raw: a block that does not
    /// parse must not lose images already paid for.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// A decoded success answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) images: Vec<ProviderImage>,
    pub(crate) usage: Option<TokenUsage>,
    pub(crate) echo: ResponseEcho,
    pub(crate) extra: BTreeMap<String, Value>,
}

fn text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// One item of `data`. Base64 has no character JSON escapes, so `b64_json` borrows from the
/// body; an upstream that escapes one anyway costs a copy, not a failure.
#[derive(Debug, Deserialize)]
struct Image<'a> {
    #[serde(default, borrow)]
    b64_json: Option<Base64Text<'a>>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    revised_prompt: Option<String>,
}

/// An image's base64 text, borrowed from the body when it has no escape. A newtype because
/// serde borrows only a field that is a `Cow<str>` itself: an `Option<Cow<str>>` is always
/// deserialised into a `String` of its own, a third copy of a 1.5 MB image's text.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct Base64Text<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

/// `usage` (`ImageGenUsage`); every count optional.
#[derive(Debug, Default, Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<TokenDetails>,
    #[serde(default)]
    output_tokens_details: Option<TokenDetails>,
}

/// `svg_usage`: SVG authoring, billed apart from rendering; every count optional.
#[derive(Debug, Default, Deserialize)]
struct SvgUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

/// `input_tokens_details` / `output_tokens_details`.
#[derive(Debug, Default, Deserialize)]
struct TokenDetails {
    #[serde(default)]
    text_tokens: Option<u64>,
    #[serde(default)]
    image_tokens: Option<u64>,
}

impl From<Usage> for TokenUsage {
    /// Without details, input tokens count as text (generations have no image input) and
    /// output tokens as image tokens.
    fn from(usage: Usage) -> Self {
        let input = usage.input_tokens.unwrap_or(0);
        let output = usage.output_tokens.unwrap_or(0);
        let (input_text_tokens, input_image_tokens) = match usage.input_tokens_details {
            None => (input, 0),
            Some(d) => split(input, d.text_tokens, d.image_tokens),
        };
        let (output_text_tokens, output_image_tokens) = match usage.output_tokens_details {
            None => (0, output),
            Some(d) => split(output, d.text_tokens, d.image_tokens),
        };
        Self {
            input_text_tokens,
            input_image_tokens,
            output_image_tokens,
            output_text_tokens,
            svg_input_tokens: 0,
            svg_output_tokens: 0,
        }
    }
}

/// `(text, image)` from details, deriving a missing part from the total.
fn split(total: u64, text: Option<u64>, image: Option<u64>) -> (u64, u64) {
    match (text, image) {
        (Some(text), Some(image)) => (text, image),
        (Some(text), None) => (text, total.saturating_sub(text)),
        (None, Some(image)) => (total.saturating_sub(image), image),
        (None, None) => (0, total),
    }
}

/// Decodes a success answer into images, usage, the echo fields and the other fields; the
/// images' bytes hold `slot` (see [`Slot::keep`]).
pub(crate) fn parse_images(body: &[u8], slot: &Slot) -> Result<Answer, OpenAiError> {
    let answer: ImagesResponse<'_> = serde_json::from_slice(body).map_err(OpenAiError::Decode)?;
    let data = answer.data.unwrap_or_default();
    if data.is_empty() {
        return Err(OpenAiError::NoImages);
    }
    let images = data
        .into_iter()
        .enumerate()
        .map(|(index, image)| decode_image(index, image, slot))
        .collect::<Result<Vec<_>, _>>()?;
    let _ = answer.created;
    let mut extra = answer.rest;
    let usage = with_svg_usage(
        usage(extra.get("usage").cloned()),
        extra.get("svg_usage").cloned(),
    );
    extra.retain(|_, v| !v.is_null());
    Ok(Answer {
        images,
        usage,
        echo: ResponseEcho {
            background: text(answer.background),
            quality: text(answer.quality),
            size: text(answer.size),
            output_format: text(answer.output_format),
        },
        extra,
    })
}

/// Adds an `svg_usage` block's tokens (reasoning counted as output) to the image usage.
pub(crate) fn with_svg_usage(usage: Option<TokenUsage>, svg: Option<Value>) -> Option<TokenUsage> {
    let Some(svg) = svg.filter(|v| !v.is_null()) else {
        return usage;
    };
    let svg: SvgUsage = serde_json::from_value(svg)
        .inspect_err(|err| tracing::warn!(error = %err, "ignoring unparsable svg_usage"))
        .ok()?;
    let mut total = usage.unwrap_or_default();
    total.svg_input_tokens = svg.input_tokens.unwrap_or(0);
    total.svg_output_tokens = svg.output_tokens.unwrap_or(0) + svg.reasoning_tokens.unwrap_or(0);
    Some(total)
}

/// A raw `usage` block as [`TokenUsage`]; one that does not parse is logged and ignored.
pub(crate) fn usage(raw: Option<Value>) -> Option<TokenUsage> {
    let raw = raw.filter(|u| !u.is_null())?;
    serde_json::from_value::<Usage>(raw)
        .inspect_err(|err| tracing::warn!(error = %err, "ignoring unparsable upstream usage"))
        .ok()
        .map(TokenUsage::from)
}

/// Decodes standard base64, as `b64_json` carries images.
pub(crate) fn decode_base64(b64: &str) -> Result<Bytes, base64::DecodeError> {
    decode_base64_vec(b64.as_bytes()).map(Bytes::from)
}

/// Standard base64 decoded with SIMD (several times faster on megabytes of image); what it
/// refuses is tried again with the `base64` crate, whose verdict and error stand.
fn decode_base64_vec(b64: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    base64_simd::STANDARD
        .decode_to_vec(b64)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(b64))
}

fn decode_image(index: usize, image: Image<'_>, slot: &Slot) -> Result<ProviderImage, OpenAiError> {
    let Some(b64) = image.b64_json else {
        return Err(match image.url {
            Some(_) => OpenAiError::UrlOnly { index },
            None => OpenAiError::EmptyImage { index },
        });
    };
    let decoded = decode_base64_vec(b64.0.as_bytes())
        .map_err(|source| OpenAiError::Base64 { index, source })?;
    let bytes = slot.keep(decoded);
    Ok(ProviderImage {
        bytes,
        revised_prompt: image.revised_prompt,
    })
}

/// The `error` object of an error answer, read leniently: a body that is not OpenAI's JSON
/// gives empty fields, a string `error` becomes the message, numeric codes become text.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct WireError {
    pub(crate) message: Option<String>,
    pub(crate) error_type: Option<String>,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<String>,
}

impl WireError {
    pub(crate) fn parse(body: &[u8]) -> Self {
        let Ok(Value::Object(mut root)) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        match root.remove("error") {
            Some(error) => Self::from_value(&error),
            None => Self::default(),
        }
    }

    /// An error object (`{"message", "type", "param", "code"}`), or a bare message string.
    pub(crate) fn from_value(error: &Value) -> Self {
        match error {
            Value::Object(error) => Self::from_object(error),
            Value::String(message) => Self {
                message: Some(message.clone()),
                ..Self::default()
            },
            _ => Self::default(),
        }
    }

    fn from_object(error: &Map<String, Value>) -> Self {
        let field = |name: &str| match error.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Self {
            message: field("message"),
            error_type: field("type"),
            param: field("param"),
            code: field("code"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_without_details_counts_input_as_text_and_output_as_image() {
        let usage: Usage = serde_json::from_str(r#"{"input_tokens":50,"output_tokens":272}"#)
            .expect("valid usage");

        let usage = TokenUsage::from(usage);

        assert_eq!(usage.input_text_tokens, 50);
        assert_eq!(usage.input_image_tokens, 0);
        assert_eq!(usage.output_image_tokens, 272);
        assert_eq!(usage.output_text_tokens, 0);
    }

    #[test]
    fn usage_details_split_text_and_image_tokens() {
        let json = r#"{"input_tokens":30,"output_tokens":1100,"total_tokens":1130,
            "input_tokens_details":{"text_tokens":20,"image_tokens":10},
            "output_tokens_details":{"text_tokens":44}}"#;
        let usage: Usage = serde_json::from_str(json).expect("valid usage");

        let usage = TokenUsage::from(usage);

        assert_eq!(
            (usage.input_text_tokens, usage.input_image_tokens),
            (20, 10)
        );
        assert_eq!(
            (usage.output_text_tokens, usage.output_image_tokens),
            (44, 1056)
        );
    }

    #[test]
    fn an_unparsable_usage_block_keeps_the_images() {
        let body = br#"{"data":[{"b64_json":"aGk="}],"usage":{"input_tokens":"many"}}"#;

        let answer = parse_images(body, &Slot::default()).expect("images survive");

        assert_eq!(answer.images[0].bytes, Bytes::from_static(b"hi"));
        assert_eq!(answer.usage, None);
    }

    #[test]
    fn base64_is_borrowed_from_the_body_unless_escaped() {
        let plain: Image<'_> = serde_json::from_slice(br#"{"b64_json":"aGk="}"#).expect("parses");
        let escaped: Image<'_> =
            serde_json::from_slice(br#"{"b64_json":"aGk\u003d"}"#).expect("parses");

        let borrowed =
            |image: &Image<'_>| matches!(image.b64_json, Some(Base64Text(Cow::Borrowed(_))));
        assert!(borrowed(&plain), "{plain:?}");
        assert!(!borrowed(&escaped), "{escaped:?}");
        assert_eq!(
            escaped.b64_json.map(|t| t.0.into_owned()).as_deref(),
            Some("aGk=")
        );
    }

    #[test]
    fn base64_with_an_escaped_character_still_decodes() {
        let body = br#"{"data":[{"b64_json":"aGk\u003d"}]}"#;

        let answer = parse_images(body, &Slot::default()).expect("images survive");

        assert_eq!(answer.images[0].bytes, Bytes::from_static(b"hi"));
    }

    #[test]
    fn decodes_what_the_base64_crate_decodes_and_refuses_what_it_refuses() {
        let engine = base64::engine::general_purpose::STANDARD;
        let cases: [&[u8]; 5] = [b"", b"h", b"hi", b"hi!", &[0xfb; 1000]];
        for bytes in cases {
            let b64 = engine.encode(bytes);
            assert_eq!(
                decode_base64(&b64).expect("valid"),
                Bytes::copy_from_slice(bytes)
            );
        }
        for bad in ["aGk", "aGk=x", "a!k=", "aGk==="] {
            assert_eq!(
                decode_base64(bad).map_err(|e| e.to_string()),
                engine
                    .decode(bad)
                    .map(Bytes::from)
                    .map_err(|e| e.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn keeps_echo_fields_svg_usage_and_unknown_fields_as_sent() {
        let body = br#"{"created":1,"data":[{"b64_json":"aGk="}],"quality":"xhigh",
            "size":"2048x1152","background":"opaque","output_format":"svg",
            "safety_identifier":"hash-1","usage":{"input_tokens":10,"output_tokens":20},
            "svg_usage":{"model":"x","input_tokens":7,"output_tokens":30,"reasoning_tokens":5},
            "future_field":{"a":1}}"#;

        let answer = parse_images(body, &Slot::default()).expect("parses");

        assert_eq!(answer.echo.quality.as_deref(), Some("xhigh"));
        assert_eq!(answer.echo.size.as_deref(), Some("2048x1152"));
        let usage = answer.usage.expect("usage");
        assert_eq!((usage.svg_input_tokens, usage.svg_output_tokens), (7, 35));
        assert_eq!(answer.extra["future_field"], serde_json::json!({"a": 1}));
        assert_eq!(answer.extra["safety_identifier"], "hash-1");
        assert!(answer.extra.contains_key("svg_usage"));
        assert!(!answer.extra.contains_key("quality"));
    }

    #[test]
    fn reads_openai_error_objects_and_tolerates_other_bodies() {
        let json =
            br#"{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":42}}"#;

        let parsed = WireError::parse(json);

        assert_eq!(parsed.message.as_deref(), Some("bad"));
        assert_eq!(parsed.error_type.as_deref(), Some("invalid_request_error"));
        assert_eq!(parsed.param, None);
        assert_eq!(parsed.code.as_deref(), Some("42"));
        assert_eq!(WireError::parse(b"<html>502</html>"), WireError::default());
        let string = WireError::parse(br#"{"error":"overloaded"}"#);
        assert_eq!(string.message.as_deref(), Some("overloaded"));
    }
}
