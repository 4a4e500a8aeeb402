//! Prometheus metrics, fed by the core through the [`Telemetry`] port and by the access log.

use artgen_core::decorators::concurrency::GateReading;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use artgen_core::domain::{BudgetScope, Money, TokenUsage};
use artgen_core::ports::Telemetry;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Buckets from 50 ms to 10 minutes: gpt-image high quality can take minutes.
const LATENCY_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

fn histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every metric ArtGen exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    request_duration: Family<Labels, Histogram, fn() -> Histogram>,
    upstream_duration: Family<Labels, Histogram, fn() -> Histogram>,
    cost_usd: Family<Labels, Counter<f64, AtomicU64>>,
    tokens: Family<Labels, Counter>,
    images: Family<Labels, Counter>,
    rate_limited: Counter,
    upstream_retries: Family<Labels, Counter>,
    upstream_fallbacks: Family<Labels, Counter>,
    upstream_busy: Family<Labels, Counter>,
    upstream_quota: Family<Labels, Gauge>,
    upstream_circuit_open: Family<Labels, Gauge>,
    upstream_limit: Family<Labels, Gauge>,
    upstream_in_flight: Family<Labels, Gauge>,
    upstream_queue_depth: Family<Labels, Gauge>,
    upstream_queue_wait: Family<Labels, Histogram, fn() -> Histogram>,
    unpriced: Family<Labels, Counter>,
    rate_limiter_down: Gauge,
    lifecycle_warnings: Family<Labels, Counter>,
    budget_threshold: Family<Labels, Counter>,
    budget_exceeded: Family<Labels, Counter>,
    quality_downgraded: Family<Labels, Counter>,
    /// Where threshold alerts go besides the counter, when a webhook is configured.
    budget_webhook: std::sync::OnceLock<crate::webhook::BudgetWebhook>,
    /// The latest quota readings by (model, kind), for `/health`.
    quota: Mutex<BTreeMap<(String, String), u64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let request_duration =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let upstream_duration =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let cost_usd = Family::<Labels, Counter<f64, AtomicU64>>::default();
        let tokens = Family::<Labels, Counter>::default();
        let images = Family::<Labels, Counter>::default();
        let rate_limited = Counter::default();
        let upstream_retries = Family::<Labels, Counter>::default();
        let upstream_fallbacks = Family::<Labels, Counter>::default();
        let upstream_busy = Family::<Labels, Counter>::default();
        let upstream_quota = Family::<Labels, Gauge>::default();
        let upstream_circuit_open = Family::<Labels, Gauge>::default();
        let upstream_limit = Family::<Labels, Gauge>::default();
        let upstream_in_flight = Family::<Labels, Gauge>::default();
        let upstream_queue_depth = Family::<Labels, Gauge>::default();
        let upstream_queue_wait =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let unpriced = Family::<Labels, Counter>::default();
        let rate_limiter_down = Gauge::default();
        let lifecycle_warnings = Family::<Labels, Counter>::default();
        let budget_threshold = Family::<Labels, Counter>::default();
        let budget_exceeded = Family::<Labels, Counter>::default();
        let quality_downgraded = Family::<Labels, Counter>::default();
        registry.register(
            "artgen_budget_threshold_crossed",
            "Requests that took a budget past its soft threshold, by scope (user or org)",
            budget_threshold.clone(),
        );
        registry.register(
            "artgen_budget_exceeded",
            "Requests refused because a budget had no room, by scope (user or org)",
            budget_exceeded.clone(),
        );
        registry.register(
            "artgen_quality_downgraded",
            "Requests made at medium instead of high quality past a budget's soft threshold, by model",
            quality_downgraded.clone(),
        );
        registry.register(
            "artgen_requests",
            "HTTP requests by endpoint, model and status",
            requests.clone(),
        );
        registry.register(
            "artgen_request_duration_seconds",
            "Time from request to response",
            request_duration.clone(),
        );
        registry.register(
            "artgen_upstream_duration_seconds",
            "Time waiting for the upstream provider, retries included",
            upstream_duration.clone(),
        );
        registry.register(
            "artgen_cost_usd",
            "Settled cost in US dollars by model",
            cost_usd.clone(),
        );
        registry.register(
            "artgen_tokens",
            "Tokens billed by model and kind",
            tokens.clone(),
        );
        registry.register("artgen_images", "Images returned by model", images.clone());
        registry.register(
            "artgen_rate_limited",
            "Requests refused by the per-user rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "artgen_upstream_retries",
            "Upstream attempts that failed and were retried",
            upstream_retries.clone(),
        );
        registry.register(
            "artgen_upstream_fallbacks",
            "Upstream calls that failed over to the next provider of the chain",
            upstream_fallbacks.clone(),
        );
        registry.register(
            "artgen_upstream_busy",
            "Calls turned away because too many were running or waiting for the upstream",
            upstream_busy.clone(),
        );
        registry.register(
            "artgen_upstream_quota_remaining",
            "Latest remaining upstream quota reported by the provider, by model and kind",
            upstream_quota.clone(),
        );
        registry.register(
            "artgen_upstream_circuit_open",
            "1 while the circuit breaker of an upstream is open (calls to it fail fast), else 0",
            upstream_circuit_open.clone(),
        );
        registry.register(
            "artgen_upstream_limit",
            "Current adaptive limit on calls in flight, by upstream and model",
            upstream_limit.clone(),
        );
        registry.register(
            "artgen_upstream_in_flight",
            "Upstream calls in flight, by upstream and model",
            upstream_in_flight.clone(),
        );
        registry.register(
            "artgen_upstream_queue_depth",
            "Callers waiting for the upstream, by upstream and model",
            upstream_queue_depth.clone(),
        );
        registry.register(
            "artgen_upstream_queue_wait_seconds",
            "Time a call waited in the admission queue before it was sent",
            upstream_queue_wait.clone(),
        );
        registry.register(
            "artgen_rate_limiter_down",
            "1 while the shared (Redis) rate limiter is unreachable and its failure policy applies, else 0",
            rate_limiter_down.clone(),
        );
        registry.register(
            "artgen_unpriced_requests",
            "Requests served for a model without a known price (catalog.unpriced = \"serve\"), by model",
            unpriced.clone(),
        );
        registry.register(
            "artgen_model_lifecycle_warnings",
            "Requests served with a Warning because their model is retiring or retired, by model and state",
            lifecycle_warnings.clone(),
        );
        Self {
            registry,
            requests,
            request_duration,
            upstream_duration,
            cost_usd,
            tokens,
            images,
            rate_limited,
            upstream_retries,
            upstream_fallbacks,
            upstream_busy,
            upstream_quota,
            upstream_circuit_open,
            upstream_limit,
            upstream_in_flight,
            upstream_queue_depth,
            upstream_queue_wait,
            unpriced,
            rate_limiter_down,
            lifecycle_warnings,
            budget_threshold,
            budget_exceeded,
            quality_downgraded,
            budget_webhook: std::sync::OnceLock::new(),
            quota: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sends threshold alerts to `webhook` too (set once; a second call is ignored).
    pub fn set_budget_webhook(&self, webhook: crate::webhook::BudgetWebhook) {
        if self.budget_webhook.set(webhook).is_err() {
            tracing::debug!("the budget webhook was set already");
        }
    }

    /// Notes whether the shared rate limiter is down (its failure policy applies).
    pub fn rate_limiter_down(&self, down: bool) {
        self.rate_limiter_down.set(i64::from(down));
    }

    /// The latest upstream quota readings as `(model, kind, remaining)`, sorted.
    pub fn quota_snapshot(&self) -> Vec<(String, String, u64)> {
        self.quota
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|((model, kind), remaining)| (model.clone(), kind.clone(), *remaining))
            .collect()
    }

    /// Counts one finished HTTP request.
    pub fn observe_request(&self, endpoint: &str, model: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&vec![
                ("endpoint", endpoint.to_owned()),
                ("model", model.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        self.request_duration
            .get_or_create(&vec![("endpoint", endpoint.to_owned())])
            .observe(elapsed.as_secs_f64());
    }

    /// The exposition text.
    ///
    /// # Errors
    /// Only if formatting fails, which writing to a `String` does not.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Telemetry for Metrics {
    fn upstream_call(&self, model: &str, _provider: &str, elapsed: Duration, _outcome: &str) {
        self.upstream_duration
            .get_or_create(&vec![("model", model.to_owned())])
            .observe(elapsed.as_secs_f64());
    }

    fn upstream_retry(&self, model: &str, _provider: &str) {
        self.upstream_retries
            .get_or_create(&vec![("model", model.to_owned())])
            .inc();
    }

    fn upstream_fallback(&self, model: &str, from: &str, to: &str) {
        self.upstream_fallbacks
            .get_or_create(&vec![
                ("model", model.to_owned()),
                ("from", from.to_owned()),
                ("to", to.to_owned()),
            ])
            .inc();
    }

    fn upstream_busy(&self, model: &str) {
        self.upstream_busy
            .get_or_create(&vec![("model", model.to_owned())])
            .inc();
    }

    fn upstream_gate(&self, provider: &str, model: &str, reading: GateReading) {
        let labels = vec![
            ("provider", provider.to_owned()),
            ("model", model.to_owned()),
        ];
        for (family, value) in [
            (&self.upstream_limit, reading.limit),
            (&self.upstream_in_flight, reading.in_flight),
            (&self.upstream_queue_depth, reading.queued),
        ] {
            family.get_or_create(&labels).set(i64::from(value));
        }
    }

    fn upstream_wait(&self, provider: &str, model: &str, waited: Duration) {
        self.upstream_queue_wait
            .get_or_create(&vec![
                ("provider", provider.to_owned()),
                ("model", model.to_owned()),
            ])
            .observe(waited.as_secs_f64());
    }

    fn circuit_state(&self, provider: &str, open: bool) {
        self.upstream_circuit_open
            .get_or_create(&vec![("provider", provider.to_owned())])
            .set(i64::from(open));
    }

    /// Keeps the latest reading per model and kind (a reading from another provider for the
    /// same model replaces it).
    fn upstream_quota(&self, _provider: &str, model: &str, kind: &str, remaining: u64) {
        self.upstream_quota
            .get_or_create(&vec![
                ("model", model.to_owned()),
                ("kind", kind.to_owned()),
            ])
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
        self.quota
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((model.to_owned(), kind.to_owned()), remaining);
    }

    fn unpriced(&self, model: &str) {
        self.unpriced
            .get_or_create(&vec![("model", model.to_owned())])
            .inc();
    }

    fn lifecycle_warning(&self, model: &str, state: &str) {
        self.lifecycle_warnings
            .get_or_create(&vec![
                ("model", model.to_owned()),
                ("state", state.to_owned()),
            ])
            .inc();
    }

    fn rate_limited(&self, _user: &str) {
        self.rate_limited.inc();
    }

    fn budget_threshold_crossed(&self, scope: &BudgetScope, percent: u64) {
        self.budget_threshold
            .get_or_create(&vec![("scope", scope.kind().to_owned())])
            .inc();
        if let Some(webhook) = self.budget_webhook.get() {
            webhook.crossed(scope, percent);
        }
    }

    fn budget_exceeded(&self, scope: &str) {
        self.budget_exceeded
            .get_or_create(&vec![("scope", scope.to_owned())])
            .inc();
    }

    fn quality_downgraded(&self, model: &str) {
        self.quality_downgraded
            .get_or_create(&vec![("model", model.to_owned())])
            .inc();
    }

    fn billed(&self, model: &str, images: u32, tokens: Option<&TokenUsage>, cost: Money) {
        let by_model = vec![("model", model.to_owned())];
        self.cost_usd.get_or_create(&by_model).inc_by(cost.as_usd());
        self.images
            .get_or_create(&by_model)
            .inc_by(u64::from(images));
        if let Some(t) = tokens {
            for (kind, count) in [
                ("input_text", t.input_text_tokens),
                ("input_image", t.input_image_tokens),
                ("output_image", t.output_image_tokens),
                ("output_text", t.output_text_tokens),
            ] {
                self.tokens
                    .get_or_create(&vec![
                        ("model", model.to_owned()),
                        ("kind", kind.to_owned()),
                    ])
                    .inc_by(count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_named_metric() {
        let metrics = Metrics::new();
        metrics.observe_request("/generate", "dall-e-2", 200, Duration::from_millis(20));
        metrics.billed("dall-e-2", 2, None, Money::from_micros(40_000));
        metrics.upstream_retry("dall-e-2", "mock");
        metrics.rate_limited("lisa");
        metrics.upstream_call("dall-e-2", "mock", Duration::from_millis(5), "ok");
        metrics.upstream_fallback("dall-e-2", "openai", "azure");
        metrics.upstream_busy("dall-e-2");
        metrics.upstream_quota("openai", "dall-e-2", "requests", 10);
        metrics.upstream_quota("openai", "dall-e-2", "requests", 9);
        metrics.circuit_state("backup", true);
        metrics.unpriced("gpt-image-2.6-flare");
        metrics.lifecycle_warning("dall-e-2", "retired");
        metrics.budget_threshold_crossed(&BudgetScope::Org("acme".into()), 83);
        metrics.budget_exceeded("user");
        metrics.quality_downgraded("gpt-image-1");
        let text = metrics.render().expect("renders");
        for name in [
            "artgen_budget_threshold_crossed_total{scope=\"org\"} 1",
            "artgen_budget_exceeded_total{scope=\"user\"} 1",
            "artgen_quality_downgraded_total{model=\"gpt-image-1\"} 1",
            "artgen_requests_total{endpoint=\"/generate\",model=\"dall-e-2\",status=\"200\"} 1",
            "artgen_request_duration_seconds_bucket",
            "artgen_upstream_duration_seconds_bucket",
            "artgen_cost_usd_total{model=\"dall-e-2\"} 0.04",
            "artgen_images_total{model=\"dall-e-2\"} 2",
            "artgen_rate_limited_total 1",
            "artgen_upstream_retries_total{model=\"dall-e-2\"} 1",
            "artgen_upstream_fallbacks_total{model=\"dall-e-2\",from=\"openai\",to=\"azure\"} 1",
            "artgen_upstream_busy_total{model=\"dall-e-2\"} 1",
            "artgen_upstream_quota_remaining{model=\"dall-e-2\",kind=\"requests\"} 9",
            "artgen_upstream_circuit_open{provider=\"backup\"} 1",
            "artgen_unpriced_requests_total{model=\"gpt-image-2.6-flare\"} 1",
            "artgen_model_lifecycle_warnings_total{model=\"dall-e-2\",state=\"retired\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }

    #[test]
    fn every_metric_is_documented_in_the_readme_and_the_api_guide() {
        let text = Metrics::new().render().expect("renders");
        let names: Vec<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split_once(' '))
            .map(|(name, kind)| match kind {
                "counter" => format!("{name}_total"),
                _ => name.to_owned(),
            })
            .collect();
        assert!(names.len() >= 14, "{names:?}");
        for (doc, text) in [
            ("README.md", include_str!("../../README.md")),
            ("docs/api.md", include_str!("../../docs/api.md")),
        ] {
            for name in &names {
                assert!(text.contains(&format!("`{name}")), "{doc} lacks {name}");
            }
        }
    }

    #[test]
    fn keeps_the_latest_quota_reading_per_model_and_kind() {
        let metrics = Metrics::new();
        metrics.upstream_quota("openai", "gpt-image-1", "tokens", 5_000);
        metrics.upstream_quota("openai", "dall-e-3", "requests", 40);
        metrics.upstream_quota("openai", "gpt-image-1", "tokens", 4_200);

        let snapshot = metrics.quota_snapshot();

        assert_eq!(
            snapshot,
            vec![
                ("dall-e-3".to_owned(), "requests".to_owned(), 40),
                ("gpt-image-1".to_owned(), "tokens".to_owned(), 4_200),
            ]
        );
    }
}
