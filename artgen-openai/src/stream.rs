//! Streamed generations and edits: the upstream's `text/event-stream` answer, read chunk by
//! chunk and turned into [`StreamEvent`]s.
//!
//! The stream is a plain [`unfold`] over the response (no task is spawned), so dropping it
//! drops the response and closes the upstream connection. Events:
//!
//! - `image_generation.partial_image` / `image_edit.partial_image` → [`StreamEvent::Partial`];
//! - `*.completed` → [`StreamEvent::Completed`] with its usage;
//! - an `error` event, or any data with an `error` key → one `Err` item, then the end;
//! - `data: [DONE]` ends the stream; comments, keepalives and unknown events are skipped.
//!
//! A stream that ends before any completed image yields one `upstream_error` item.

use std::borrow::Cow;

use artgen_core::ports::{ImageEventStream, StreamEvent};
use futures_util::stream::{self, unfold};
use reqwest::Response;
use serde::Deserialize;
use serde_json::Value;

use crate::api_error::ApiError;
use crate::error::OpenAiError;
use crate::headers;
use crate::slots::Slot;
use crate::sse::{SseDecoder, SseEvent};
use crate::types::{decode_base64, parse_images, usage, Base64Text, WireError};

/// The events of a `text/event-stream` answer, reading at most `limit` bytes per event.
pub(crate) fn sse_events(response: Response, model: String, limit: usize) -> ImageEventStream {
    let events = Events {
        request_id: headers::request_id(response.headers()),
        response: Some(response),
        decoder: SseDecoder::new(limit),
        model,
        completed: 0,
    };
    ImageEventStream::new(unfold(events, |mut events| async move {
        let item = events.next_item().await?;
        Some((item, events))
    }))
}

/// The events of an upstream that answered a stream request with plain JSON (some compatible
/// servers do): one completed event per image, the call's usage on the first.
pub(crate) fn json_events(body: &[u8]) -> Result<ImageEventStream, OpenAiError> {
    let answer = parse_images(body, &Slot::default())?;
    let (images, mut usage) = (answer.images, answer.usage);
    let events = images.into_iter().map(move |image| {
        Ok(StreamEvent::Completed {
            image: image.bytes,
            usage: usage.take(),
        })
    });
    Ok(ImageEventStream::new(stream::iter(events)))
}

/// The state of a stream between items.
struct Events {
    /// `None` once the stream has ended (the connection is then closed).
    response: Option<Response>,
    decoder: SseDecoder,
    model: String,
    request_id: Option<String>,
    completed: usize,
}

/// What one SSE event means.
enum Step {
    Event(StreamEvent),
    Skip,
    Done,
    Fail(OpenAiError),
}

impl Events {
    async fn next_item(&mut self) -> Option<artgen_core::Result<StreamEvent>> {
        loop {
            let response = self.response.as_mut()?;
            match self.decoder.next_event() {
                Err(err) => return self.fail(err),
                Ok(Some(event)) => match self.interpret(&event) {
                    Step::Event(event) => {
                        if matches!(event, StreamEvent::Completed { .. }) {
                            self.completed += 1;
                        }
                        return Some(Ok(event));
                    }
                    Step::Skip => continue,
                    Step::Done => return self.finish(),
                    Step::Fail(err) => return self.fail(err),
                },
                Ok(None) if self.decoder.is_ended() => return self.finish(),
                Ok(None) => {}
            }
            match response.chunk().await {
                Ok(Some(chunk)) => self.decoder.push(&chunk),
                Ok(None) => self.decoder.end(),
                Err(err) => return self.fail(OpenAiError::Transport(err)),
            }
        }
    }

    /// Ends the stream with an error item.
    fn fail(&mut self, err: OpenAiError) -> Option<artgen_core::Result<StreamEvent>> {
        self.response = None;
        Some(Err(err.into()))
    }

    /// Ends the stream: quietly after a completed image, else with an error item.
    fn finish(&mut self) -> Option<artgen_core::Result<StreamEvent>> {
        self.response = None;
        (self.completed == 0).then(|| Err(OpenAiError::NoImages.into()))
    }

