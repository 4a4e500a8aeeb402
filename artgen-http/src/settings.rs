//! Typed settings of the reference server. The binary fills them from defaults, an optional
//! TOML file and `ARTGEN_*` environment variables; this module never reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::collections::BTreeMap;

use artgen_core::decorators::{
    CircuitConfig, ConcurrencyConfig, DeadlineConfig, FallbackConfig, RetryPolicy,
};
use artgen_core::domain::{CatalogConfig, UnknownParams};
use artgen_openai::ApiFlavor;

use crate::middleware::IdempotencyConfig;
use artgen_store::{DatabaseConfig, RateLimitConfig};
use serde::{Deserialize, Serialize};

/// Everything the server is configured by (secrets excepted: the OpenAI key is read from the
/// environment variable named in [`OpenAiSettings::api_key_env`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Folder for the SQLite database, images and the link-signing secret.
    pub data_dir: PathBuf,
    /// Base of image URLs (default: the request's `Host`, with `X-Forwarded-Proto`).
    pub public_url: Option<String>,
    /// Serve `/metrics` without credentials.
    pub metrics_public: bool,
    /// Lifetime of signed image links, seconds.
    pub signed_url_ttl_secs: u64,
    /// Largest JSON body, bytes.
    pub max_body_bytes: usize,
    /// Largest multipart upload (edits, variations), bytes.
    pub max_upload_bytes: usize,
    /// Uploads read at the same time; more wait (bounds memory to this × `max_upload_bytes`).
    pub max_concurrent_uploads: usize,
    /// Per-user rate limit.
    pub rate_limit: RateLimitConfig,
    /// Upstream retries.
    pub retry: RetryPolicy,
    /// The primary upstream (OpenAI, Azure OpenAI or compatible), named `openai`.
    pub openai: OpenAiSettings,
    /// Further upstreams by name, for fallbacks.
    pub providers: BTreeMap<String, OpenAiSettings>,
    /// Which upstreams to try after the primary fails (5xx, timeouts, connection errors).
    pub fallback: FallbackConfig,
    /// Circuit breaker per upstream: fail fast while an upstream keeps failing.
    pub circuit: CircuitConfig,
    /// Per-model limit of concurrent upstream calls, per upstream, with a bounded queue.
    pub concurrency: ConcurrencyConfig,
    /// The whole-request deadline toward the upstream (retries and fallbacks included).
    pub deadline: DeadlineConfig,
    /// An operator's catalogue file, merged over the shipped one (same format as
    /// `artgen-core/catalog.toml`).
    pub catalog_file: Option<PathBuf>,
    /// Catalogue changes: added models, aliases, prices, defaults, `unpriced`.
    pub catalog: CatalogConfig,
    /// Request parameters ArtGen does not know: `forward` them to the upstream (default) or
    /// `reject` the request.
    pub unknown_params: UnknownParams,
    /// The mock provider, used when no upstream key is set.
    pub mock: MockSettings,
    /// `Idempotency-Key` handling.
    pub idempotency: IdempotencyConfig,
    /// How usage is written: durability (`crash` or `power_loss`), patience with a locked
    /// database, the spool's size.
    pub database: DatabaseConfig,
}

/// Behaviour of the mock provider (testers script delays with it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockSettings {
    /// Delay before each answer, milliseconds.
    pub latency_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./artgen-data"),
            public_url: None,
            metrics_public: false,
            signed_url_ttl_secs: 3600,
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 64 * 1024 * 1024,
            max_concurrent_uploads: 16,
            rate_limit: RateLimitConfig::default(),
            retry: RetryPolicy::default(),
            openai: OpenAiSettings::default(),
            providers: BTreeMap::new(),
            fallback: FallbackConfig::default(),
            circuit: CircuitConfig::default(),
            concurrency: ConcurrencyConfig::default(),
            deadline: DeadlineConfig::default(),
            catalog_file: None,
            catalog: CatalogConfig::default(),
            unknown_params: UnknownParams::default(),
            mock: MockSettings::default(),
            idempotency: IdempotencyConfig::default(),
            database: DatabaseConfig::default(),
        }
    }
}

/// One upstream provider. The key is never in the file: `api_key_env` names the variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    /// `openai` (also any compatible server) or `azure`.
    pub kind: ApiFlavor,
    /// Base URL (default: OpenAI's; for Azure, `https://<resource>.openai.azure.com`).
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key.
    pub api_key_env: String,
    /// Whole-call timeout of one attempt, seconds.
    pub timeout_secs: u64,
    /// Azure: the `api-version` query parameter (default: the adapter's).
    pub api_version: Option<String>,
    /// Azure: deployment name per model id (default: the model's upstream id).
    pub deployments: BTreeMap<String, String>,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            kind: ApiFlavor::OpenAi,
            base_url: None,
            api_key_env: "OPENAI_API_KEY".into(),
            timeout_secs: 600,
            api_version: None,
            deployments: BTreeMap::new(),
        }
    }
}
