//! The port through which the core reports what happened, for metrics.

use std::time::Duration;

use crate::decorators::concurrency::GateReading;
use crate::domain::{BudgetScope, Money, TokenUsage};

/// Receives events from the service and the decorators. Every method has a no-op default.
/// Implementations must be cheap: they are called on the request path.
pub trait Telemetry: Send + Sync {
    /// One upstream attempt finished (`outcome` is `ok` or an error code).
    fn upstream_call(&self, _model: &str, _provider: &str, _elapsed: Duration, _outcome: &str) {}

    /// An upstream attempt failed and will be retried.
    fn upstream_retry(&self, _model: &str, _provider: &str) {}

    /// A request for a model without a known price was served, because the operator allows
    /// it; its cost is recorded as unpriced.
    fn unpriced(&self, _model: &str) {}

    /// A request for a retired or retiring model was served with a warning.
    fn lifecycle_warning(&self, _model: &str, _state: &str) {}

    /// A request was refused by the per-user rate limit.
    fn rate_limited(&self, _user: &str) {}

    /// A request took the budget of `scope` past its soft threshold: the budget now stands at
    /// `percent` of its limit.
    fn budget_threshold_crossed(&self, _scope: &BudgetScope, _percent: u64) {}

    /// A request was refused because a budget (`scope` is `user` or `org`) has no room.
    fn budget_exceeded(&self, _scope: &str) {}

    /// A request was made at a lower quality because its budget is past the soft threshold.
    fn quality_downgraded(&self, _model: &str) {}

    /// A request succeeded: its images, tokens and cost.
    fn billed(&self, _model: &str, _images: u32, _tokens: Option<&TokenUsage>, _cost: Money) {}

    /// An upstream failed in a way that allows failing over, and the call moves from the
    /// provider named `from` to the one named `to`.
    fn upstream_fallback(&self, _model: &str, _from: &str, _to: &str) {}

    /// A call was turned away (`upstream_busy`) because too many calls for this model were
    /// already running or waiting.
    fn upstream_busy(&self, _model: &str) {}

    /// Where the admission gate of `model` on the upstream named `provider` stands: its
    /// adaptive limit, calls in flight and callers waiting.
    fn upstream_gate(&self, _provider: &str, _model: &str, _reading: GateReading) {}

    /// A call waited `waited` in the admission queue before it was sent.
    fn upstream_wait(&self, _provider: &str, _model: &str, _waited: Duration) {}

    /// The circuit breaker of the upstream named `provider` opened (`open`: calls to it fail
    /// fast until a probe succeeds) or closed again. Also reported, closed, when the breaker
    /// is set up.
    fn circuit_state(&self, _provider: &str, _open: bool) {}

    /// The latest reading of an upstream quota, as the provider reported it (e.g. from
    /// `x-ratelimit-remaining-requests`): `kind` names the quota (`requests`, `tokens`, ...),
    /// `remaining` is what is left of it.
    fn upstream_quota(&self, _provider: &str, _model: &str, _kind: &str, _remaining: u64) {}
}

/// Telemetry that records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTelemetry;

impl Telemetry for NoTelemetry {}
