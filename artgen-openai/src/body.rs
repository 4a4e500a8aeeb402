//! Request bodies: the JSON of a generation, whose fields are also the text fields of a
//! multipart edit. Only parameters the validated request holds are sent: validation already
//! refused whatever the model does not accept, so the catalogue decides, not this file.
//! Parameters ArtGen does not know are forwarded unchanged.

use std::collections::BTreeMap;

use artgen_core::domain::{
    Background, Complexity, GenerateRequest, InputFidelity, Moderation, OutputFormat, Quality,
    Style,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::OpenAiError;

/// `response_format` ArtGen always asks DALL·E for: upstream URLs expire, and every image is
/// stored.
pub(crate) const B64_JSON: &str = "b64_json";

/// Body of `POST /images/generations` (`CreateImageRequest`), and the text fields of a
/// multipart edit.
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
    complexity: Option<Complexity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    style: Option<Style>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame_count: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame_duration_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    svg: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    safety_identifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_fidelity: Option<InputFidelity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_images: Option<u8>,
    /// Parameters ArtGen does not know; a known field of the same name wins.
    #[serde(flatten)]
    forwarded: BTreeMap<&'a str, &'a Value>,
}

impl<'a> CreateImageRequest<'a> {
    /// The body for a validated request.
    pub(crate) fn new(request: &'a GenerateRequest) -> Self {
        let model = request.model();
        let (user, safety_identifier) = match request.safety_identifier_param() {
            "safety_identifier" => (None, request.safety_identifier()),
            _ => (request.safety_identifier(), None),
        };
        let mut body = Self {
            model: &model.upstream_id,
            prompt: request.prompt().as_str(),
            n: request.n().get(),
            size: request.size().to_string(),
            quality: request.quality(),
            output_format: request.output_format(),
            output_compression: request.output_compression(),
            background: request.background(),
            moderation: request.moderation(),
            complexity: request.complexity(),
            style: request.style(),
            frame_count: request.frame_count(),
            frame_duration_ms: request.frame_duration_ms(),
            svg: request.svg(),
            response_format: model.response_format.then_some(B64_JSON),
            user,
            safety_identifier,
            input_fidelity: None,
            stream: None,
            partial_images: None,
            forwarded: BTreeMap::new(),
        };
        let known = body.known_names();
        body.forwarded = request
            .forwarded()
            .iter()
            .filter(|(name, _)| !known.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), value))
            .collect();
        body
    }

    /// The names of the fields this type sends itself.
    fn known_names(&self) -> Vec<&'static str> {
        vec![
            "model",
            "prompt",
            "n",
            "size",
            "quality",
            "output_format",
            "output_compression",
            "background",
            "moderation",
            "complexity",
            "style",
            "frame_count",
            "frame_duration_ms",
            "svg",
            "response_format",
            "user",
            "safety_identifier",
            "input_fidelity",
            "stream",
            "partial_images",
        ]
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
    /// numbers, booleans and objects in their JSON spelling.
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
    fn sends_todays_parameters_and_forwards_unknown_ones_unchanged() {
        let params = GenerateParams {
            model: "gpt-image-2.5-flare".into(),
            prompt: "a red fox".into(),
            quality: Some(Quality::Xhigh),
            complexity: Some(artgen_core::domain::Complexity::High),
            format: Some(OutputFormat::Gif),
            frame_count: Some(4),
            safety_identifier: Some("hash-1".into()),
            user: Some("old".into()),
            extra: [("future_knob".to_owned(), serde_json::json!({"level": 2}))].into(),
            ..GenerateParams::default()
        };
        let request = params.validate(&Catalog::default()).expect("valid");

        let body: Value = serde_json::from_slice(
            &CreateImageRequest::new(&request)
                .to_json()
                .expect("encodes"),
        )
        .expect("json");

        assert_eq!(body["quality"], "xhigh");
        assert_eq!(body["complexity"], "high");
        assert_eq!(body["output_format"], "gif");
        assert_eq!(body["frame_count"], 4);
        assert_eq!(body["safety_identifier"], "hash-1");
        assert!(body.get("user").is_none(), "the effective id is sent once");
        assert_eq!(body["future_knob"], serde_json::json!({"level": 2}));
        assert!(
            body.get("response_format").is_none(),
            "GPT image models refuse it"
        );
    }

    #[test]
    fn dall_e_is_asked_for_base64_and_keeps_the_callers_user_field() {
        let params = GenerateParams {
            user: Some("lisa".into()),
            ..GenerateParams::default()
        };
        let request = request("dall-e-3", params);

        let body: Value = serde_json::from_slice(
            &CreateImageRequest::new(&request)
                .to_json()
                .expect("encodes"),
        )
        .expect("json");

        assert_eq!(body["response_format"], "b64_json");
        assert_eq!(body["user"], "lisa");
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
