//! Prometheus metrics, fed by the core through the [`Telemetry`] port and by the access log.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use artgen_core::domain::{Money, TokenUsage};
use artgen_core::ports::Telemetry;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
        }
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

    fn rate_limited(&self, _user: &str) {
        self.rate_limited.inc();
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
        let text = metrics.render().expect("renders");
        for name in [
            "artgen_requests_total{endpoint=\"/generate\",model=\"dall-e-2\",status=\"200\"} 1",
            "artgen_request_duration_seconds_bucket",
            "artgen_upstream_duration_seconds_bucket",
            "artgen_cost_usd_total{model=\"dall-e-2\"} 0.04",
            "artgen_images_total{model=\"dall-e-2\"} 2",
            "artgen_rate_limited_total 1",
            "artgen_upstream_retries_total{model=\"dall-e-2\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
