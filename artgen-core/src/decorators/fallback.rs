//! Failover along an ordered chain of upstreams, optionally chosen per model.
//!
//! [`Fallback`] calls its primary and, when that fails in a way another upstream may not,
//! the next provider in the chain, and so on; the answer's
//! [`ProviderResponse::provider`] names the provider that served it. It fails over on
//! - `upstream_error` marked retryable (5xx, 408/409, connection failures),
//! - `upstream_unavailable` (circuit open) and `upstream_busy` (this upstream's queue is full),
//! - `upstream_timeout`, unless configured off: the timed-out upstream may already have drawn
//!   and billed the image, so failing over can mean paying twice; it is on by default because a
//!   hanging primary is exactly what a fallback is for;
//!
//! and never on 4xx-class errors: `invalid_request`, `content_policy_violation`,
//! `model_unavailable`, `upstream_auth`, a non-retryable `upstream_error` (unusable answer,
//! other 4xx), nor `upstream_rate_limited`. A 429 is the upstream telling ArtGen to slow down;
//! answering it by moving the load elsewhere hides the problem and can drain the next account
//! too, so it goes back to the [`Retrying`](super::Retrying) decorator (which honours its
//! `Retry-After`) or to the caller. When every provider failed, the last error is returned.
//!
//! A stream fails over only while opening; once events flow, a failure is the caller's.
//! [`FallbackRouter`] picks a chain by `job.model().id`, falling back to a default chain.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::ImageJob;
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{ImageEventStream, ImageProvider, NoTelemetry, ProviderResponse, Telemetry};

/// Chains by provider name, resolved by [`FallbackRouter::from_config`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FallbackConfig {
    /// Providers tried after the primary, in order, for models without a chain of their own.
    /// Default empty (no failover).
    pub fallbacks: Vec<String>,
    /// Per-model chains: model id → provider names, the first being that model's primary.
    /// Default empty.
    pub models: BTreeMap<String, Vec<String>>,
    /// Whether `upstream_timeout` fails over. Default true.
    pub on_timeout: bool,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        Self {
            fallbacks: Vec::new(),
            models: BTreeMap::new(),
            on_timeout: true,
        }
    }
}

/// An [`ImageProvider`] that fails over along an ordered chain of providers.
pub struct Fallback {
    primary: Arc<dyn ImageProvider>,
    fallbacks: Vec<Arc<dyn ImageProvider>>,
    on_timeout: bool,
    telemetry: Arc<dyn Telemetry>,
}

impl Fallback {
    /// A chain of one: `primary`, with no failover yet.
    pub fn new(primary: Arc<dyn ImageProvider>) -> Self {
        Self {
            primary,
            fallbacks: Vec::new(),
            on_timeout: true,
            telemetry: Arc::new(NoTelemetry),
        }
    }

    /// The chain in order (first = primary); `None` when it is empty.
    pub fn from_chain(chain: Vec<Arc<dyn ImageProvider>>) -> Option<Self> {
        let mut chain = chain.into_iter();
        let primary = chain.next()?;
        Some(chain.fold(Self::new(primary), Self::then))
    }

    /// Appends `next` to the chain.
    #[must_use]
    pub fn then(mut self, next: Arc<dyn ImageProvider>) -> Self {
        self.fallbacks.push(next);
        self
    }

    /// Sets whether `upstream_timeout` fails over (default true).
    #[must_use]
    pub fn with_fallback_on_timeout(mut self, on_timeout: bool) -> Self {
        self.on_timeout = on_timeout;
        self
    }

    /// Reports failovers to `telemetry`.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Whether a provider that failed with `err` should hand over to the next one.
    fn fails_over(&self, err: &Error) -> bool {
        match err.code() {
            ErrorCode::UpstreamError => err.is_retryable(),
            ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamBusy => true,
            ErrorCode::UpstreamTimeout => self.on_timeout,
            _ => false,
        }
    }

    /// Calls the chain in order until one answers or fails for good; returns the answer and
    /// the name of the provider that gave it.
    async fn first_answer<'a, T, F, Fut>(&'a self, job: &ImageJob, call: F) -> Result<(T, &'a str)>
    where
        F: Fn(&'a dyn ImageProvider) -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let mut current: &dyn ImageProvider = self.primary.as_ref();
        let mut rest = self.fallbacks.iter();
        loop {
            let err = match call(current).await {
                Ok(answer) => return Ok((answer, current.name())),
                Err(err) => err,
            };
            let next = match rest.next() {
                Some(next) if self.fails_over(&err) => next.as_ref(),
                _ => return Err(err),
            };
            tracing::warn!(
                model = %job.model().id,
                from = current.name(),
                to = next.name(),
                code = err.code().as_str(),
                "upstream failed; failing over"
            );
            self.telemetry
                .upstream_fallback(&job.model().id, current.name(), next.name());
            current = next;
        }
    }
}

