//! A circuit breaker over one upstream.
//!
//! **Closed** (the start): calls pass. After `failure_threshold` consecutive failures that are
//! the upstream's fault the circuit **opens**: for `open_for` every call fails fast with
//! `upstream_unavailable`, not retryable (the [`Retrying`](super::Retrying) decorator does not
//! hammer an open circuit) and with a retry-after of the remaining open time (at least 1 s),
//! without reaching the upstream; [`Fallback`](super::Fallback) moves on to the next upstream at
//! once. Then the circuit is **half-open**: exactly one call, the probe, is let through while
//! the others keep failing fast; if it succeeds the circuit closes, if it fails it opens again.
//!
//! The outcome of a call is
//! - a *failure* (counted): `upstream_error` marked retryable (5xx, 408/409, connection
//!   refused), `upstream_timeout`, `upstream_unavailable`;
//! - a *success* (resets the count, closes after a probe): an answer, or a refusal on the
//!   merits that shows the upstream is up: `invalid_request`, `invalid_image`,
//!   `content_policy_violation`, `model_unavailable`, `upstream_auth` and
//!   `upstream_rate_limited` (a 429 is the upstream asking to slow down, not an outage);
//! - *ignored* (neither): `upstream_busy` (a local queue), a non-retryable `upstream_error`
//!   (an unusable answer, another 4xx, a connection broken mid-call), any other code, and a call
//!   abandoned before its answer (its future dropped by the deadline or a gone client). An
//!   ignored probe hands the probe back: the next call probes.
//!
//! A stream counts by whether it opens; once events flow, a failure is the caller's. Calls that
//! started before the circuit opened and finish while it is open or half-open are not counted.
//! The state is per breaker: one breaker per upstream, shared by all its models.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{as_millis, millis};
use crate::domain::ImageJob;
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{ImageEventStream, ImageProvider, NoTelemetry, ProviderResponse, Telemetry};

/// The shortest retry-after given to a caller turned away.
const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest open interval (larger settings are capped, so the clock cannot overflow).
const MAX_OPEN_FOR: Duration = Duration::from_secs(86_400);

/// When [`CircuitBreaker`] opens, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitConfig {
    /// Whether the breaker is in use; off, every call passes. Default true.
    pub enabled: bool,
    /// Consecutive counted failures that open the circuit (at least 1). Default 5.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe call is let through, in milliseconds
    /// (at most a day). Default 30 000.
    #[serde(with = "millis")]
    pub open_for: Duration,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

impl CircuitConfig {
    /// Sets the consecutive failures that open the circuit (at least 1).
    #[must_use]
    pub fn with_failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }

    /// Sets how long the circuit stays open.
    #[must_use]
    pub fn with_open_for(mut self, open_for: Duration) -> Self {
        self.open_for = open_for;
        self
    }

    /// Turns the breaker on or off.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// Where the circuit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Calls pass; `failures` consecutive counted failures so far.
    Closed { failures: u32 },
    /// Calls fail fast until `until`; the first call after it is the probe.
    Open { until: Instant },
    /// The probe is in flight; other calls fail fast.
    HalfOpen,
}

/// What one call's outcome says about the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Success,
    Failure,
    Ignored,
}

fn verdict<T>(answer: &Result<T>) -> Verdict {
    let Err(err) = answer else {
        return Verdict::Success;
    };
    match err.code() {
        ErrorCode::UpstreamError if err.is_retryable() => Verdict::Failure,
        ErrorCode::UpstreamTimeout | ErrorCode::UpstreamUnavailable => Verdict::Failure,
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidValue
        | ErrorCode::UnknownParameter
        | ErrorCode::InvalidImage
        | ErrorCode::ModerationBlocked
        | ErrorCode::ContentPolicyViolation
        | ErrorCode::ModelNotFound
        | ErrorCode::UpstreamAuth
        | ErrorCode::UpstreamRateLimited => Verdict::Success,
        _ => Verdict::Ignored,
    }
}

