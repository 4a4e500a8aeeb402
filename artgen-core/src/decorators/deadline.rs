//! A per-request deadline over any [`ImageProvider`].
//!
//! `run` must answer within `timeout`; otherwise its future is dropped, which cancels the
//! upstream call (and everything the inner decorators were doing), and the caller gets
//! `upstream_timeout`, not retryable. A stream must open within `timeout`, and then no gap
//! between two events (or before the end) may exceed `timeout` either: an idle timeout, since
//! a long generation streaming previews is healthy. On expiry the stream yields one
//! `upstream_timeout` error, drops the upstream stream and ends.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, Sleep};

use super::{as_millis, millis};
use crate::domain::ImageJob;
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{ImageEventStream, ImageProvider, ProviderResponse, StreamEvent};

/// The deadline of [`Deadline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineConfig {
    /// Longest wait for an answer, for a stream to open, and between two stream events, in
    /// milliseconds. Default 300 000 (gpt-image at high quality can take minutes).
    #[serde(with = "millis")]
    pub timeout: Duration,
}

impl Default for DeadlineConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
        }
    }
}

impl DeadlineConfig {
    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// An [`ImageProvider`] that gives another one a deadline.
pub struct Deadline {
    inner: Arc<dyn ImageProvider>,
    config: DeadlineConfig,
}

impl Deadline {
    /// Wraps `inner` with the deadline of `config`.
    pub fn new(inner: Arc<dyn ImageProvider>, config: DeadlineConfig) -> Self {
        Self { inner, config }
    }

    fn expired(&self, job: &ImageJob, what: &str) -> Error {
        tracing::warn!(
            model = %job.model().id,
            provider = self.inner.name(),
            timeout_ms = as_millis(self.config.timeout),
            "deadline expired {what}"
        );
        timeout_error(self.config.timeout)
    }
}

/// `upstream_timeout` naming the deadline, in seconds (milliseconds below one second).
fn timeout_error(timeout: Duration) -> Error {
    let limit = if timeout.subsec_millis() == 0 {
        format!("{}s", timeout.as_secs())
    } else {
        format!("{}ms", as_millis(timeout))
    };
    Error::new(
        ErrorCode::UpstreamTimeout,
        format!("the upstream did not answer within {limit}"),
    )
}

#[async_trait]
impl ImageProvider for Deadline {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        tokio::time::timeout(self.config.timeout, self.inner.run(job))
            .await
            .map_err(|_| self.expired(job, "waiting for the answer"))?
    }

    /// The deadline covers opening the stream, then each gap between events.
    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        let events = tokio::time::timeout(self.config.timeout, self.inner.stream(job))
            .await
            .map_err(|_| self.expired(job, "opening the stream"))??;
        let idle = self.config.timeout;
        Ok(events.wrap(|events| IdleTimeout {
            events: Some(events),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }))
    }
}

/// A stream that fails with `upstream_timeout` when its source is silent for too long.
struct IdleTimeout {
    /// The upstream stream; `None` once it ended or timed out (dropping it cancels the call).
    events: Option<ImageEventStream>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl futures_core::Stream for IdleTimeout {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(events) = this.events.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(events).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                this.timer.as_mut().reset(Instant::now() + this.idle);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.events = None;
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.events = None;
                    tracing::warn!(
                        timeout_ms = as_millis(this.idle),
                        "deadline expired between stream events"
                    );
                    Poll::Ready(Some(Err(timeout_error(this.idle))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::domain::{Catalog, GenerateParams};
    use crate::testing::{MockProvider, MockStep};

    fn job(n: u32) -> ImageJob {
        let params = GenerateParams {
            model: "dall-e-2".into(),
            prompt: "a lighthouse".into(),
            n: Some(n),
            size: Some("256x256".into()),
            ..Default::default()
        };
        ImageJob::Generate(params.validate(&Catalog::default()).expect("valid"))
    }

    fn deadline(mock: &Arc<MockProvider>, secs: u64) -> Deadline {
        let config = DeadlineConfig::default().with_timeout(Duration::from_secs(secs));
        Deadline::new(mock.clone(), config)
    }

    fn assert_timed_out(err: Error, message: &str) {
        assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
        assert_eq!(err.message(), message);
        assert!(!err.is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn cuts_off_a_hanging_call_at_the_deadline() {
        let mock = Arc::new(MockProvider::new());
        mock.push(MockStep::Delay(Duration::from_secs(3600)));
        let deadline = Deadline::new(mock.clone(), DeadlineConfig::default());

        let started = Instant::now();
        let answer = deadline.run(&job(1)).await;

        let err = answer.expect_err("timed out");
        assert_timed_out(err, "the upstream did not answer within 300s");
        assert_eq!(started.elapsed(), Duration::from_secs(300));
        assert_eq!(mock.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn lets_an_answer_within_the_deadline_through() {
        let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(9)));
        let deadline = deadline(&mock, 10);

        let answer = deadline.run(&job(1)).await;

        assert!(answer.is_ok(), "{answer:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn cuts_off_a_stream_that_does_not_open() {
        let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(60)));
        let deadline = deadline(&mock, 10);

        let answer = deadline.stream(&job(1)).await;

        let err = answer.expect_err("timed out");
        assert_timed_out(err, "the upstream did not answer within 10s");
    }

    /// Every event of `stream`, with the time it arrived since the stream opened.
    async fn drain(mut stream: ImageEventStream) -> Vec<(Result<StreamEvent>, Duration)> {
        let opened = Instant::now();
        let mut seen = Vec::new();
        while let Some(item) = stream.next().await {
            seen.push((item, opened.elapsed()));
        }
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_stream_passes_while_each_gap_is_short_enough() {
        // The mock opens at once, then pauses latency / 4 = 8 s before each of 2 images.
        let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(32)));
        mock.push(MockStep::Succeed);
        let deadline = deadline(&mock, 10);

        let events = drain(deadline.stream(&job(2)).await.expect("opens")).await;

        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|(event, _)| event.is_ok()));
        assert_eq!(
            events[1].1,
            Duration::from_secs(16),
            "longer than the deadline in all"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_fails_once_and_ends() {
        let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(80)));
        mock.push(MockStep::Succeed);
        let deadline = deadline(&mock, 10);

        let mut events = drain(deadline.stream(&job(2)).await.expect("opens")).await;

        assert_eq!(events.len(), 1);
        let (event, at) = events.remove(0);
        let err = event.expect_err("timed out");
        assert_timed_out(err, "the upstream did not answer within 10s");
        assert_eq!(at, Duration::from_secs(10));
    }

    #[test]
    fn names_sub_second_deadlines_in_milliseconds() {
        let err = timeout_error(Duration::from_millis(1500));
        assert_eq!(err.message(), "the upstream did not answer within 1500ms");
    }

    #[test]
    fn reads_its_timeout_in_milliseconds() {
        let config: DeadlineConfig = serde_json::from_str(r#"{"timeout": 120000}"#).expect("valid");
        assert_eq!(config.timeout, Duration::from_secs(120));
        let config: DeadlineConfig = serde_json::from_str("{}").expect("valid");
        assert_eq!(config, DeadlineConfig::default());
    }
}