#[async_trait]
impl ImageProvider for Fallback {
    /// The primary's name.
    fn name(&self) -> &str {
        self.primary.name()
    }

    /// The answer's `provider` is the `name()` of the chain member that served it (so a
    /// `Fallback` nested in a chain is reported under its own primary's name).
    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        let (mut response, served_by) = self.first_answer(job, |p| p.run(job)).await?;
        served_by.clone_into(&mut response.provider);
        Ok(response)
    }

    /// Fails over only while opening the stream.
    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        let (events, served_by) = self.first_answer(job, |p| p.stream(job)).await?;
        Ok(events.with_served_by(served_by))
    }
}

/// An [`ImageProvider`] that picks a [`Fallback`] chain by model id.
pub struct FallbackRouter {
    default: Fallback,
    models: HashMap<String, Fallback>,
}

impl FallbackRouter {
    /// Routes every model to `default`.
    pub fn new(default: Fallback) -> Self {
        Self {
            default,
            models: HashMap::new(),
        }
    }

    /// Routes `model` (a catalogue id) to `chain` instead.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>, chain: Fallback) -> Self {
        self.models.insert(model.into(), chain);
        self
    }

    /// Builds the chains of `config` from named providers: the default chain is `primary`
    /// followed by `config.fallbacks`; names are looked up in `providers`, or are `primary`'s
    /// own name.
    ///
    /// # Errors
    /// `invalid_request` (param `config`) when a name is unknown or a model's chain is empty.
    pub fn from_config(
        config: &FallbackConfig,
        primary: Arc<dyn ImageProvider>,
        providers: &HashMap<String, Arc<dyn ImageProvider>>,
        telemetry: Arc<dyn Telemetry>,
    ) -> Result<Self> {
        let resolve = |name: &String| match providers.get(name) {
            Some(provider) => Ok(provider.clone()),
            None if name == primary.name() => Ok(primary.clone()),
            None => Err(config_error(format!("fallback: unknown provider `{name}`"))),
        };
        let finish = |chain: Fallback| {
            chain
                .with_fallback_on_timeout(config.on_timeout)
                .with_telemetry(telemetry.clone())
        };
        let mut default = Fallback::new(primary.clone());
        for name in &config.fallbacks {
            default = default.then(resolve(name)?);
        }
        let mut router = Self::new(finish(default));
        for (model, names) in &config.models {
            let chain = names.iter().map(resolve).collect::<Result<Vec<_>>>()?;
            let chain = Fallback::from_chain(chain)
                .ok_or_else(|| config_error(format!("fallback: model `{model}` has no chain")))?;
            router = router.with_model(model.clone(), finish(chain));
        }
        Ok(router)
    }

    fn route(&self, job: &ImageJob) -> &Fallback {
        self.models.get(&job.model().id).unwrap_or(&self.default)
    }
}

fn config_error(message: String) -> Error {
    Error::new(ErrorCode::InvalidRequest, message).with_param("config")
}

#[async_trait]
impl ImageProvider for FallbackRouter {
    /// The default chain's primary's name.
    fn name(&self) -> &str {
        self.default.name()
    }