/// An [`ImageProvider`] that stops calling another one while it keeps failing.
pub struct CircuitBreaker {
    inner: Arc<dyn ImageProvider>,
    config: CircuitConfig,
    state: Mutex<State>,
    telemetry: Arc<dyn Telemetry>,
}

impl CircuitBreaker {
    /// Wraps `inner` with the breaker of `config`, closed.
    pub fn new(inner: Arc<dyn ImageProvider>, config: CircuitConfig) -> Self {
        Self {
            inner,
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
            telemetry: Arc::new(NoTelemetry),
        }
    }

    /// Reports the circuit's state to `telemetry` (closed at once, then on every change).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        if self.config.enabled {
            telemetry.circuit_state(self.inner.name(), false);
        }
        self.telemetry = telemetry;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets a call through (as the probe when the open interval is over) or turns it away.
    fn admit(&self) -> Result<Ticket<'_>> {
        let now = Instant::now();
        let admitted = {
            let mut state = self.lock();
            match *state {
                State::Closed { .. } => Ok(false),
                State::Open { until } if now >= until => {
                    *state = State::HalfOpen;
                    Ok(true)
                }
                State::Open { until } => Err(until - now),
                State::HalfOpen => Err(Duration::ZERO),
            }
        };
        match admitted {
            Ok(probe) => {
                if probe {
                    tracing::info!(provider = self.inner.name(), "circuit half-open; probing");
                }
                Ok(Ticket {
                    breaker: self,
                    probe,
                    verdict: Verdict::Ignored,
                })
            }
            Err(remaining) => Err(Error::new(
                ErrorCode::UpstreamUnavailable,
                "the upstream keeps failing; calls to it are paused, try again later",
            )
            .with_retry_after(remaining.max(MIN_RETRY_AFTER))),
        }
    }

    /// Moves the state on after a call: `probe` says whether it was the half-open probe.
    fn record(&self, probe: bool, verdict: Verdict) {
        let now = Instant::now();
        let reopen = now + self.config.open_for.min(MAX_OPEN_FOR);
        let threshold = self.config.failure_threshold.max(1);
        let (before, after) = {
            let mut state = self.lock();
            let before = *state;
            *state = match (before, probe, verdict) {
                (State::HalfOpen, true, Verdict::Success) => State::Closed { failures: 0 },
                (State::HalfOpen, true, Verdict::Failure) => State::Open { until: reopen },
                (State::HalfOpen, true, Verdict::Ignored) => State::Open { until: now },
                (State::Closed { .. }, false, Verdict::Success) => State::Closed { failures: 0 },
                (State::Closed { failures }, false, Verdict::Failure)
                    if failures + 1 >= threshold =>
                {
                    State::Open { until: reopen }
                }
                (State::Closed { failures }, false, Verdict::Failure) => State::Closed {
                    failures: failures + 1,
                },
                (unchanged, ..) => unchanged,
            };
            (before, *state)
        };
        let provider = self.inner.name();
        let open_ms = as_millis(self.config.open_for);
        match (before, after) {
            (State::Closed { .. }, State::Open { .. }) => {
                tracing::warn!(provider, failures = threshold, open_ms, "circuit opened");
                self.telemetry.circuit_state(provider, true);
            }
            (State::HalfOpen, State::Open { until }) if until > now => {
                tracing::warn!(provider, open_ms, "probe failed; circuit open again");
            }
            (State::HalfOpen, State::Closed { .. }) => {
                tracing::info!(provider, "probe succeeded; circuit closed");
                self.telemetry.circuit_state(provider, false);
            }
            _ => {}
        }
    }

    /// Runs `call` unless the circuit turns it away, and records its outcome.
    async fn guarded<T, Fut>(&self, call: impl FnOnce() -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>> + Send,
    {
        if !self.config.enabled {
            return call().await;
        }
        let mut ticket = self.admit()?;
        let answer = call().await;
        ticket.verdict = verdict(&answer);
        answer
    }
}

