//! Test harness: starts the real ArtGen router on a random port, wired like the server binary
//! (SQLite, governor limiter, filesystem images) against a wiremock upstream that behaves like
//! OpenAI's Image API, or against the scriptable mock provider.

pub mod logs;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use artgen_core::decorators::RetryPolicy;
use artgen_core::domain::{KeyEnv, Role};
use artgen_core::ports::ImageProvider;
use artgen_core::testing::MockProvider;
use artgen_http::compose::{self, Upstreams};
use artgen_http::metrics::Metrics;
use artgen_http::oidc::OidcConfig;
use artgen_http::server::ServerConfig;
use artgen_http::settings::{OpenAiSettings, Settings};
use artgen_store::{RateLimitConfig, SqliteStore};
use serde_json::Value;
use wiremock::MockServer;

/// The OpenAI key the test server holds. It must never appear in any log.
pub const OPENAI_KEY: &str = "sk-test-NEVER-LOG-ME-7f3a9c2e1b";

/// Where the test server gets images from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// A wiremock server speaking OpenAI's API (see [`upstream`]).
    Wiremock,
    /// The in-process mock provider.
    Mock,
}

/// How to start a test server.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Upstream kind.
    pub upstream: Upstream,
    /// Per-user rate limit.
    pub rate_limit: RateLimitConfig,
    /// Retry policy (fast by default so tests stay quick).
    pub retry: RetryPolicy,
    /// Largest JSON body.
    pub max_body_bytes: usize,
    /// Latency of the mock provider (with [`Upstream::Mock`]).
    pub mock_latency: Duration,
    /// A second wiremock upstream named `backup`, tried after the primary fails.
    pub backup: bool,
    /// OIDC settings (an issuer and a client id turn the web UI's "Sign in with SSO" on).
    pub oidc: OidcConfig,
    /// Last changes to the server settings (deadlines, concurrency, ...).
    pub tweak: fn(&mut Settings),
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            upstream: Upstream::Wiremock,
            rate_limit: RateLimitConfig {
                per_minute: 6000,
                burst: 1000,
                ..RateLimitConfig::default()
            },
            retry: RetryPolicy::default().with_base_delay(Duration::from_millis(10)),
            max_body_bytes: 64 * 1024,
            mock_latency: Duration::ZERO,
            backup: false,
            oidc: OidcConfig::default(),
            tweak: |_| {},
        }
    }
}

/// A running server and what a test needs to talk to it.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A plain HTTP client.
    pub client: reqwest::Client,
    /// An admin's key.
    pub admin_key: String,
    /// An ordinary user's key (user `lisa`).
    pub user_key: String,
    /// Another ordinary user's key (user `somchai`).
    pub other_key: String,
    /// The store behind the server.
    pub store: SqliteStore,
    /// The wiremock upstream, when used.
    pub upstream: Option<MockServer>,
    /// The mock provider, when used.
    pub mock: Option<Arc<MockProvider>>,
    /// The `backup` upstream, when asked for.
    pub backup: Option<MockServer>,
    _data: tempfile::TempDir,
}

/// Starts a server.
///
/// # Panics
/// When the server cannot be built or bound (a broken test environment).
#[expect(
    clippy::expect_used,
    reason = "test harness: failing loudly is the point"
)]
pub async fn spawn_app(options: TestOptions) -> TestApp {
    logs::init();
    let data = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    let mut settings = Settings {
        bind: addr,
        data_dir: data.path().to_path_buf(),
        rate_limit: options.rate_limit,
        retry: options.retry,
        max_body_bytes: options.max_body_bytes,
        oidc: options.oidc,
        ..Settings::default()
    };
    let backup = if options.backup {
        let server = MockServer::start().await;
        let provider = OpenAiSettings {
            base_url: Some(server.uri()),
            api_key_env: "BACKUP_KEY".into(),
            ..Default::default()
        };
        settings.providers.insert("backup".into(), provider);
        settings.fallback.fallbacks.push("backup".into());
        Some(server)
    } else {
        None
    };
    (options.tweak)(&mut settings);
    let metrics = Arc::new(Metrics::new());
    let (upstreams, upstream, mock) = match options.upstream {
        Upstream::Wiremock => {
            let server = MockServer::start().await;
            settings.openai.base_url = Some(server.uri());
            let key = |_: &str| Some(OPENAI_KEY.to_owned());
            let upstreams = compose::upstreams(&settings, &key, &metrics).expect("openai provider");
            (upstreams, Some(server), None)
        }
        Upstream::Mock => {
            let mock = Arc::new(MockProvider::new().with_latency(options.mock_latency));
            (
                Upstreams::single(mock.clone() as Arc<dyn ImageProvider>),
                None,
                Some(mock),
            )
        }
    };
    let app = compose::build(&settings, upstreams, metrics)
        .await
        .expect("app builds");
    let store = app
        .stores
        .backend
        .sqlite()
        .expect("the test server runs on SQLite")
        .clone();
    let key = |user: &'static str, role| {
        let store = store.clone();
        async move {
            store
                .create_key(user, role, KeyEnv::Test)
                .await
                .expect("key")
                .expose_secret()
                .to_owned()
        }
    };
    let admin_key = key("admin", Role::Admin).await;
    let user_key = key("lisa", Role::User).await;
    let other_key = key("somchai", Role::User).await;
    let router = artgen_http::build_router(app.state);
    let server = ServerConfig::from_settings(&settings);
    tokio::spawn(artgen_http::server::serve(
        listener,
        router,
        server,
        std::future::pending(),
    ));
    TestApp {
        address: format!("http://{addr}"),
        client: reqwest::Client::new(),
        admin_key,
        user_key,
        other_key,
        store,
        upstream,
        mock,
        backup,
        _data: data,
    }
}

impl TestApp {
    /// `POST /generate` with a JSON body and a bearer key.
    pub async fn generate(&self, key: Option<&str>, body: &Value) -> reqwest::Response {
        self.post_raw("/generate", key, body.to_string()).await
    }

    /// `POST` of raw bytes as JSON.
    ///
    /// # Panics
    /// When the server cannot be reached.
    #[expect(clippy::expect_used, reason = "test harness")]
    pub async fn post_raw(&self, path: &str, key: Option<&str>, body: String) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("server reachable")
    }

    /// `GET` a path (or absolute URL) with an optional bearer key.
    ///
    /// # Panics
    /// When the server cannot be reached.
    #[expect(clippy::expect_used, reason = "test harness")]
    pub async fn get(&self, path_or_url: &str, key: Option<&str>) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.address)
        };
        let mut req = self.client.get(url);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("server reachable")
    }

    /// `POST` of a multipart form with a bearer key.
    ///
    /// # Panics
    /// When the server cannot be reached.
    #[expect(clippy::expect_used, reason = "test harness")]
    pub async fn post_form(
        &self,
        path: &str,
        key: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .expect("server reachable")
    }

    /// Requests the upstream received so far.
    pub async fn upstream_calls(&self) -> usize {
        match &self.upstream {
            Some(server) => server.received_requests().await.map_or(0, |r| r.len()),
            None => self
                .mock
                .as_ref()
                .map_or(0, |m| usize::try_from(m.calls()).unwrap_or(usize::MAX)),
        }
    }

    /// The `/metrics` text.
    ///
    /// # Panics
    /// When the server cannot be reached.
    #[expect(clippy::expect_used, reason = "test harness")]
    pub async fn metrics(&self) -> String {
        self.get("/metrics", Some(&self.admin_key))
            .await
            .text()
            .await
            .expect("metrics text")
    }
}
