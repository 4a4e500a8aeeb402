//! A per-model cap on in-flight upstream calls, with a bounded, time-limited wait queue.
//!
//! Each model id gets its own [`Semaphore`] of `max_in_flight` permits, created on first use.
//! A call takes a permit at once when one is free; otherwise it waits in the model's queue, if
//! fewer than `max_queue` calls are already waiting there, for at most `max_wait`. A full queue
//! or a wait that runs out gives `upstream_busy` with a retry-after, not retryable: the caller
//! is shed instead of piling up. The permit is held for the whole upstream call, and for a
//! stream until the stream ends or is dropped; a cancelled call (its future dropped) gives it
//! back too.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::{as_millis, millis};
use crate::domain::ImageJob;
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{
    ImageEventStream, ImageProvider, NoTelemetry, ProviderResponse, StreamEvent, Telemetry,
};

/// Limits of [`ConcurrencyLimit`], per model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurrencyConfig {
    /// Upstream calls running at once per model (at least 1). Default 8.
    pub max_in_flight: u32,
    /// Calls waiting for a free slot per model; beyond, calls are turned away at once
    /// (0 = never queue). Default 32.
    pub max_queue: u32,
    /// Longest wait in the queue, in milliseconds. Default 30 000.
    #[serde(with = "millis")]
    pub max_wait: Duration,
    /// Retry-after advised to a caller turned away, in milliseconds. Default 1 000.
    #[serde(with = "millis")]
    pub retry_after: Duration,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 8,
            max_queue: 32,
            max_wait: Duration::from_secs(30),
            retry_after: Duration::from_secs(1),
        }
    }
}

impl ConcurrencyConfig {
    /// Sets the calls running at once per model (at least 1).
    #[must_use]
    pub fn with_max_in_flight(mut self, max: u32) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// Sets the number of calls that may wait per model.
    #[must_use]
    pub fn with_max_queue(mut self, max: u32) -> Self {
        self.max_queue = max;
        self
    }

    /// Sets the longest wait in the queue.
    #[must_use]
    pub fn with_max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }
}

/// The slots and the queue length of one model.
#[derive(Debug)]
struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicU32,
}

/// Counts a caller as waiting until dropped, so a cancelled wait leaves the queue too.
struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An [`ImageProvider`] that caps the calls in flight to another one, per model.
pub struct ConcurrencyLimit {
    inner: Arc<dyn ImageProvider>,
    config: ConcurrencyConfig,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    telemetry: Arc<dyn Telemetry>,
}

impl ConcurrencyLimit {
    /// Wraps `inner` with the limits of `config`.
    pub fn new(inner: Arc<dyn ImageProvider>, config: ConcurrencyConfig) -> Self {
        Self {
            inner,
            config,
            gates: Mutex::new(HashMap::new()),
            telemetry: Arc::new(NoTelemetry),
        }
    }

    /// Reports calls turned away to `telemetry`.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The gate of `model`, created on first use.
    fn gate(&self, model: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = gates.get(model) {
            return gate.clone();
        }
        let permits = usize::try_from(self.config.max_in_flight.max(1)).unwrap_or(usize::MAX);
        let gate = Arc::new(Gate {
            slots: Arc::new(Semaphore::new(permits)),
            waiting: AtomicU32::new(0),
        });
        gates.insert(model.to_owned(), gate.clone());
        gate
    }

    /// A slot for one call on `job`'s model, or `upstream_busy`. (The semaphores are never
    /// closed; should one be, the call fails as `internal_error` rather than bypass the cap.)
    async fn acquire(&self, job: &ImageJob) -> Result<OwnedSemaphorePermit> {
        let model = &job.model().id;
        let gate = self.gate(model);
        match gate.slots.clone().try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(closed @ TryAcquireError::Closed) => return Err(Error::internal(closed)),
            Err(TryAcquireError::NoPermits) => {}
        }
        let ahead = gate.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&gate.waiting);
        if ahead >= self.config.max_queue {
            return Err(self.busy(model, "too many requests are waiting for the upstream"));
        }
        match tokio::time::timeout(self.config.max_wait, gate.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(Error::internal(closed)),
            Err(_) => Err(self.busy(model, "the upstream stayed busy for too long")),
        }
    }

    fn busy(&self, model: &str, message: &str) -> Error {
        tracing::warn!(
            model,
            provider = self.inner.name(),
            max_in_flight = self.config.max_in_flight,
            max_wait_ms = as_millis(self.config.max_wait),
            "{message}"
        );
        self.telemetry.upstream_busy(model);
        Error::new(ErrorCode::UpstreamBusy, message).with_retry_after(self.config.retry_after)
    }
}

#[async_trait]
impl ImageProvider for ConcurrencyLimit {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        let _permit = self.acquire(job).await?;
        self.inner.run(job).await
    }

    /// The slot stays taken until the returned stream ends or is dropped.
    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        let permit = self.acquire(job).await?;
        let events = self.inner.stream(job).await?;
        Ok(events.wrap(|events| PermitStream {
            events,
            permit: Some(permit),
        }))
    }
}

