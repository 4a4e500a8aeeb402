//! OpenAI's `ImagesResponse`, the answer of the `/v1/images/*` routes.

use std::collections::BTreeMap;

use artgen_core::domain::{ModelFamily, ResponseFormat, TokenUsage};
use artgen_core::Generation;
use serde::ser::SerializeMap as _;
use serde::{Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

use crate::inline::{Inline, InlineImages};
use crate::routes::images::{signed_url, BaseUrl};
use crate::state::AppState;

/// OpenAI's `ImagesResponse`, the answer of the `/v1/images/*` routes: GPT image models add
/// the echo fields and `usage`; other fields the upstream sends (e.g. `svg_usage`) are passed
/// on as sent.
#[derive(Debug, ToSchema)]
pub struct ImagesResponse<'a> {
    /// Unix seconds.
    pub created: u64,
    /// The images.
    pub data: Vec<ImageData<'a>>,
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
    /// The upstream's other top-level fields, as sent.
    #[schema(ignore)]
    pub extra: Vec<(&'a str, &'a Value)>,
}

/// One image of an [`ImagesResponse`]: `b64_json` or `url`, as `response_format` asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageData<'a> {
    /// Base64 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub b64_json: Option<Inline<'a>>,
    /// The prompt the model used, where it rewrites prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revised_prompt: Option<&'a str>,
    /// A signed, expiring link to `GET /images/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// OpenAI's `ImagesUsage` (the upstream's own block when it sends one, which may add fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImagesUsage {
    // Fields in name order: the answers have always written them so.
    /// Input tokens (text and image).
    pub input_tokens: u64,
    /// Input tokens by kind.
    pub input_tokens_details: TokenDetails,
    /// Output tokens.
    pub output_tokens: u64,
    /// Output tokens by kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<TokenDetails>,
    /// All tokens.
    pub total_tokens: u64,
}

/// Tokens by kind.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct TokenDetails {
    /// Image tokens.
    pub image_tokens: u64,
    /// Text tokens.
    pub text_tokens: u64,
}

impl ImagesUsage {
    /// The usage of stream events: input details only (zeros when nothing was reported).
    pub fn of_stream(usage: Option<&TokenUsage>) -> Self {
        let u = usage.copied().unwrap_or_default();
        Self {
            input_tokens: u.input_tokens(),
            input_tokens_details: TokenDetails {
                image_tokens: u.input_image_tokens,
                text_tokens: u.input_text_tokens,
            },
            output_tokens: u.output_tokens(),
            output_tokens_details: None,
            total_tokens: u.total_tokens(),
        }
    }

    /// The usage of an `ImagesResponse`: with output details.
    pub fn of_answer(usage: &TokenUsage) -> Self {
        Self {
            output_tokens_details: Some(TokenDetails {
                image_tokens: usage.output_image_tokens,
                text_tokens: usage.output_text_tokens,
            }),
            ..Self::of_stream(Some(usage))
        }
    }
}

impl<'a> ImagesResponse<'a> {
    /// Builds the answer with exactly the fields OpenAI sends for the model's family (GPT
    /// image: `created`, `data`, `background`, `output_format`, `quality`, `size`, `usage`;
    /// DALL·E: `created`, `data`), plus the upstream's other fields as it sent them
    /// (`svg_usage`, `safety_identifier`, fields ArtGen does not know), signing a URL for each
    /// image when `response_format` is `url`. Its fields are written in name order, an
    /// upstream field taking the place of ArtGen's of the same name; serialise it with
    /// [`InlineImages::to_json`] of `images`.
    pub fn new(
        state: &AppState,
        base: &BaseUrl,
        generation: &'a Generation,
        images: &'a InlineImages<'a>,
    ) -> Self {
        let inline = generation.response_format == ResponseFormat::B64Json;
        let data = generation
            .images
            .iter()
            .map(|image| ImageData {
                b64_json: inline.then(|| images.image(&image.bytes)),
                revised_prompt: image.revised_prompt.as_deref(),
                url: (!inline).then(|| signed_url(state, base, image.id.as_str())),
            })
            .collect();
        let gpt = generation.family == ModelFamily::GptImage;
        let echo = |value: &Option<String>| value.clone().filter(|_| gpt);
        let extra = generation
            .extra
            .iter()
            .filter(|(name, _)| {
                // The upstream's own usage block wins over the one rebuilt from its counts.
                let known = matches!(name.as_str(), "created" | "data");
                !known && (gpt || name.as_str() != "usage")
            })
            .map(|(name, value)| (name.as_str(), value))
            .collect();
        Self {
            created: generation.created,
            data,
            background: echo(&generation.echo.background),
            quality: echo(&generation.echo.quality),
            output_format: echo(&generation.echo.output_format),
            size: echo(&generation.echo.size),
            usage: generation
                .usage
                .as_ref()
                .filter(|_| gpt)
                .map(ImagesUsage::of_answer),
            extra,
        }
    }
}

