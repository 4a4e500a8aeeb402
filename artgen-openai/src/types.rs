//! OpenAI's wire format for the Images API. Private to the crate: nothing here leaves it.
//!
//! Answers are parsed leniently: unknown fields and the echo fields (`size`, `quality`,
//! `background`, `output_format`, `created`) are ignored, so new upstream values never break a
//! call that produced images.

use artgen_core::domain::{
    Background, GenerateRequest, ModelFamily, Moderation, OutputFormat, Quality, Style, TokenUsage,
};
use artgen_core::ports::ProviderImage;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::OpenAiError;

/// `response_format` ArtGen always asks DALL·E for: upstream URLs expire, and every image is
/// stored.
const B64_JSON: &str = "b64_json";

/// Body of `POST /images/generations` (`CreateImageRequest`), holding only the parameters the
/// request's model family accepts.
#[derive(Debug, Serialize)]
pub(crate) struct CreateImageRequest<'a> {
    model: &'a str,
    prompt: &'a str,
    n: u8,
    size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<Quality>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_format: Option<OutputFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_compression: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    background: Option<Background>,
    #[serde(skip_serializing_if = "Option::is_none")]
    moderation: Option<Moderation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    style: Option<Style>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

impl<'a> CreateImageRequest<'a> {
    /// The body for a validated request; never sends a parameter the family does not accept.
    pub(crate) fn new(request: &'a GenerateRequest) -> Self {
        let model = request.model();
        let common = Self {
            model: &model.upstream_id,
            prompt: request.prompt().as_str(),
            n: request.n().get(),
            size: request.size().to_string(),
            quality: None,
            output_format: None,
            output_compression: None,
            background: None,
            moderation: None,
            style: None,
            response_format: None,
            user: request.user(),
        };
        match model.family {
            ModelFamily::GptImage => Self {
                quality: request.quality(),
                output_format: request.output_format(),
                output_compression: request.output_compression(),
                background: request.background(),
                moderation: request.moderation(),
                ..common
            },
            ModelFamily::DallE3 => Self {
                quality: request.quality(),
                style: request.style(),
                response_format: Some(B64_JSON),
                ..common
            },
            ModelFamily::DallE2 => Self {
                response_format: Some(B64_JSON),
                ..common
            },
        }
    }
}

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
    let usage = answer.usage.filter(|u| !u.is_null()).and_then(|raw| {
        serde_json::from_value::<Usage>(raw)
            .inspect_err(|err| tracing::warn!(error = %err, "ignoring unparsable upstream usage"))
            .ok()
    });
    Ok((images, usage.map(TokenUsage::from)))
}

fn decode_image(index: usize, image: Image) -> Result<ProviderImage, OpenAiError> {
    let Some(b64) = image.b64_json else {
        return Err(match image.url {
            Some(_) => OpenAiError::UrlOnly { index },
            None => OpenAiError::EmptyImage { index },
        });
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|source| OpenAiError::Base64 { index, source })?;
    Ok(ProviderImage {
        bytes: Bytes::from(bytes),
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
            Some(Value::Object(error)) => {
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
            Some(Value::String(message)) => Self {
                message: Some(message),
                ..Self::default()
            },
            _ => Self::default(),
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
