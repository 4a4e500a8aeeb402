//! Server-sent events for `stream: true`, carrying the payloads of
//! [`crate::present::sse`].
//!
//! The upstream stream is opened before the answer starts, so every failure up to then is an
//! ordinary JSON error with its status. Then a task pumps events into a channel whose other end
//! is the response body; when the client disconnects the channel closes, the pump stops, the
//! upstream call is cancelled and usage records what was delivered.

use std::convert::Infallible;
use std::time::Duration;

use artgen_core::domain::JobParams;
use artgen_core::{EventSink, RequestContext, ServiceEvent};
use async_trait::async_trait;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::middleware::RequestSummary;
use crate::present::sse::StreamEcho;
use crate::routes::images::{signed_url, BaseUrl};
use crate::state::AppState;

struct ChannelSink {
    tx: mpsc::Sender<Event>,
    echo: StreamEcho,
    state: AppState,
    base: BaseUrl,
}

impl ChannelSink {
    fn event(name: &str, data: &impl Serialize) -> Event {
        // The payloads are plain structs of strings and numbers: serialising cannot fail.
        let data = serde_json::to_string(data).unwrap_or_default();
        Event::default().event(name).data(data)
    }

    async fn error(&self, err: &artgen_core::Error) {
        deliver(&self.tx, Self::event("error", &self.echo.error(err))).await;
    }
}

#[async_trait]
impl EventSink for ChannelSink {
    async fn send(&mut self, event: ServiceEvent) -> bool {
        let now = self.state.service().clock().now_secs();
        let (kind, data) = match event {
            ServiceEvent::Partial {
                index,
                image,
                dimensions,
                ..
            } => (
                "partial_image",
                self.echo.partial(index, &image, dimensions, now),
            ),
            ServiceEvent::Completed { image, usage } => {
                let url = signed_url(&self.state, &self.base, image.id.as_str());
                let data = self.echo.completed(&image, usage.as_ref(), url, now);
                ("completed", data)
            }
        };
        let name = self.echo.event_name(kind);
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
    let open =
        crate::present::to_completion(async move { service.open_stream(&job_ctx, params).await })
            .await
            .map_err(|e| ApiError::new(e, Some(ctx.request_id.clone())))?;
    let summary = RequestSummary {
        model: open.job().model().id.clone(),
        cost: artgen_core::domain::Money::ZERO,
        images: 0,
        prompt: open.job().prompt().to_owned(),
    };
    let echo = StreamEcho::new(open.job(), &ctx);
    let warnings = open.warnings().to_vec();
    let (remaining, downgraded) = (open.budget_remaining(), open.quality_downgraded());
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
                request_id = %sink.echo.request_id(),
                "stream cancelled by the client"
            ),
            Err(err) => {
                tracing::warn!(target: "artgen::access", request_id = %sink.echo.request_id(), error = %err, "stream failed");
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
    crate::present::budget_headers(response.headers_mut(), remaining, downgraded);
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
