//! OpenAI's answers: images, usage and error objects. Private to the crate: nothing here
//! leaves it.
//!
//! Answers are parsed leniently: unknown fields and the echo fields (`size`, `quality`,
//! `background`, `output_format`, `created`) are ignored, so new upstream values never break a
//! call that produced images.

use artgen_core::domain::TokenUsage;
use artgen_core::ports::ProviderImage;
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::OpenAiError;

/// A success answer (`ImagesResponse`).
#[derive(Debug, Deserialize)]
struct ImagesResponse {
    #[serde(default)]
    data: Option<Vec<Image>>,
    /// Kept raw: a usage block that does not parse must not lose images already paid for.
    #[serde(default)]
    usage: Option<Value>,
}

/// One item of `data`.
#[derive(Debug, Deserialize)]
struct Image {
    #[serde(default)]
    b64_json: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    revised_prompt: Option<String>,
}

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

/// Decodes a success answer into images and usage.
pub(crate) fn parse_images(
    body: &[u8],
) -> Result<(Vec<ProviderImage>, Option<TokenUsage>), OpenAiError> {
    let answer: ImagesResponse = serde_json::from_slice(body).map_err(OpenAiError::Decode)?;
    let data = answer.data.unwrap_or_default();
    if data.is_empty() {
        return Err(OpenAiError::NoImages);
    }
    let images = data
        .into_iter()
        .enumerate()
        .map(|(index, image)| decode_image(index, image))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((images, usage(answer.usage)))
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
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Bytes::from)
}

fn decode_image(index: usize, image: Image) -> Result<ProviderImage, OpenAiError> {
    let Some(b64) = image.b64_json else {
        return Err(match image.url {
            Some(_) => OpenAiError::UrlOnly { index },
            None => OpenAiError::EmptyImage { index },
        });
    };
    let bytes = decode_base64(&b64).map_err(|source| OpenAiError::Base64 { index, source })?;
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

        let (images, usage) = parse_images(body).expect("images survive");

        assert_eq!(images[0].bytes, Bytes::from_static(b"hi"));
        assert_eq!(usage, None);
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