/// One admitted call: records its verdict when dropped, so an abandoned call is ignored and an
/// abandoned probe hands the probe back.
struct Ticket<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    verdict: Verdict,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.breaker.record(self.probe, self.verdict);
    }
}

#[async_trait]
impl ImageProvider for CircuitBreaker {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        self.guarded(|| self.inner.run(job)).await
    }

    /// Only opening the stream counts.
    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        self.guarded(|| self.inner.stream(job)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Catalog, GenerateParams};
    use crate::testing::{MockProvider, MockStep};

    const OPEN_FOR: Duration = Duration::from_secs(30);

    fn job() -> ImageJob {
        let params = GenerateParams {
            model: "dall-e-2".into(),
            prompt: "a lighthouse".into(),
            ..Default::default()
        };
        ImageJob::Generate(params.validate(&Catalog::default()).expect("valid"))
    }

    fn breaker(mock: &Arc<MockProvider>, threshold: u32) -> CircuitBreaker {
        let config = CircuitConfig::default()
            .with_failure_threshold(threshold)
            .with_open_for(OPEN_FOR);
        CircuitBreaker::new(mock.clone(), config)
    }

    /// A breaker with `threshold` 3 that the mock's server errors have just opened.
    async fn opened(mock: &Arc<MockProvider>) -> CircuitBreaker {
        let breaker = breaker(mock, 3);
        for _ in 0..3 {
            mock.push(MockStep::server_error());
            breaker.run(&job()).await.expect_err("scripted failure");
        }
        breaker
    }

    fn assert_open<T: std::fmt::Debug>(answer: Result<T>, retry_after: Duration) {
        let err = answer.expect_err("turned away");
        assert_eq!(err.code(), ErrorCode::UpstreamUnavailable);
        assert_eq!(err.retry_after(), Some(retry_after));
        assert!(!err.is_retryable(), "the retry decorator must not retry it");
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_then_fails_fast_without_calling() {
        let mock = Arc::new(MockProvider::new());
        let breaker = breaker(&mock, 3);
        for _ in 0..3 {
            mock.push(MockStep::server_error());
            let err = breaker.run(&job()).await.expect_err("scripted failure");
            assert_eq!(err.code(), ErrorCode::UpstreamError);
        }

        for _ in 0..5 {
            assert_open(breaker.run(&job()).await, OPEN_FOR);
            assert_open(breaker.stream(&job()).await.map(|_| ()), OPEN_FOR);
        }

        assert_eq!(mock.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_and_rate_limits_never_open_it_and_a_success_resets_the_count() {
        let mock = Arc::new(MockProvider::new());
        let breaker = breaker(&mock, 2);
        for step in [
            MockStep::server_error(),
            MockStep::Fail(Error::new(ErrorCode::InvalidRequest, "bad size")),
            MockStep::server_error(),
            MockStep::moderation("unsafe"),
            MockStep::rate_limited(Duration::from_secs(2)),
            MockStep::Fail(Error::new(ErrorCode::UpstreamAuth, "bad key")),
            MockStep::Fail(Error::new(ErrorCode::ModelNotFound, "retired")),
            MockStep::Fail(Error::new(ErrorCode::UpstreamError, "a 404")),
            MockStep::Fail(Error::new(ErrorCode::UpstreamBusy, "queue full")),
            MockStep::server_error(),
            MockStep::Succeed,
            MockStep::Fail(Error::new(ErrorCode::UpstreamTimeout, "slow")),
        ] {
            mock.push(step);
            let _ = breaker.run(&job()).await;
        }

        assert!(breaker.run(&job()).await.is_ok(), "still closed");
        assert_eq!(mock.calls(), 13);
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_and_stream_failures_count() {
        let mock = Arc::new(MockProvider::new());
        let breaker = breaker(&mock, 2);
        mock.push(MockStep::Fail(Error::new(
            ErrorCode::UpstreamTimeout,
            "slow",
        )));
        mock.push(MockStep::server_error());
        breaker.run(&job()).await.expect_err("timeout");
        breaker.stream(&job()).await.expect_err("5xx");

        assert_open(breaker.run(&job()).await, OPEN_FOR);
        assert_eq!(mock.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_the_remaining_open_time_and_at_least_a_second() {
        let mock = Arc::new(MockProvider::new());
        let breaker = opened(&mock).await;

        tokio::time::advance(Duration::from_secs(10)).await;
        assert_open(breaker.run(&job()).await, Duration::from_secs(20));
        tokio::time::advance(Duration::from_millis(19_700)).await;
        assert_open(breaker.run(&job()).await, Duration::from_secs(1));
        assert_eq!(mock.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn lets_exactly_one_probe_through_and_closes_when_it_succeeds() {
        let mock = Arc::new(MockProvider::new());
        let breaker = opened(&mock).await;
        tokio::time::advance(OPEN_FOR).await;
        mock.push(MockStep::Delay(Duration::from_secs(5)));

        let request = job();

        let (probe, other) = tokio::join!(breaker.run(&request), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            breaker.run(&request).await
        });

        assert!(probe.is_ok(), "{probe:?}");
        assert_open(other, Duration::from_secs(1));
        assert_eq!(mock.calls(), 4, "only the probe reached the upstream");
        for _ in 0..3 {
            assert!(breaker.run(&job()).await.is_ok(), "closed again");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_it_again_for_the_whole_interval() {
        let mock = Arc::new(MockProvider::new());
        let breaker = opened(&mock).await;
        tokio::time::advance(OPEN_FOR).await;
        mock.push(MockStep::server_error());

        breaker.run(&job()).await.expect_err("the probe fails");

        assert_open(breaker.run(&job()).await, OPEN_FOR);
        assert_eq!(mock.calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_hands_the_probe_back() {
        let mock = Arc::new(MockProvider::new());
        let breaker = opened(&mock).await;
        tokio::time::advance(OPEN_FOR).await;
        mock.push(MockStep::Delay(Duration::from_secs(60)));

        let cut = tokio::time::timeout(Duration::from_secs(1), breaker.run(&job())).await;

        assert!(cut.is_err(), "the hanging probe was dropped");
        assert!(breaker.run(&job()).await.is_ok(), "the next call probes");
        assert_eq!(mock.calls(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn breakers_do_not_share_state() {
        let (first, second) = (Arc::new(MockProvider::new()), Arc::new(MockProvider::new()));
        let open = opened(&first).await;
        let other = breaker(&second, 3);

        assert_open(open.run(&job()).await, OPEN_FOR);
        assert!(other.run(&job()).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_disabled_breaker_passes_everything() {
        let mock = Arc::new(MockProvider::new());
        let config = CircuitConfig::default()
            .with_failure_threshold(1)
            .with_enabled(false);
        let breaker = CircuitBreaker::new(mock.clone(), config);
        for _ in 0..5 {
            mock.push(MockStep::server_error());
            let err = breaker.run(&job()).await.expect_err("scripted failure");
            assert_eq!(err.code(), ErrorCode::UpstreamError);
        }

        assert!(breaker.run(&job()).await.is_ok());
        assert_eq!(mock.calls(), 6);
    }

    #[test]
    fn reads_its_config_in_milliseconds() {
        let config: CircuitConfig =
            serde_json::from_str(r#"{"failure_threshold": 2, "open_for": 1500}"#).expect("valid");
        assert_eq!(config.failure_threshold, 2);
        assert_eq!(config.open_for, Duration::from_millis(1500));
        assert!(config.enabled);
        assert!(serde_json::from_str::<CircuitConfig>(r#"{"threshold": 1}"#).is_err());
    }
}
