//! Upstream admission per model and upstream, sized for image traffic.
//!
//! Image calls take 10–60 s, so an upstream account is limited by its rate limits (images and
//! tokens per minute), not by a small number of connections. Each model gets a [`Gate`]:
//!
//! - **An adaptive limit on calls in flight** between `min_in_flight` and `max_in_flight`
//!   (hundreds by default), starting at `initial_in_flight`: +1 for each success while the
//!   limit is what holds calls back (additive increase), ×`decrease_factor` when the upstream
//!   answers 429 or its `x-ratelimit-remaining-*` headers near zero (multiplicative decrease,
//!   at most once per call duration), as TCP's AIMD and Netflix's concurrency-limits do.
//! - **A pause**: a 429 stops dispatching that model to that upstream for its `Retry-After`
//!   (or `default_pause`), so waiting callers do not each retry into the same wall.
//! - **A request budget**: `x-ratelimit-remaining-requests` with `x-ratelimit-reset-requests`
//!   is taken as the calls that may still be sent until the reset; at zero, dispatch waits for
//!   the reset. Calls already in flight when a reading arrives are the stated overshoot.
//! - **A fair FIFO queue**, bounded in time and memory rather than by a small count: a caller
//!   waits its turn unless its expected wait (queue position ÷ limit × the smoothed call
//!   duration, plus any pause) exceeds `max_wait`, or `max_queue` callers already wait; then
//!   `upstream_busy` with that expected wait as the retry-after. A caller whose wait runs out
//!   in the queue is turned away the same way.
//!
//! The slot is held for the whole upstream call, and for a stream until the stream ends or is
//! dropped; a cancelled call (its future dropped) gives it back too.

mod gate;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use self::gate::{Entry, Gate, Outcome, DISPATCH};
pub use self::gate::{GateReading, UpstreamQuota};
use super::{as_millis, millis};
use crate::domain::ImageJob;
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{
    ImageEventStream, ImageProvider, NoTelemetry, ProviderResponse, StreamEvent, Telemetry,
};

/// Limits of [`ConcurrencyLimit`], per model and upstream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurrencyConfig {
    /// The ceiling of the adaptive limit on calls in flight. Default 512.
    pub max_in_flight: u32,
    /// The floor of the limit (at least 1). Default 4.
    pub min_in_flight: u32,
    /// The limit a model starts at. Default 256.
    pub initial_in_flight: u32,
    /// How the limit shrinks on a throttling signal (0 < f < 1). Default 0.7.
    pub decrease_factor: f64,
    /// Callers that may wait per model (the queue's memory bound). Default 10 000.
    pub max_queue: u32,
    /// Longest a caller waits (or is expected to wait) in the queue, in milliseconds; set it
    /// below the request deadline. Default 240 000.
    #[serde(with = "millis")]
    pub max_wait: Duration,
    /// Pause after a 429 without `Retry-After`, in milliseconds. Default 1 000.
    #[serde(with = "millis")]
    pub default_pause: Duration,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 512,
            min_in_flight: 4,
            initial_in_flight: 256,
            decrease_factor: 0.7,
            max_queue: 10_000,
            max_wait: Duration::from_secs(240),
            default_pause: Duration::from_secs(1),
        }
    }
}

impl ConcurrencyConfig {
    /// A fixed limit of `max` calls in flight (floor, start and ceiling all `max`).
    #[must_use]
    pub fn with_fixed_in_flight(mut self, max: u32) -> Self {
        let max = max.max(1);
        self.max_in_flight = max;
        self.min_in_flight = max;
        self.initial_in_flight = max;
        self
    }

    /// Sets the limit's floor, start and ceiling.
    #[must_use]
    pub fn with_in_flight(mut self, min: u32, initial: u32, max: u32) -> Self {
        self.min_in_flight = min.max(1);
        self.max_in_flight = max.max(self.min_in_flight);
        self.initial_in_flight = initial.clamp(self.min_in_flight, self.max_in_flight);
        self
    }

    /// Sets the number of callers that may wait per model.
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

