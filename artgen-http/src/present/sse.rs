//! The payloads of server-sent events for `stream: true`: the upstream's
//! (`image_generation.*` / `image_edit.*`), each also carrying ArtGen's request id, and the one
//! `error` event of a failure after the stream started. [`crate::sse`] carries them.

use artgen_core::domain::{Dimensions, ImageJob, Operation, TokenUsage};
use artgen_core::{ErrorKind, GeneratedImage, RequestContext};
use base64::Engine as _;
use serde::Serialize;

use super::openai::ImagesUsage;

/// Echo fields every event of one stream carries, fixed by the request.
#[derive(Debug, Clone)]
pub struct StreamEcho {
    prefix: &'static str,
    request_id: String,
    quality: String,
    background: String,
    output_format: String,
    size: String,
    /// The effective end-user id, which the upstream repeats on completed events.
    safety_identifier: Option<String>,
}

/// One image event's data. Fields in name order, as the events have always written them.
#[derive(Debug, Serialize)]
pub struct ImageEvent {
    b64_json: String,
    background: String,
    created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_id: Option<String>,
    output_format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_image_index: Option<u32>,
    quality: String,
    request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    safety_identifier: Option<String>,
    size: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<ImagesUsage>,
}

/// The `error` event's data: `{"type":"error","error":{...}}` with the error envelope's body.
#[derive(Debug, Serialize)]
pub struct ErrorEvent<'a> {
    error: ErrorEventBody<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct ErrorEventBody<'a> {
    code: &'static str,
    message: &'a str,
    param: Option<&'a str>,
    request_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl StreamEcho {
    /// The echo of a job's stream.
    pub fn new(job: &ImageJob, ctx: &RequestContext) -> Self {
        Self {
            prefix: if job.operation() == Operation::Edit {
                "image_edit"
            } else {
                "image_generation"
            },
            request_id: ctx.request_id.to_string(),
            quality: job.effective_quality().to_string(),
            background: job
                .background()
                .map_or_else(|| "auto".to_owned(), |b| b.to_string()),
            output_format: job.effective_format().to_string(),
            size: job.size().to_string(),
            safety_identifier: job.safety_identifier().map(str::to_owned),
        }
    }

    /// The request id the events carry.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// An event's name: `image_generation.<kind>` or `image_edit.<kind>`.
    pub fn event_name(&self, kind: &str) -> String {
        format!("{}.{kind}", self.prefix)
    }

    fn event(&self, kind: &str, bytes: &[u8], created_at: u64) -> ImageEvent {
        ImageEvent {
            b64_json: base64::engine::general_purpose::STANDARD.encode(bytes),
            background: self.background.clone(),
            created_at,
            image_id: None,
            output_format: self.output_format.clone(),
            partial_image_index: None,
            quality: self.quality.clone(),
            request_id: self.request_id.clone(),
            safety_identifier: None,
            size: self.size.clone(),
            kind: self.event_name(kind),
            url: None,
            usage: None,
        }
    }

    /// A partial image (its own dimensions where the upstream said them).
    pub fn partial(
        &self,
        index: u32,
        image: &[u8],
        dimensions: Option<Dimensions>,
        created_at: u64,
    ) -> ImageEvent {
        let mut event = self.event("partial_image", image, created_at);
        event.partial_image_index = Some(index);
        if let Some(dimensions) = dimensions {
            event.size = dimensions.to_string();
        }
        event
    }

    /// A completed image, with its usage, id and signed `url`.
    pub fn completed(
        &self,
        image: &GeneratedImage,
        usage: Option<&TokenUsage>,
        url: String,
        created_at: u64,
    ) -> ImageEvent {
        let mut event = self.event("completed", &image.bytes, created_at);
        event.size = image.dimensions.to_string();
        event.usage = Some(ImagesUsage::of_stream(usage));
        event.safety_identifier = self.safety_identifier.clone();
        event.image_id = Some(image.id.as_str().to_owned());
        event.url = Some(url);
        event
    }

    /// The `error` event of a failure after the stream started (a generic message for
    /// internal errors, as the JSON errors have).
    pub fn error<'a>(&'a self, err: &'a artgen_core::Error) -> ErrorEvent<'a> {
        let status = crate::error::status_code(err.kind());
        let message = if status.is_server_error() && err.kind() == ErrorKind::Internal {
            "internal error"
        } else {
            err.message()
        };
        ErrorEvent {
            error: ErrorEventBody {
                code: err.code().as_str(),
                message,
                param: err.param(),
                request_id: &self.request_id,
                kind: crate::error::error_type(err.code()),
            },
            kind: "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use artgen_core::domain::{ImageId, OutputFormat};
    use artgen_core::{Error, ErrorCode};
    use serde_json::json;

    use super::*;

    fn echo(safety_identifier: Option<&str>) -> StreamEcho {
        StreamEcho {
            prefix: "image_edit",
            request_id: "req_1".into(),
            quality: "high".into(),
            background: "auto".into(),
            output_format: "png".into(),
            size: "1024x1024".into(),
            safety_identifier: safety_identifier.map(str::to_owned),
        }
    }

    fn written(data: &impl Serialize) -> String {
        serde_json::to_string(data).expect("serialises")
    }

    #[test]
    fn image_events_are_written_as_the_maps_they_replace_wrote_them() {
        let partial = echo(None).partial(1, b"hi", Some(Dimensions::new(512, 512)), 9);
        let expected = json!({
            "type": "image_edit.partial_image", "b64_json": "aGk=", "created_at": 9,
            "size": "512x512", "quality": "high", "background": "auto",
            "output_format": "png", "request_id": "req_1", "partial_image_index": 1,
        });
        assert_eq!(written(&partial), expected.to_string());

        let image = GeneratedImage {
            id: ImageId::generate(),
            bytes: bytes::Bytes::from_static(b"hi"),
            format: OutputFormat::Png,
            dimensions: Dimensions::new(1024, 1536),
            revised_prompt: None,
            blob: artgen_core::ports::BlobRef {
                sha256: "0".repeat(64),
                len: 2,
                format: OutputFormat::Png,
            },
        };
        let completed = echo(Some("hash")).completed(&image, None, "/images/x".into(), 9);
        let expected = json!({
            "type": "image_edit.completed", "b64_json": "aGk=", "created_at": 9,
            "size": "1024x1536", "quality": "high", "background": "auto",
            "output_format": "png", "request_id": "req_1",
            "usage": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0,
                "input_tokens_details": {"text_tokens": 0, "image_tokens": 0}},
            "safety_identifier": "hash", "image_id": image.id.as_str(), "url": "/images/x",
        });
        assert_eq!(written(&completed), expected.to_string());
    }

    #[test]
    fn the_error_event_carries_the_envelope_and_hides_internal_causes() {
        let echo = echo(None);
        let refused = Error::invalid_param("size", "bad size");
        let expected = json!({"type": "error", "error": {
            "code": "invalid_value", "message": "bad size", "type": "invalid_request_error",
            "param": "size", "request_id": "req_1",
        }});
        assert_eq!(written(&echo.error(&refused)), expected.to_string());

        let internal = Error::new(ErrorCode::Internal, "disk on fire");
        let data: serde_json::Value =
            serde_json::from_str(&written(&echo.error(&internal))).expect("json");
        assert_eq!(data["error"]["message"], "internal error");
        assert_eq!(data["error"]["param"], serde_json::Value::Null);
    }
}
