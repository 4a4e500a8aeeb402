//! Streamed requests: the upstream stream is opened by [`ArtGen::open_stream`], then
//! [`OpenStream::pump`] forwards its events to an [`EventSink`].

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ArtGen, GeneratedImage, Generation, RequestContext};
use crate::domain::{Dimensions, ImageJob, OutputFormat, TokenUsage, UsageRecord};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{ImageEventStream, StreamEvent};

/// What a streaming request tells its caller, in order.
#[derive(Debug, Clone)]
pub enum ServiceEvent {
    /// A preview.
    Partial {
        /// 0-based preview index.
        index: u32,
        /// Encoded preview.
        image: Bytes,
        /// Its format.
        format: OutputFormat,
        /// Its pixel size, read from its header (`None` when unreadable).
        dimensions: Option<Dimensions>,
    },
    /// A finished, stored image.
    Completed {
        /// The image.
        image: GeneratedImage,
        /// Token usage of this image, where reported.
        usage: Option<TokenUsage>,
    },
}

/// Where a streaming request's events go (an SSE response, a test's vector).
#[async_trait]
pub trait EventSink: Send {
    /// Delivers one event; `false` means the receiver is gone and the stream must stop.
    async fn send(&mut self, event: ServiceEvent) -> bool;
}

fn add_usage(total: Option<TokenUsage>, part: &TokenUsage) -> TokenUsage {
    let t = total.unwrap_or_default();
    TokenUsage {
        input_text_tokens: t.input_text_tokens + part.input_text_tokens,
        input_image_tokens: t.input_image_tokens + part.input_image_tokens,
        output_image_tokens: t.output_image_tokens + part.output_image_tokens,
        output_text_tokens: t.output_text_tokens + part.output_text_tokens,
        svg_input_tokens: t.svg_input_tokens + part.svg_input_tokens,
        svg_output_tokens: t.svg_output_tokens + part.svg_output_tokens,
    }
}

/// A streamed request whose upstream stream is open; [`OpenStream::pump`] delivers it.
pub struct OpenStream {
    pub(super) service: ArtGen,
    pub(super) ctx: RequestContext,
    pub(super) job: ImageJob,
    pub(super) row: UsageRecord,
    pub(super) events: ImageEventStream,
    pub(super) started: Instant,
    pub(super) upstream_started: Instant,
    pub(super) warnings: Vec<String>,
    pub(super) budget: super::budget::BudgetAdmission,
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStream")
            .field("request_id", &self.ctx.request_id)
            .finish_non_exhaustive()
    }
}

impl OpenStream {
    /// The job being streamed.
    pub fn job(&self) -> &ImageJob {
        &self.job
    }

    /// Warnings for the caller (a model retired or near retirement, a quality lowered).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The quality asked for and the one the stream is made at, when a budget past its soft
    /// threshold lowered it.
    pub fn quality_downgraded(&self) -> Option<(crate::domain::Quality, crate::domain::Quality)> {
        self.budget.downgraded
    }

    /// Money left in the caller's budget once this stream is settled at its estimate (the
    /// answer's headers leave before its actual cost is known), where a money limit applies.
    pub fn budget_remaining(&self) -> Option<crate::domain::Money> {
        self.budget.remaining_after(self.row.estimated_cost)
    }

    /// Forwards every event to `sink`, storing completed images. When the sink reports the
    /// client gone, the upstream stream is dropped (cancelling the call) and the usage row
    /// records what was delivered. The row is written in every case.
    ///
    /// The last `Completed` event is held back until the usage row is durable, so a client
    /// never sees the end of a stream whose cost was not recorded; the events before it flow
    /// as they arrive.
    ///
    /// # Errors
    /// A stream failure (mapped like [`ImageProvider::run`](crate::ports::ImageProvider::run)'s errors), `cancelled` when the
    /// client left before any image was complete, `upstream_error` when the stream ended
    /// without an image, `internal_error` when storage failed or the usage row could not be
    /// made durable (the held-back event is then not sent).
    pub async fn pump(self, sink: &mut dyn EventSink) -> Result<Generation> {
        let OpenStream {
            service,
            ctx,
            job,
            mut row,
            mut events,
            started,
            upstream_started,
            warnings,
            budget,
        } = self;
        let mut images = Vec::new();
        let mut usage: Option<TokenUsage> = None;
        let mut outcome: Result<()> = Ok(());
        let mut cancelled = false;
        // The latest completed image, sent when the next event comes or after the row is
        // durable.
        let mut held: Option<ServiceEvent> = None;
        while let Some(event) = events.next().await {
            let delivered = match event {
                Ok(StreamEvent::Partial { index, image }) => {
                    let (format, dimensions) = match super::inspect(&image) {
                        Ok((format, dimensions)) => (format, Some(dimensions)),
                        Err(_) => (job.effective_format(), None),
                    };
                    let partial = ServiceEvent::Partial {
                        index,
                        image,
                        format,
                        dimensions,
                    };
                    send_after(sink, held.take(), partial).await
                }
                Ok(StreamEvent::Completed { image, usage: part }) => {
                    if let Some(part) = part {
                        usage = Some(add_usage(usage, &part));
                    }
                    match service.store(&job, image).await {
                        Ok(stored) => {
                            images.push(stored.clone());
                            let completed = ServiceEvent::Completed {
                                image: stored,
                                usage: part,
                            };
                            match held.replace(completed) {
                                Some(previous) => sink.send(previous).await,
                                None => true,
                            }
                        }
                        Err(err) => {
                            outcome = Err(err);
                            break;
                        }
                    }
                }
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            };
            if !delivered {
                cancelled = true;
                held = None;
                break;
            }
        }
        // Dropping the upstream stream cancels the call if it is still running.
        let events_served_by = events.served_by().map(str::to_owned);
        drop(events);
        service.observe_upstream(&job, upstream_started, outcome.as_ref().err(), &mut row);
        let provider =
            events_served_by.unwrap_or_else(|| service.inner.ports.provider.name().to_owned());
        let result = match outcome {
            Err(err) => Err(err),
            Ok(()) if images.is_empty() && cancelled => Err(Error::new(
                ErrorCode::Cancelled,
                "the client closed the stream",
            )),
            Ok(()) if images.is_empty() => Err(Error::new(
                ErrorCode::UpstreamError,
                "the upstream stream ended without an image",
            )),
            Ok(()) => {
                let mut generation = service.generation(&ctx, &job, images, usage, &provider);
                generation.warnings = warnings;
                Ok(budget.answer(generation))
            }
        };
        let closed = service.close(&mut row, started, result.as_ref()).await;
        if let Err(err) = closed {
            // A failed stream keeps its own error; a finished one is withheld.
            return result.and(Err(err));
        }
        if let Some(last) = held {
            // The row is durable; a client gone by now changes nothing that was recorded.
            let _delivered = sink.send(last).await;
        }
        result
    }
}

/// Sends `held` (if any) and then `event`; `false` as soon as the receiver is gone.
async fn send_after(
    sink: &mut dyn EventSink,
    held: Option<ServiceEvent>,
    event: ServiceEvent,
) -> bool {
    if let Some(held) = held {
        if !sink.send(held).await {
            return false;
        }
    }
    sink.send(event).await
}