/// A stream that holds a concurrency slot until it ends or is dropped.
struct PermitStream {
    events: ImageEventStream,
    permit: Option<OwnedSemaphorePermit>,
}

impl futures_core::Stream for PermitStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.events).poll_next(cx);
        if let Poll::Ready(None) = next {
            self.permit = None;
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.events.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use tokio::time::Instant;

    use super::*;
    use crate::domain::{Catalog, GenerateParams};
    use crate::testing::{MockProvider, MockStep};

    fn job(model: &str) -> ImageJob {
        let params = GenerateParams {
            model: model.into(),
            prompt: "a lighthouse".into(),
            ..Default::default()
        };
        ImageJob::Generate(params.validate(&Catalog::default()).expect("valid"))
    }

    fn limit(mock: &Arc<MockProvider>, in_flight: u32, queue: u32) -> ConcurrencyLimit {
        let config = ConcurrencyConfig::default()
            .with_max_in_flight(in_flight)
            .with_max_queue(queue)
            .with_max_wait(Duration::from_secs(5));
        ConcurrencyLimit::new(mock.clone(), config)
    }

    /// Runs `call` and notes when it finished.
    async fn timed<T>(call: impl Future<Output = T>) -> (T, Duration) {
        let started = Instant::now();
        let out = call.await;
        (out, started.elapsed())
    }

    fn assert_busy<T: std::fmt::Debug>(answer: Result<T>) {
        let err = answer.expect_err("turned away");
        assert_eq!(err.code(), ErrorCode::UpstreamBusy);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
        assert!(!err.is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn turns_away_the_call_beyond_the_limit_at_once_without_a_queue() {
        let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(10)));
        let limit = limit(&mock, 2, 0);
        let job = job("dall-e-2");

        let (a, b, (c, c_took)) =
            tokio::join!(limit.run(&job), limit.run(&job), timed(limit.run(&job)));

        assert!(a.is_ok() && b.is_ok(), "the first two run");
        assert_busy(c);
        assert_eq!(c_took, Duration::ZERO);
        assert_eq!(mock.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_call_runs_when_a_slot_frees() {
        let mock = Arc::new(MockProvider::new());
        mock.push(MockStep::Delay(Duration::from_secs(3)));
        let limit = limit(&mock, 1, 1);
        let job = job("dall-e-2");

        let (a, (b, b_took)) = tokio::join!(limit.run(&job), timed(limit.run(&job)));

        assert!(a.is_ok());
        assert!(b.is_ok(), "{b:?}");
        assert_eq!(b_took, Duration::from_secs(3));
        assert_eq!(mock.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_waiting_after_max_wait() {
        let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(10)));
        let limit = limit(&mock, 1, 4);
        let job = job("dall-e-2");

        let (a, (b, b_took)) = tokio::join!(limit.run(&job), timed(limit.run(&job)));

        assert!(a.is_ok());
        assert_busy(b);
        assert_eq!(b_took, Duration::from_secs(5));
        assert_eq!(mock.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn models_do_not_share_slots() {
        let mock = Arc::new(MockProvider::new().with_latency(Duration::from_secs(10)));
        let limit = limit(&mock, 1, 0);

        let (two, three) = (job("dall-e-2"), job("dall-e-3"));

        let (a, b) = tokio::join!(limit.run(&two), limit.run(&three));

        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_and_cancelled_calls_give_their_slot_back() {
        let mock = Arc::new(MockProvider::new());
        for _ in 0..5 {
            mock.push(MockStep::server_error());
        }
        mock.push(MockStep::Delay(Duration::from_secs(60)));
        let limit = limit(&mock, 1, 0);
        let job = job("dall-e-2");
        for _ in 0..5 {
            limit.run(&job).await.expect_err("scripted failure");
        }
        let cancelled = tokio::time::timeout(Duration::from_secs(1), limit.run(&job)).await;
        assert!(cancelled.is_err(), "the hanging call was cut off");

        let (answer, took) = timed(limit.run(&job)).await;

        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(took, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_holds_its_slot_until_dropped_or_finished() {
        let mock = Arc::new(MockProvider::new());
        let limit = limit(&mock, 1, 0);
        let job = job("dall-e-2");

        let mut events = limit.stream(&job).await.expect("opens");
        assert_busy(limit.run(&job).await);
        drop(events);
        let answer = limit.run(&job).await;
        assert!(answer.is_ok(), "{answer:?}");

        events = limit.stream(&job).await.expect("opens again");
        while events.next().await.is_some() {}
        let answer = limit.run(&job).await;
        assert!(
            answer.is_ok(),
            "slot freed at the end of the stream: {answer:?}"
        );
    }

    #[test]
    fn reads_its_config_in_milliseconds() {
        let config: ConcurrencyConfig =
            serde_json::from_str(r#"{"max_in_flight": 2, "max_wait": 1500}"#).expect("valid");
        assert_eq!(config.max_in_flight, 2);
        assert_eq!(config.max_queue, 32);
        assert_eq!(config.max_wait, Duration::from_millis(1500));
        assert!(serde_json::from_str::<ConcurrencyConfig>(r#"{"queue": 1}"#).is_err());
    }
}