    /// Checks the values.
    ///
    /// # Errors
    /// `invalid_value` naming the field when `decrease_factor` is not within (0, 1).
    pub fn validate(&self) -> Result<()> {
        if !(self.decrease_factor > 0.0 && self.decrease_factor < 1.0) {
            return Err(Error::invalid_param(
                "concurrency.decrease_factor",
                "decrease_factor must lie strictly between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// The gates of one upstream, by model. Cloned handles share them, so the composition root
/// can feed the upstream's rate-limit headers ([`Gates::observe_quota`]) to the same gates the
/// decorator admits calls through, and read them for metrics and `/health`.
#[derive(Debug, Clone)]
pub struct Gates {
    config: ConcurrencyConfig,
    by_model: Arc<Mutex<HashMap<String, Arc<Gate>>>>,
}

impl Gates {
    /// Empty gates under `config`.
    pub fn new(config: ConcurrencyConfig) -> Self {
        Self {
            config,
            by_model: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn gate(&self, model: &str) -> Arc<Gate> {
        let mut gates = self.by_model.lock().unwrap_or_else(PoisonError::into_inner);
        gates
            .entry(model.to_owned())
            .or_insert_with(|| Arc::new(Gate::new(self.config)))
            .clone()
    }

    /// Learns from one answer's `x-ratelimit-*` headers for `model`.
    pub fn observe_quota(&self, model: &str, quota: &UpstreamQuota) {
        self.gate(model).observe_quota(quota);
    }

    /// Where each model's gate stands, by model id.
    pub fn readings(&self) -> Vec<(String, GateReading)> {
        let gates = self.by_model.lock().unwrap_or_else(PoisonError::into_inner);
        let mut readings: Vec<_> = gates
            .iter()
            .map(|(model, gate)| (model.clone(), gate.reading()))
            .collect();
        readings.sort_by(|a, b| a.0.cmp(&b.0));
        readings
    }
}

/// An [`ImageProvider`] that admits calls to another one through per-model [`Gates`].
pub struct ConcurrencyLimit {
    inner: Arc<dyn ImageProvider>,
    gates: Gates,
    telemetry: Arc<dyn Telemetry>,
}

impl ConcurrencyLimit {
    /// Wraps `inner` with fresh gates under `config`.
    pub fn new(inner: Arc<dyn ImageProvider>, config: ConcurrencyConfig) -> Self {
        Self::with_gates(inner, Gates::new(config))
    }

    /// Wraps `inner` with `gates` (shared with whoever feeds them the upstream's headers).
    pub fn with_gates(inner: Arc<dyn ImageProvider>, gates: Gates) -> Self {
        Self {
            inner,
            gates,
            telemetry: Arc::new(NoTelemetry),
        }
    }

    /// Reports waits, turned-away calls and the gates' state to `telemetry`.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The gates, for readings.
    pub fn gates(&self) -> &Gates {
        &self.gates
    }

    /// A slot for one call on `job`'s model, or `upstream_busy`.
    async fn acquire(&self, job: &ImageJob) -> Result<Slot> {
        let model = &job.model().id;
        let gate = self.gates.gate(model);
        let started = Instant::now();
        let (ticket, mut grant) = match gate.enter() {
            Entry::Admitted(seq) => return Ok(self.slot(gate, model, started, seq)),
            Entry::Refused {
                expected_wait,
                reason,
            } => return Err(self.busy(&gate, model, reason, expected_wait)),
            Entry::Queued { ticket, grant } => (ticket, grant),
        };
        self.report(&gate, model);
        let give_up = started + self.gates.config.max_wait;
        // Leaves the queue (or hands back a late grant) if this future is dropped.
        let mut leave = LeaveOnDrop {
            gate: &gate,
            ticket,
            grant: None,
        };
        loop {
            let wake = gate.next_change().filter(|at| *at < give_up);
            tokio::select! {
                granted = &mut grant => {
                    return match granted {
                        Ok(seq) => {
                            leave.ticket = u64::MAX;
                            Ok(self.slot(gate.clone(), model, started, seq))
                        }
                        Err(_) => Err(Error::internal("the admission gate dropped a waiter")),
                    };
                }
                () = sleep_until_some(wake) => gate.dispatch(),
                () = tokio::time::sleep_until(give_up) => {
                    leave.grant = Some(grant);
                    drop(leave);
                    let expected = gate.reading().service_time.unwrap_or(Duration::from_secs(1));
                    return Err(self.busy(&gate, model, "the upstream stayed busy for too long", expected));
                }
            }
        }
    }

    fn slot(&self, gate: Arc<Gate>, model: &str, queued_at: Instant, seq: u64) -> Slot {
        let waited = queued_at.elapsed();
        self.telemetry
            .upstream_wait(self.inner.name(), model, waited);
        self.report(&gate, model);
        Slot {
            gate,
            seq,
            started: Instant::now(),
            outcome: Outcome::Neutral,
        }
    }

    fn report(&self, gate: &Gate, model: &str) {
        self.telemetry
            .upstream_gate(self.inner.name(), model, gate.reading());
    }

    fn busy(&self, gate: &Gate, model: &str, message: &str, expected_wait: Duration) -> Error {
        let reading = gate.reading();
        tracing::warn!(
            model,
            provider = self.inner.name(),
            limit = reading.limit,
            in_flight = reading.in_flight,
            queued = reading.queued,
            expected_wait_ms = as_millis(expected_wait),
            "{message}"
        );
        self.telemetry.upstream_busy(model);
        Error::new(ErrorCode::UpstreamBusy, message)
            .with_retry_after(expected_wait.max(Duration::from_secs(1)))
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Takes a queued caller out of the queue when its wait ends without a grant.
struct LeaveOnDrop<'a> {
    gate: &'a Gate,
    ticket: u64,
    grant: Option<tokio::sync::oneshot::Receiver<u64>>,
}

impl Drop for LeaveOnDrop<'_> {
    fn drop(&mut self) {
        if self.ticket == u64::MAX {
            return;
        }
        let grant = self
            .grant
            .take()
            .unwrap_or_else(|| tokio::sync::oneshot::channel().1);
        self.gate.leave(self.ticket, grant);
    }
}

/// A taken slot: released, with what the call said about the upstream, when dropped.
struct Slot {
    gate: Arc<Gate>,
    seq: u64,
    started: Instant,
    outcome: Outcome,
}

impl Slot {
    /// Notes what a finished call (or an opened stream) says about the upstream's capacity.
    fn learn<T>(&mut self, answer: &Result<T>) {
        self.outcome = match answer {
            Ok(_) => Outcome::Success(self.started.elapsed()),
            Err(err) => Self::signal(err),
        };
    }

    fn signal(err: &Error) -> Outcome {
        if err.code() == ErrorCode::UpstreamRateLimited {
            Outcome::Throttled(err.retry_after())
        } else {
            Outcome::Neutral
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release(self.seq, self.outcome);
    }
}

#[async_trait]
impl ImageProvider for ConcurrencyLimit {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        let mut slot = self.acquire(job).await?;
        let answer = DISPATCH.scope(slot.seq, self.inner.run(job)).await;
        slot.learn(&answer);
        answer
    }

    /// The slot stays taken until the returned stream ends or is dropped.
    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        let mut slot = self.acquire(job).await?;
        let events = DISPATCH.scope(slot.seq, self.inner.stream(job)).await;
        slot.learn(&events);
        let events = events?;
        Ok(events.wrap(|events| SlotStream {
            events,
            slot: Some(slot),
        }))
    }
}

/// A stream that holds its slot until it ends or is dropped.
struct SlotStream {
    events: ImageEventStream,
    slot: Option<Slot>,
}

impl futures_core::Stream for SlotStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.events).poll_next(cx);
        match &next {
            Poll::Ready(None) => {
                if let Some(slot) = self.slot.as_mut() {
                    slot.outcome = Outcome::Success(slot.started.elapsed());
                }
                self.slot = None;
            }
            Poll::Ready(Some(Err(err))) => {
                if let Some(slot) = self.slot.as_mut() {
                    slot.outcome = Slot::signal(err);
                }
            }
            _ => {}
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.events.size_hint()
    }
}

#[cfg(test)]
mod tests;
