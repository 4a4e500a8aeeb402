//! The port to an image model provider (OpenAI, Azure OpenAI, a compatible server, the mock).

use std::collections::BTreeMap;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::{ImageJob, TokenUsage};
use crate::error::Result;

/// One image as the provider returned it: encoded bytes, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderImage {
    /// Encoded image (PNG, JPEG or WebP).
    pub bytes: Bytes,
    /// The prompt the model actually used, where it rewrites prompts (DALL·E 3).
    pub revised_prompt: Option<String>,
}

/// What the upstream said about its answer (OpenAI's echo fields), as sent: values are kept
/// as text, so a value ArtGen does not know yet still reaches the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseEcho {
    /// `background` (`transparent`, `opaque`, ...).
    pub background: Option<String>,
    /// `quality` the upstream used (e.g. what `auto` became).
    pub quality: Option<String>,
    /// `size` the upstream made.
    pub size: Option<String>,
    /// `output_format` of the images.
    pub output_format: Option<String>,
}

/// A provider's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderResponse {
    /// The images.
    pub images: Vec<ProviderImage>,
    /// Token usage, where the upstream reports it.
    pub usage: Option<TokenUsage>,
    /// Name of the provider that served the call (after fallbacks).
    pub provider: String,
    /// The upstream's echo of the options it used.
    pub echo: ResponseEcho,
    /// Top-level answer fields other than `created`, `data` and the echo fields, as sent
    /// (`usage`, `svg_usage`, `safety_identifier`, and fields ArtGen does not know), for
    /// callers of the OpenAI-compatible routes.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ProviderResponse {
    /// An answer with images and usage only (no echo, no extra fields).
    pub fn new(images: Vec<ProviderImage>, usage: Option<TokenUsage>, provider: &str) -> Self {
        Self {
            images,
            usage,
            provider: provider.to_owned(),
            echo: ResponseEcho::default(),
            extra: BTreeMap::new(),
        }
    }
}

/// One event of a streamed generation or edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A preview while the image is being drawn.
    Partial {
        /// 0-based index of the preview.
        index: u32,
        /// Encoded preview.
        image: Bytes,
    },
    /// A finished image (one per requested image).
    Completed {
        /// Encoded image.
        image: Bytes,
        /// Token usage of this image's call, where reported.
        usage: Option<TokenUsage>,
    },
}

/// A stream of events, and the name of the provider serving it where a decorator chose one
/// (fallbacks). Dropping it cancels the upstream call.
pub struct ImageEventStream {
    served_by: Option<String>,
    events: Pin<Box<dyn futures_core::Stream<Item = Result<StreamEvent>> + Send>>,
}

impl ImageEventStream {
    /// Wraps a stream of events.
    pub fn new(
        events: impl futures_core::Stream<Item = Result<StreamEvent>> + Send + 'static,
    ) -> Self {
        Self {
            served_by: None,
            events: Box::pin(events),
        }
    }

    /// Records which provider serves the stream.
    #[must_use]
    pub fn with_served_by(mut self, provider: impl Into<String>) -> Self {
        self.served_by = Some(provider.into());
        self
    }

    /// The provider serving the stream, where a decorator recorded it.
    pub fn served_by(&self) -> Option<&str> {
        self.served_by.as_deref()
    }

    /// The next event, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<StreamEvent>> {
        std::future::poll_fn(|cx| self.events.as_mut().poll_next(cx)).await
    }

    /// Wraps this stream in another (a decorator's), keeping who serves it.
    #[must_use]
    pub fn wrap<S>(self, wrapper: impl FnOnce(Self) -> S) -> Self
    where
        S: futures_core::Stream<Item = Result<StreamEvent>> + Send + 'static,
    {
        let served_by = self.served_by.clone();
        Self {
            served_by,
            events: Box::pin(wrapper(self)),
        }
    }
}

impl std::fmt::Debug for ImageEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageEventStream")
            .field("served_by", &self.served_by)
            .finish_non_exhaustive()
    }
}

impl futures_core::Stream for ImageEventStream {
    type Item = Result<StreamEvent>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

/// Something that turns validated jobs into images.
///
/// Implementations must be cheap to share (`Arc<dyn ImageProvider>`) and safe to call
/// concurrently.
#[async_trait]
pub trait ImageProvider: Send + Sync {
    /// A short name for logs, metrics and usage rows (e.g. `openai`, `azure`, `mock`).
    fn name(&self) -> &str;

    /// Runs a generation, edit or variation and returns all its images.
    ///
    /// # Errors
    /// Adapters MUST map failures to these codes:
    /// - the upstream's safety system refused → its own code (`moderation_blocked` for GPT
    ///   image models, `content_policy_violation` for DALL·E) with the upstream's reason as
    ///   the message, not retryable;
    /// - the model is unknown or retired upstream → `model_not_found`;
    /// - the upstream refused ArtGen's credentials (401/403) → `upstream_auth`, not retryable;
    /// - the upstream rate limit (429) → `upstream_rate_limited`, retryable unless the quota is
    ///   exhausted, with `retry_after` when the upstream said;
    /// - 408, 409, 5xx and connection failures before the request was sent → `upstream_error`,
    ///   retryable;
    /// - a timeout after the request was sent → `upstream_timeout`, not retryable (the
    ///   upstream may have billed);
    /// - any other 4xx → `upstream_error`, not retryable;
    /// - an answer that cannot be parsed → `upstream_error`, not retryable.
    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse>;

    /// Runs a generation or edit as a stream of partial and completed images.
    ///
    /// # Errors
    /// As [`ImageProvider::run`], for failures before the first event; later failures are
    /// items of the stream. A provider that cannot stream returns `upstream_error`.
    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream>;
}