    fn interpret(&self, event: &SseEvent) -> Step {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Step::Done;
        }
        let name = event.name.as_deref().unwrap_or_default();
        if name == "keepalive" || data.is_empty() {
            return Step::Skip;
        }
        match serde_json::from_str::<TypedEvent<'_>>(data) {
            Ok(event) => self.typed(name, data, event),
            // A field of an unexpected type, or data that is not an object: read as a value,
            // field by field, which says which.
            Err(_) => self.loose(name, data),
        }
    }

    /// An event read in one pass, its base64 borrowed from the event's data.
    fn typed(&self, name: &str, data: &str, event: TypedEvent<'_>) -> Step {
        if let Some(error) = &event.error {
            return self.error(WireError::from_value(error));
        }
        let kind = event.kind.as_deref().unwrap_or(name);
        if name == "error" || kind == "error" {
            // The whole data is the error object; error events are small.
            let root = serde_json::from_str::<Value>(data).unwrap_or_default();
            return self.error(WireError::from_value(&root));
        }
        let Some(partial) = image_kind(kind) else {
            return Step::Skip;
        };
        self.image(
            partial,
            event.partial_image_index,
            event.b64_json.map(|text| text.0),
            event.usage,
        )
    }

    /// An event the typed reading refused, read as a value first.
    fn loose(&self, name: &str, data: &str) -> Step {
        let root: Value = match serde_json::from_str(data) {
            Ok(root) => root,
            Err(err) => return Step::Fail(OpenAiError::Decode(err)),
        };
        let kind = root.get("type").and_then(Value::as_str).unwrap_or(name);
        if let Some(error) = root.get("error") {
            return self.error(WireError::from_value(error));
        }
        if name == "error" || kind == "error" {
            return self.error(WireError::from_value(&root));
        }
        let Some(partial) = image_kind(kind) else {
            return Step::Skip;
        };
        let mut root = root;
        if let Some(object) = root.as_object_mut() {
            // Already read above, leniently.
            object.remove("type");
        }
        let fields = match TypedEvent::deserialize(root) {
            Ok(fields) => fields,
            Err(err) => return Step::Fail(OpenAiError::Decode(err)),
        };
        self.image(
            partial,
            fields.partial_image_index,
            fields.b64_json.map(|text| text.0),
            fields.usage,
        )
    }

    /// The image of a partial (`partial`) or completed event.
    fn image(
        &self,
        partial: bool,
        index: Option<u32>,
        b64: Option<Cow<'_, str>>,
        usage_block: Option<Value>,
    ) -> Step {
        let index = index.unwrap_or(0);
        let position = if partial {
            usize::try_from(index).unwrap_or(usize::MAX)
        } else {
            self.completed
        };
        let Some(b64) = b64 else {
            return Step::Fail(OpenAiError::EmptyImage { index: position });
        };
        let image = match decode_base64(&b64) {
            Ok(image) => image,
            Err(source) => {
                return Step::Fail(OpenAiError::Base64 {
                    index: position,
                    source,
                })
            }
        };
        Step::Event(if partial {
            StreamEvent::Partial { index, image }
        } else {
            StreamEvent::Completed {
                image,
                usage: usage(usage_block),
            }
        })
    }

    fn error(&self, wire: WireError) -> Step {
        let api = ApiError::from_event(&self.model, wire, self.request_id.clone());
        Step::Fail(OpenAiError::Api(Box::new(api)))
    }
}

/// Whether an event of `kind` carries a partial image (`Some(true)`), a completed one
/// (`Some(false)`), or none (skipped).
fn image_kind(kind: &str) -> Option<bool> {
    if kind.ends_with(".partial_image") {
        Some(true)
    } else if kind.ends_with(".completed") {
        Some(false)
    } else {
        tracing::debug!(event = kind, "skipping an unknown stream event");
        None
    }
}

/// An event's data read in one pass: what decides how it is read, and the fields ArtGen reads
/// from a partial or completed event (`ImageGen*Event`, `ImageEdit*Event`; the echo fields are
/// ignored). The base64 is borrowed from the event's data where it can be (see
/// [`Base64Text`]): an event's image is then held twice while it is decoded (the data and the
/// image), not three times.
#[derive(Debug, Deserialize)]
struct TypedEvent<'a> {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    /// Present (even as `null`) when the data has an `error` key.
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
    #[serde(default, borrow)]
    b64_json: Option<Base64Text<'a>>,
    #[serde(default)]
    partial_image_index: Option<u32>,
    /// Kept raw: a usage block that does not parse must not lose the image.
    #[serde(default)]
    usage: Option<Value>,
}

/// `Some` for a key that is there, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_base64_is_borrowed_from_its_data() {
        let data = r#"{"type":"image_generation.completed","b64_json":"aGk=","usage":null}"#;

        let event: TypedEvent<'_> = serde_json::from_str(data).expect("parses");

        assert!(matches!(
            event.b64_json,
            Some(Base64Text(Cow::Borrowed("aGk=")))
        ));
        assert_eq!(event.kind.as_deref(), Some("image_generation.completed"));
        assert_eq!(event.error, None);
    }

    #[test]
    fn an_error_key_is_present_even_when_null() {
        let event: TypedEvent<'_> = serde_json::from_str(r#"{"error":null}"#).expect("parses");

        assert_eq!(event.error, Some(Value::Null));
    }
}