/// One top-level field of an [`ImagesResponse`].
enum Field<'s, 'a> {
    Number(u64),
    Data(&'s [ImageData<'a>]),
    Text(&'s str),
    Usage(&'s ImagesUsage),
    Upstream(&'s Value),
}

impl Serialize for Field<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => n.serialize(serializer),
            Self::Data(data) => data.serialize(serializer),
            Self::Text(text) => text.serialize(serializer),
            Self::Usage(usage) => usage.serialize(serializer),
            Self::Upstream(value) => value.serialize(serializer),
        }
    }
}

impl Serialize for ImagesResponse<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields: BTreeMap<&str, Field<'_, '_>> = BTreeMap::new();
        fields.insert("created", Field::Number(self.created));
        fields.insert("data", Field::Data(&self.data));
        for (name, value) in [
            ("background", &self.background),
            ("output_format", &self.output_format),
            ("quality", &self.quality),
            ("size", &self.size),
        ] {
            if let Some(value) = value {
                fields.insert(name, Field::Text(value));
            }
        }
        if let Some(usage) = &self.usage {
            fields.insert("usage", Field::Usage(usage));
        }
        for (name, value) in &self.extra {
            fields.insert(name, Field::Upstream(value));
        }
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (name, field) in &fields {
            map.serialize_entry(name, field)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_are_written_in_name_order_with_the_upstreams_in_place() {
        let svg_usage = json!({"input_tokens": 3});
        let upstream_usage = json!({"total_tokens": 9, "future": 1});
        let images = InlineImages::default();
        let answer = ImagesResponse {
            created: 7,
            data: vec![ImageData {
                b64_json: Some(images.image(b"hi")),
                revised_prompt: Some("a \"fox\""),
                url: None,
            }],
            background: Some("opaque".into()),
            quality: Some("high".into()),
            output_format: Some("png".into()),
            size: Some("1024x1024".into()),
            usage: Some(ImagesUsage::of_answer(&TokenUsage::default())),
            extra: vec![("svg_usage", &svg_usage), ("usage", &upstream_usage)],
        };

        let json = images.to_json(&answer).expect("serialises");

        // What the map-built answer wrote: a `serde_json::Map` keeps its keys sorted.
        let expected = json!({
            "created": 7,
            "data": [{"b64_json": "aGk=", "revised_prompt": "a \"fox\""}],
            "background": "opaque", "quality": "high", "output_format": "png",
            "size": "1024x1024", "svg_usage": svg_usage, "usage": upstream_usage,
        });
        assert_eq!(
            String::from_utf8(json).expect("utf-8"),
            expected.to_string()
        );
    }

    #[test]
    fn usage_is_written_as_the_map_it_replaces_wrote_it() {
        let usage = TokenUsage {
            input_text_tokens: 1,
            input_image_tokens: 2,
            output_image_tokens: 3,
            output_text_tokens: 4,
            ..TokenUsage::default()
        };
        let expected = json!({
            "total_tokens": usage.total_tokens(),
            "input_tokens": usage.input_tokens(),
            "output_tokens": usage.output_tokens(),
            "input_tokens_details": {"text_tokens": 1, "image_tokens": 2},
            "output_tokens_details": {"image_tokens": 3, "text_tokens": 4},
        });
        let written = serde_json::to_string(&ImagesUsage::of_answer(&usage)).expect("json");
        assert_eq!(written, expected.to_string());
        let stream = serde_json::to_string(&ImagesUsage::of_stream(None)).expect("json");
        assert_eq!(
            stream,
            r#"{"input_tokens":0,"input_tokens_details":{"image_tokens":0,"text_tokens":0},"output_tokens":0,"total_tokens":0}"#
        );
    }
}
