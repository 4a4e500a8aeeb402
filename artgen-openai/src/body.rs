//! Request bodies: the JSON of a generation, whose fields are also the text fields of a
//! multipart edit. Only the parameters the model family accepts are ever sent.

use artgen_core::domain::{
    Background, GenerateRequest, InputFidelity, ModelFamily, Moderation, OutputFormat, Quality,
    Style,
};
use serde::Serialize;
use serde_json::Value;

use crate::error::OpenAiError;

/// `response_format` ArtGen always asks DALL·E for: upstream URLs expire, and every image is
/// stored.
pub(crate) const B64_JSON: &str = "b64_json";

/// Body of `POST /images/generations` (`CreateImageRequest`), and the text fields of a
/// multipart edit, holding only the parameters the request's model family accepts.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    input_fidelity: Option<InputFidelity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_images: Option<u8>,
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
            input_fidelity: None,
            stream: None,
            partial_images: None,
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

    /// Asks for a stream of events, with `partial_images` previews when set.
    pub(crate) fn streaming(self, partial_images: Option<u8>) -> Self {
        Self {
            stream: Some(true),
            partial_images,
            ..self
        }
    }

    /// Adds an edit's `input_fidelity` (validation only lets it through for models that take
    /// it).
    pub(crate) fn with_input_fidelity(self, input_fidelity: Option<InputFidelity>) -> Self {
        Self {
            input_fidelity,
            ..self
        }
    }

    /// The JSON body.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, OpenAiError> {
        serde_json::to_vec(self).map_err(OpenAiError::Encode)
    }

    /// The same parameters as multipart text fields, sorted by name: strings as they are,
    /// numbers and booleans in their JSON spelling.
    pub(crate) fn form_fields(&self) -> Result<Vec<(String, String)>, OpenAiError> {
        let Value::Object(fields) = serde_json::to_value(self).map_err(OpenAiError::Encode)? else {
            return Ok(Vec::new());
        };
        Ok(fields
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use artgen_core::domain::{Catalog, GenerateParams};

    use super::*;

    fn request(model: &str, params: GenerateParams) -> GenerateRequest {
        GenerateParams {
            model: model.into(),
            prompt: "a red fox".into(),
            ..params
        }
        .validate(&Catalog::default())
        .expect("valid request")
    }

    #[test]
    fn form_fields_spell_values_as_the_json_body_does() {
        let params = GenerateParams {
            n: Some(2),
            quality: Some(Quality::High),
            output_compression: Some(80),
            format: Some(OutputFormat::Webp),
            ..GenerateParams::default()
        };
        let request = request("gpt-image-1", params);

        let fields = CreateImageRequest::new(&request)
            .streaming(Some(2))
            .form_fields()
            .expect("encodes");

        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("prompt"), Some("a red fox"));
        assert_eq!(get("n"), Some("2"));
        assert_eq!(get("quality"), Some("high"));
        assert_eq!(get("output_format"), Some("webp"));
        assert_eq!(get("output_compression"), Some("80"));
        assert_eq!(get("stream"), Some("true"));
        assert_eq!(get("partial_images"), Some("2"));
        assert_eq!(get("response_format"), None);
    }

    #[test]
    fn streaming_without_partial_images_sends_only_stream() {
        let request = request("gpt-image-1", GenerateParams::default());

        let body = CreateImageRequest::new(&request).streaming(None);
        let json: Value = serde_json::from_slice(&body.to_json().expect("encodes")).expect("json");

        assert_eq!(json["stream"], true);
        assert!(json.get("partial_images").is_none());
    }
}
