//! Retry with exponential backoff and jitter over any [`ImageProvider`].
//!
//! Follows the official SDKs: retries errors the adapter marks retryable (408, 409, 429 and 5xx,
//! connection failures), honours the upstream's `Retry-After` / `retry-after-ms` (carried in the
//! error's `retry_after`) when it is at most `max_retry_after`, and gives up at once on a longer
//! advice or on any non-retryable error (validation, policy, auth).
//!
//! `upstream_timeout` (the request was sent but no answer came) is not retryable by the
//! adapter contract: the upstream may already have drawn and billed the image. It is retried
//! only when [`RetryPolicy::retry_timeouts`] says so.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::millis;
use crate::domain::ImageJob;
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{ImageEventStream, ImageProvider, NoTelemetry, ProviderResponse, Telemetry};

/// How to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time.
    #[serde(with = "millis")]
    pub base_delay: Duration,
    /// Largest computed delay.
    #[serde(with = "millis")]
    pub max_delay: Duration,
    /// Upstream advice longer than this is not waited for: the error goes to the caller.
    #[serde(with = "millis")]
    pub max_retry_after: Duration,
    /// Also retry `upstream_timeout` errors, accepting that a timed-out request may already
    /// have been billed upstream. Off by default.
    pub retry_timeouts: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            retry_timeouts: false,
        }
    }
}

impl RetryPolicy {
    /// Sets the number of attempts.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the base delay.
    #[must_use]
    pub fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Sets whether `upstream_timeout` errors are retried.
    #[must_use]
    pub fn with_retry_timeouts(mut self, retry: bool) -> Self {
        self.retry_timeouts = retry;
        self
    }

    /// Whether the policy allows retrying `err` at all (attempts and advice aside).
    pub fn retries(&self, err: &Error) -> bool {
        err.is_retryable() || (self.retry_timeouts && err.code() == ErrorCode::UpstreamTimeout)
    }

    /// The computed backoff before retry number `retry` (0-based), jittered by a factor in
    /// (0.75, 1].
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << retry.min(16));
        let capped = exp.min(self.max_delay);
        let jitter = 1.0 - fastrand::f64() * 0.25;
        capped.mul_f64(jitter)
    }
}

/// An [`ImageProvider`] that retries another one.
pub struct Retrying {
    inner: Arc<dyn ImageProvider>,
    policy: RetryPolicy,
    telemetry: Arc<dyn Telemetry>,
}

impl Retrying {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: Arc<dyn ImageProvider>, policy: RetryPolicy) -> Self {
        Self {
            inner,
            policy,
            telemetry: Arc::new(NoTelemetry),
        }
    }

    /// Reports retries to `telemetry`.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The delay before retry number `retry`, or `None` when the error must not be retried.
    fn delay_for(&self, err: &Error, retry: u32) -> Option<Duration> {
        if !self.policy.retries(err) || retry + 1 >= self.policy.max_attempts {
            return None;
        }
        match err.retry_after() {
            Some(advice) if advice > self.policy.max_retry_after => None,
            Some(advice) => Some(advice),
            None => Some(self.policy.backoff(retry)),
        }
    }
}

impl Retrying {
    /// Runs `attempt` until it succeeds, fails for good, or attempts run out.
    async fn with_retries<T, F, Fut>(&self, job: &ImageJob, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<T>> + Send,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Ok(answer) => return Ok(answer),
                Err(err) => {
                    let Some(delay) = self.delay_for(&err, retry) else {
                        return Err(err);
                    };
                    tracing::warn!(
                        model = %job.model().id,
                        provider = self.inner.name(),
                        code = err.code().as_str(),
                        attempt = retry + 1,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "upstream call failed; retrying"
                    );
                    self.telemetry
                        .upstream_retry(&job.model().id, self.inner.name());
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
            }
        }
    }
}

