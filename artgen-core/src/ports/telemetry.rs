//! The port through which the core reports what happened, for metrics.

use std::time::Duration;

use crate::domain::{Money, TokenUsage};

/// Receives events from the service and the decorators. Every method has a no-op default.
/// Implementations must be cheap: they are called on the request path.
pub trait Telemetry: Send + Sync {
    /// One upstream attempt finished (`outcome` is `ok` or an error code).
    fn upstream_call(&self, _model: &str, _provider: &str, _elapsed: Duration, _outcome: &str) {}

    /// An upstream attempt failed and will be retried.
    fn upstream_retry(&self, _model: &str, _provider: &str) {}

    /// A request was refused by the per-user rate limit.
    fn rate_limited(&self, _user: &str) {}

    /// A request succeeded: its images, tokens and cost.
    fn billed(&self, _model: &str, _images: u32, _tokens: Option<&TokenUsage>, _cost: Money) {}
}

/// Telemetry that records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTelemetry;

impl Telemetry for NoTelemetry {}