    async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
        self.route(job).run(job).await
    }

    async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
        self.route(job).stream(job).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::domain::{Catalog, GenerateParams};
    use crate::testing::{MockProvider, MockStep};

    /// A mock under another name.
    struct Named(&'static str, Arc<MockProvider>);

    #[async_trait]
    impl ImageProvider for Named {
        fn name(&self) -> &str {
            self.0
        }

        async fn run(&self, job: &ImageJob) -> Result<ProviderResponse> {
            self.1.run(job).await
        }

        async fn stream(&self, job: &ImageJob) -> Result<ImageEventStream> {
            self.1.stream(job).await
        }
    }

    /// Records failovers.
    #[derive(Default)]
    struct Failovers(Mutex<Vec<String>>);

    impl Telemetry for Failovers {
        fn upstream_fallback(&self, model: &str, from: &str, to: &str) {
            self.0
                .lock()
                .expect("not poisoned")
                .push(format!("{model}: {from} -> {to}"));
        }
    }

    fn job(model: &str) -> ImageJob {
        let params = GenerateParams {
            model: model.into(),
            prompt: "a lighthouse".into(),
            ..Default::default()
        };
        ImageJob::Generate(params.validate(&Catalog::default()).expect("valid"))
    }

    fn mocks() -> (Arc<MockProvider>, Arc<MockProvider>) {
        (Arc::new(MockProvider::new()), Arc::new(MockProvider::new()))
    }

    fn chain(first: &Arc<MockProvider>, second: &Arc<MockProvider>) -> Fallback {
        Fallback::new(Arc::new(Named("primary", first.clone())))
            .then(Arc::new(Named("secondary", second.clone())))
    }

    #[tokio::test]
    async fn fails_over_on_a_server_error_and_names_the_provider_that_served() {
        let (first, second) = mocks();
        first.push(MockStep::server_error());
        let failovers = Arc::new(Failovers::default());
        let fallback = chain(&first, &second).with_telemetry(failovers.clone());

        let response = fallback
            .run(&job("dall-e-2"))
            .await
            .expect("secondary serves");

        assert_eq!(response.provider, "secondary");
        assert_eq!(fallback.name(), "primary");
        assert_eq!((first.calls(), second.calls()), (1, 1));
        let seen = failovers.0.lock().expect("not poisoned").clone();
        assert_eq!(seen, ["dall-e-2: primary -> secondary"]);
    }

    #[tokio::test]
    async fn fails_over_on_timeouts_busy_and_unavailable_upstreams() {
        for code in [
            ErrorCode::UpstreamTimeout,
            ErrorCode::UpstreamBusy,
            ErrorCode::UpstreamUnavailable,
        ] {
            let (first, second) = mocks();
            first.push(MockStep::Fail(Error::new(code, "down")));

            let response = chain(&first, &second).run(&job("dall-e-2")).await;

            assert_eq!(response.expect("served").provider, "secondary", "{code}");
        }
    }

    #[tokio::test]
    async fn keeps_a_timeout_when_failing_over_on_timeouts_is_off() {
        let (first, second) = mocks();
        first.push(MockStep::Fail(Error::new(
            ErrorCode::UpstreamTimeout,
            "slow",
        )));
        let fallback = chain(&first, &second).with_fallback_on_timeout(false);

        let err = fallback
            .run(&job("dall-e-2"))
            .await
            .expect_err("no failover");

        assert_eq!(err.code(), ErrorCode::UpstreamTimeout);
        assert_eq!(second.calls(), 0);
    }

    #[tokio::test]
    async fn never_fails_over_on_client_errors_or_rate_limits() {
        for step in [
            MockStep::Fail(Error::new(ErrorCode::InvalidRequest, "bad size")),
            MockStep::moderation("unsafe"),
            MockStep::Fail(Error::new(ErrorCode::ModelNotFound, "retired")),
            MockStep::Fail(Error::new(ErrorCode::UpstreamAuth, "bad key")),
            MockStep::Fail(Error::new(ErrorCode::UpstreamError, "unparsable answer")),
            MockStep::rate_limited(Duration::from_secs(2)),
        ] {
            let (first, second) = mocks();
            first.push(step);

            let err = chain(&first, &second).run(&job("dall-e-2")).await;

            let err = err.expect_err("the primary's error is the answer");
            assert_eq!(second.calls(), 0, "{}", err.code());
        }
    }

    #[tokio::test]
    async fn returns_the_last_error_when_every_provider_fails() {
        let (first, second) = mocks();
        first.push(MockStep::Fail(Error::new(ErrorCode::UpstreamBusy, "busy")));
        second.push(MockStep::server_error());

        let err = chain(&first, &second).run(&job("dall-e-2")).await;

        assert_eq!(err.expect_err("all fail").code(), ErrorCode::UpstreamError);
    }

    #[tokio::test]
    async fn fails_over_while_opening_a_stream() {
        let (first, second) = mocks();
        first.push(MockStep::server_error());

        let events = chain(&first, &second).stream(&job("dall-e-2")).await;

        assert!(events.is_ok());
        assert_eq!((first.calls(), second.calls()), (1, 1));
    }

    #[tokio::test]
    async fn routes_each_model_to_its_own_chain() {
        let (first, second) = mocks();
        let mut providers: HashMap<String, Arc<dyn ImageProvider>> = HashMap::new();
        providers.insert("secondary".into(), Arc::new(Named("secondary", second)));
        let config: FallbackConfig =
            serde_json::from_str(r#"{"models": {"dall-e-3": ["secondary", "primary"]}}"#)
                .expect("valid config");
        let primary = Arc::new(Named("primary", first));
        let router =
            FallbackRouter::from_config(&config, primary, &providers, Arc::new(NoTelemetry))
                .expect("names resolve");

        let two = router.run(&job("dall-e-2")).await.expect("served");
        let three = router.run(&job("dall-e-3")).await.expect("served");

        assert_eq!(
            (two.provider.as_str(), three.provider.as_str()),
            ("primary", "secondary")
        );
        assert_eq!(router.name(), "primary");
    }

    #[test]
    fn refuses_a_config_naming_an_unknown_provider() {
        let config = FallbackConfig {
            fallbacks: vec!["azure".into()],
            ..FallbackConfig::default()
        };
        let primary = Arc::new(MockProvider::new());

        let err =
            FallbackRouter::from_config(&config, primary, &HashMap::new(), Arc::new(NoTelemetry))
                .err()
                .expect("unknown name");

        assert_eq!(err.code(), ErrorCode::InvalidRequest);
        assert!(err.message().contains("`azure`"), "{}", err.message());
    }
}