#[async_trait]
impl ImageProvider for Retrying {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        self.with_retries(job, || self.inner.run(job)).await
    }

    /// Only opening the stream is retried; once events flow, a failure is the caller's.
    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        self.with_retries(job, || self.inner.stream(job)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Catalog, GenerateParams};
    use crate::testing::{MockProvider, MockStep};

    fn request() -> ImageJob {
        ImageJob::Generate(
            GenerateParams {
                model: "dall-e-2".into(),
                prompt: "a lighthouse".into(),
                size: Some("256x256".into()),
                ..Default::default()
            }
            .validate(&Catalog::default())
            .expect("valid"),
        )
    }

    fn server_error() -> Error {
        Error::new(ErrorCode::UpstreamError, "500").retryable(true)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_server_errors_until_success() {
        let mock = Arc::new(MockProvider::new());
        mock.push(MockStep::Fail(server_error()));
        mock.push(MockStep::Fail(server_error()));
        let retrying = Retrying::new(mock.clone(), RetryPolicy::default());

        let started = tokio::time::Instant::now();
        let answer = retrying.run(&request()).await;

        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(mock.calls(), 3);
        // Two backoffs: (0.375..=0.5 s) + (0.75..=1 s).
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(1125) && waited <= Duration::from_millis(1500),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let mock = Arc::new(MockProvider::new());
        for _ in 0..5 {
            mock.push(MockStep::Fail(server_error()));
        }
        let retrying = Retrying::new(mock.clone(), RetryPolicy::default().with_max_attempts(3));

        let err = retrying
            .run(&request())
            .await
            .expect_err("all attempts fail");

        assert_eq!(err.code(), ErrorCode::UpstreamError);
        assert_eq!(mock.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after() {
        let mock = Arc::new(MockProvider::new());
        mock.push(MockStep::Fail(
            Error::new(ErrorCode::UpstreamRateLimited, "slow down")
                .retryable(true)
                .with_retry_after(Duration::from_secs(2)),
        ));
        let retrying = Retrying::new(mock.clone(), RetryPolicy::default());

        let started = tokio::time::Instant::now();
        retrying
            .run(&request())
            .await
            .expect("second attempt succeeds");

        assert_eq!(mock.calls(), 2);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_wait_for_advice_beyond_the_cap() {
        let mock = Arc::new(MockProvider::new());
        mock.push(MockStep::Fail(
            Error::new(ErrorCode::UpstreamRateLimited, "later")
                .retryable(true)
                .with_retry_after(Duration::from_secs(120)),
        ));
        let retrying = Retrying::new(mock.clone(), RetryPolicy::default());

        let err = retrying.run(&request()).await.expect_err("not retried");

        assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
        assert_eq!(mock.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_policy_or_validation_errors() {
        for code in [
            ErrorCode::ContentPolicyViolation,
            ErrorCode::InvalidRequest,
            ErrorCode::UpstreamAuth,
        ] {
            let mock = Arc::new(MockProvider::new());
            mock.push(MockStep::Fail(Error::new(code, "no")));
            let retrying = Retrying::new(mock.clone(), RetryPolicy::default());

            let err = retrying.run(&request()).await.expect_err("fails");

            assert_eq!(err.code(), code);
            assert_eq!(mock.calls(), 1, "{code}");
        }
    }

    fn timeout() -> Error {
        Error::new(
            ErrorCode::UpstreamTimeout,
            "no answer after the request was sent",
        )
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_timeouts_by_default() {
        let mock = Arc::new(MockProvider::new());
        mock.push(MockStep::Fail(timeout()));
        let retrying = Retrying::new(mock.clone(), RetryPolicy::default());

        let err = retrying.run(&request()).await.expect_err("not retried");

        assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
        assert_eq!(mock.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_timeouts_when_the_policy_says_so() {
        let mock = Arc::new(MockProvider::new());
        mock.push(MockStep::Fail(timeout()));
        let policy = RetryPolicy::default().with_retry_timeouts(true);
        let retrying = Retrying::new(mock.clone(), policy);

        retrying
            .run(&request())
            .await
            .expect("second attempt succeeds");

        assert_eq!(mock.calls(), 2);
    }

    #[test]
    fn reads_retry_timeouts_from_config_and_defaults_it_to_off() {
        let policy: RetryPolicy =
            serde_json::from_str(r#"{"retry_timeouts": true, "base_delay": 250}"#)
                .expect("valid config");
        assert!(policy.retry_timeouts);
        assert_eq!(policy.base_delay, Duration::from_millis(250));
        assert!(!RetryPolicy::default().retry_timeouts);
    }

    #[test]
    fn backoff_doubles_and_is_capped_with_jitter() {
        let policy = RetryPolicy::default();
        for retry in 0..10 {
            let full = policy
                .base_delay
                .saturating_mul(1 << retry)
                .min(policy.max_delay);
            let got = policy.backoff(retry);
            assert!(got <= full && got >= full.mul_f64(0.75), "{retry}: {got:?}");
        }
    }
}
