//! Server-sent events for `stream: true`: the upstream's events and payloads
//! (`image_generation.*` / `image_edit.*`), each also carrying ArtGen's request id.
//!
//! The upstream stream is opened before the answer starts, so every failure up to then is an
//! ordinary JSON error with its status. Then a task pumps events into a channel whose other end
//! is the response body; when the client disconnects the channel closes, the pump stops, the
//! upstream call is cancelled and usage records what was delivered.

use std::convert::Infallible;
use std::time::Duration;

use artgen_core::domain::{ImageJob, JobParams, Operation, TokenUsage};
use artgen_core::{EventSink, RequestContext, ServiceEvent};
use async_trait::async_trait;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::middleware::RequestSummary;
use crate::routes::images::{signed_url, BaseUrl};
use crate::state::AppState;

/// Echo fields every event carries, fixed by the request.
struct Echo {
    prefix: &'static str,
    request_id: String,
    quality: String,
    background: String,
    output_format: String,
    size: String,
    /// The effective end-user id, which the upstream repeats on completed events.
    safety_identifier: Option<String>,
}

impl Echo {
    fn new(job: &ImageJob, ctx: &RequestContext) -> Self {
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

    fn payload(&self, kind: &str, b64: String, created_at: u64) -> Value {
        json!({
            "type": format!("{}.{kind}", self.prefix),
            "b64_json": b64,
            "created_at": created_at,
            "size": self.size,
            "quality": self.quality,
            "background": self.background,
            "output_format": self.output_format,
            "request_id": self.request_id,
        })
    }
}

/// The upstream's `ImagesUsage` shape.
pub fn images_usage(usage: Option<&TokenUsage>) -> Value {
    let u = usage.copied().unwrap_or_default();
    json!({
        "total_tokens": u.total_tokens(),
        "input_tokens": u.input_tokens(),
        "output_tokens": u.output_tokens(),
        "input_tokens_details": { "text_tokens": u.input_text_tokens, "image_tokens": u.input_image_tokens },
    })
}

struct ChannelSink {
    tx: mpsc::Sender<Event>,
    echo: Echo,
    state: AppState,
    base: BaseUrl,
}

impl ChannelSink {
    fn event(kind: &str, data: &Value) -> Event {
        Event::default().event(kind).data(data.to_string())
    }

    async fn error(&self, err: &artgen_core::Error) {
        let status = crate::error::status_code(err.kind());
        let message = if status.is_server_error() && err.kind() == artgen_core::ErrorKind::Internal
        {
            "internal error"
        } else {
            err.message()
        };
        let data = json!({
            "type": "error",
            "error": {
                "code": err.code().as_str(),
                "message": message,
                "type": crate::error::error_type(err.code()),
                "param": err.param(),
                "request_id": self.echo.request_id,
            }
        });
        deliver(&self.tx, Self::event("error", &data)).await;
    }
}

#[async_trait]
impl EventSink for ChannelSink {
    async fn send(&mut self, event: ServiceEvent) -> bool {
        let engine = base64::engine::general_purpose::STANDARD;
        let now = self.state.service().clock().now_secs();
        let (kind, data) = match event {
            ServiceEvent::Partial {
                index,
                image,
                dimensions,
                ..
            } => {
                let mut data = self
                    .echo
                    .payload("partial_image", engine.encode(&image), now);
                data["partial_image_index"] = json!(index);
                if let Some(dimensions) = dimensions {
                    data["size"] = json!(dimensions.to_string());
                }
                ("partial_image", data)
            }
            ServiceEvent::Completed { image, usage } => {
                let mut data = self
                    .echo
                    .payload("completed", engine.encode(&image.bytes), now);
                data["size"] = json!(image.dimensions.to_string());
                data["usage"] = images_usage(usage.as_ref());
                if let Some(id) = &self.echo.safety_identifier {
                    data["safety_identifier"] = json!(id);
                }
                data["image_id"] = json!(image.id.as_str());
                data["url"] = json!(signed_url(&self.state, &self.base, image.id.as_str()));
                ("completed", data)
            }
        };
        let name = format!("{}.{kind}", self.echo.prefix);
        deliver(&self.tx, Self::event(&name, &data)).await
    }
}

/// How long a client may leave an event unread before it is treated as gone. Without this, a
/// client that stops reading would hold its upstream call and concurrency slot forever.
const SLOW_CLIENT: Duration = Duration::from_secs(60);

/// Sends one event; `false` when the client is gone or has not read for [`SLOW_CLIENT`].
async fn deliver(tx: &mpsc::Sender<Event>, event: Event) -> bool {
    tx.send_timeout(event, SLOW_CLIENT).await.is_ok()
}

/// Opens the stream (errors answered as JSON) and answers with server-sent events.
///
/// # Errors
/// Everything the service refuses before the first event.
pub async fn respond(
    state: AppState,
    ctx: RequestContext,
    base: BaseUrl,
    params: JobParams,
) -> Result<Response, ApiError> {
    let service = state.service().clone();
    let job_ctx = ctx.clone();
    let open = crate::routes::generate::to_completion(async move {
        service.open_stream(&job_ctx, params).await
    })
    .await
    .map_err(|e| ApiError::new(e, Some(ctx.request_id.clone())))?;
    let summary = RequestSummary {
        model: open.job().model().id.clone(),
        cost: artgen_core::domain::Money::ZERO,
        images: 0,
    };
    let echo = Echo::new(open.job(), &ctx);
    let warnings = open.warnings().to_vec();
    let (tx, rx) = mpsc::channel::<Event>(4);
    let mut sink = ChannelSink {
        tx,
        echo,
        state,
        base,
    };
    tokio::spawn(async move {
        match open.pump(&mut sink).await {
            Ok(generation) => tracing::info!(
                target: "artgen::access",
                request_id = %generation.request_id,
                model = %generation.model,
                images = generation.images.len(),
                cost_usd = generation.cost.as_usd(),
                "stream completed"
            ),
            Err(err) if err.code() == artgen_core::ErrorCode::Cancelled => tracing::info!(
                target: "artgen::access",
                request_id = %sink.echo.request_id,
                "stream cancelled by the client"
            ),
            Err(err) => {
                tracing::warn!(target: "artgen::access", request_id = %sink.echo.request_id, error = %err, "stream failed");
                sink.error(&err).await;
            }
        }
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<Event, Infallible>(event), rx))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    crate::error::warning_headers(response.headers_mut(), &warnings);
    response.extensions_mut().insert(summary);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_treated_as_gone() {
        let (tx, _unread) = mpsc::channel::<Event>(1);
        assert!(
            deliver(&tx, Event::default().data("first")).await,
            "fits in the buffer"
        );
        let started = tokio::time::Instant::now();
        assert!(
            !deliver(&tx, Event::default().data("second")).await,
            "nobody reads it"
        );
        assert_eq!(started.elapsed(), SLOW_CLIENT);
    }

    #[tokio::test]
    async fn a_closed_client_is_gone_at_once() {
        let (tx, rx) = mpsc::channel::<Event>(1);
        drop(rx);
        assert!(!deliver(&tx, Event::default().data("x")).await);
    }
}
