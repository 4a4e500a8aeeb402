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
use crate::oidc::OidcConfig;
use crate::retention::RetentionConfig;
use artgen_store::{DatabaseConfig, RateLimitConfig, RedisFailure};
use secrecy::{ExposeSecret as _, SecretString};

/// The default [`Settings::images_inline_max_bytes`]: 64 KiB. Below about 100 KB, SQLite
/// reads and writes a blob faster than the file system does a file of its own.
pub const DEFAULT_IMAGES_INLINE_MAX_BYTES: u64 = 64 * 1024;
use serde::{Deserialize, Serialize, Serializer};

/// Everything the server is configured by (the OpenAI keys excepted: each is read from the
/// environment variable named in [`OpenAiSettings::api_key_env`]). URLs that may hold a
/// password are [`SecretString`]s, so the `Debug` of the settings never shows one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Folder for the SQLite database, images and the link-signing secret.
    pub data_dir: PathBuf,
    /// Where images are stored: unset or `file://<folder>` for a local folder (default
    /// `<data_dir>/images`), `s3://<bucket>[/<prefix>]` for S3 or an S3-compatible server,
    /// reached and authenticated by the standard `AWS_*` environment variables.
    pub images_url: Option<String>,
    /// With an image store that signs links (S3): `GET /images/{id}` redirects to a link of the
    /// store valid this long, seconds, instead of streaming the bytes through ArtGen (0: never
    /// redirect).
    pub images_redirect_secs: u64,
    /// With the SQLite database and a local image folder: images of at most this many bytes
    /// are kept as rows of the database instead of one file each (0: every image is a file).
    pub images_inline_max_bytes: u64,
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
    /// Of those, how many one user may hold (default: a quarter, at least 1); their further
    /// uploads wait without holding a shared slot.
    pub max_uploads_per_user: Option<usize>,
    /// Grace for reading a request body, seconds; after it the body must keep up
    /// `body_min_bytes_per_sec` on average, else 408 (0: no deadline).
    pub body_read_timeout_secs: u64,
    /// Slowest average a request body may arrive at after the grace, bytes per second (0: the
    /// grace is a deadline for the whole body).
    pub body_min_bytes_per_sec: u64,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// A connection must send a whole request head within this long of being accepted or of
    /// starting the head, seconds (0: no limit).
    pub header_read_timeout_secs: u64,
    /// An idle keep-alive connection is closed after this long, seconds (0: never).
    pub keep_alive_timeout_secs: u64,
    /// A connection whose writes have been blocked this long (the client stopped reading its
    /// answer) is closed, seconds (0: never).
    pub send_timeout_secs: u64,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish before their
    /// connections are dropped, seconds.
    pub shutdown_grace_secs: u64,
    /// How long a replica remembers an API key that passed, seconds: a revoked key keeps
    /// working this long at most where it was cached (0: look every request up).
    pub key_cache_secs: u64,
    /// SSO: OIDC bearer tokens accepted beside API keys (off while `oidc.issuer` is unset).
    pub oidc: OidcConfig,
    /// Per-user rate limit.
    pub rate_limit: RateLimitConfig,
    /// Redis shared by every replica for the rate limit (`redis://…`); unset: the in-process
    /// limiter. A secret (it may hold a password): `Debug` shows none of it, serialising
    /// redacts the password.
    #[serde(serialize_with = "redacted_url")]
    pub redis_url: Option<SecretString>,
    /// What the rate limit does while Redis is unreachable: `fail_open` (the in-process
    /// limiter) or `fail_closed` (503).
    pub redis_failure: RedisFailure,
    /// Prefix of the rate limiter's Redis keys.
    pub redis_key_prefix: String,
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
    /// The database of usage, keys and idempotency records: `postgres://…` (shared by every
    /// replica), or unset / `sqlite://` for the SQLite file in the data folder. A secret (it
    /// may hold a password): `Debug` shows none of it, serialising redacts the password.
    #[serde(serialize_with = "redacted_url")]
    pub database_url: Option<SecretString>,
    /// How usage is written: durability (`crash` or `power_loss`), patience with a locked
    /// database, the spool's size.
    pub database: DatabaseConfig,
    /// How long prompts and images are kept, and how prompts are logged.
    pub retention: RetentionConfig,
    /// Monthly budgets: default limits per user and per organisation, the soft threshold and
    /// its policy, the time zone months are counted in.
    pub budget: BudgetSettings,
}

/// Monthly budgets. Every limit is unset by default (no limit); a user's or organisation's
/// own limits, where set, replace these per dimension.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetSettings {
    /// A user's money per calendar month, in USD (a decimal, e.g. `25.5`).
    pub usd_per_month: Option<f64>,
    /// A user's tokens per calendar month.
    pub tokens_per_month: Option<u64>,
    /// An organisation's money per calendar month, in USD, shared by its members.
    pub org_usd_per_month: Option<f64>,
    /// An organisation's tokens per calendar month.
    pub org_tokens_per_month: Option<u64>,
    /// The time zone whose calendar months budgets count over (an IANA name such as
    /// `Asia/Bangkok`, or `UTC`).
    pub time_zone: String,
    /// Share of a limit past which requests are reported (a log event and a metric), and
    /// with `downgrade_quality` made at `medium`: a fraction in (0, 1].
    pub soft_threshold: f64,
    /// Past the soft threshold, make `quality: high` requests at `medium` (said in the
    /// answer's `x-artgen-quality-downgraded` and `Warning` headers).
    pub downgrade_quality: bool,
    /// How long a reservation holds when its request never finishes (its process died),
    /// seconds.
    pub lease_secs: u64,
    /// How often expired reservations are swept, seconds.
    pub sweep_interval_secs: u64,
    /// A URL that gets a signed `POST` when a request takes a budget past its soft threshold
    /// (see `webhook.rs`); unset: none.
    pub webhook_url: Option<String>,
    /// The webhook's signing secret (required with `webhook_url`). A secret: `Debug` shows
    /// none of it, serialising redacts it.
    #[serde(serialize_with = "redacted_secret")]
    pub webhook_secret: Option<SecretString>,
}

/// Serialises a secret as `[redacted]` when set (`artgen config` prints the settings).
pub(crate) fn redacted_secret<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some("[redacted]"),
        None => serializer.serialize_none(),
    }
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            usd_per_month: None,
            tokens_per_month: None,
            org_usd_per_month: None,
            org_tokens_per_month: None,
            time_zone: "UTC".into(),
            soft_threshold: 0.8,
            downgrade_quality: false,
            lease_secs: 900,
            sweep_interval_secs: 30,
            webhook_url: None,
            webhook_secret: None,
        }
    }
}

/// Serialises a URL held as a secret with its password redacted (`artgen config` prints it
/// so; the secret itself is read only where the connection is made).
fn redacted_url<S: Serializer>(
    url: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&artgen_store::redact_url(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// Behaviour of the mock provider (testers script delays with it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockSettings {
    /// Delay before each answer, milliseconds.
    pub latency_ms: u64,
}

impl Settings {
    /// How many uploads one user may hold: [`Settings::max_uploads_per_user`], else a quarter
    /// of [`Settings::max_concurrent_uploads`], at least 1 and at most all of them.
    pub fn uploads_per_user(&self) -> usize {
        let total = self.max_concurrent_uploads.max(1);
        self.max_uploads_per_user
            .unwrap_or(total / 4)
            .clamp(1, total)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./artgen-data"),
            images_url: None,
            images_redirect_secs: 0,
            images_inline_max_bytes: DEFAULT_IMAGES_INLINE_MAX_BYTES,
            public_url: None,
            metrics_public: false,
            signed_url_ttl_secs: 3600,
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 64 * 1024 * 1024,
            max_concurrent_uploads: 16,
            max_uploads_per_user: None,
            body_read_timeout_secs: 30,
            body_min_bytes_per_sec: 16 * 1024,
            max_connections: 4096,
            header_read_timeout_secs: 10,
            keep_alive_timeout_secs: 75,
            send_timeout_secs: 60,
            shutdown_grace_secs: 25,
            key_cache_secs: 5,
            oidc: OidcConfig::default(),
            rate_limit: RateLimitConfig::default(),
            redis_url: None,
            redis_failure: RedisFailure::default(),
            redis_key_prefix: "artgen:rl:".into(),
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
            database_url: None,
            database: DatabaseConfig::default(),
            retention: RetentionConfig::default(),
            budget: BudgetSettings::default(),
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
    /// Success answers read, decoded and held at once; more wait with their bodies unread
    /// (bounds the memory of large answers that land together).
    pub max_concurrent_reads: usize,
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
            max_concurrent_reads: artgen_openai::OpenAiConfig::DEFAULT_MAX_CONCURRENT_READS,
            api_version: None,
            deployments: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_serialised_settings_never_show_a_password() {
        let settings = Settings {
            database_url: Some("postgres://app:hunter2@db:5432/artgen".into()),
            redis_url: Some("redis://:sesame@cache:6379".into()),
            budget: BudgetSettings {
                webhook_url: Some("https://hooks.example/budget".into()),
                webhook_secret: Some("opensesame-hook".into()),
                ..BudgetSettings::default()
            },
            ..Settings::default()
        };

        let debug = format!("{settings:?}");
        let json = serde_json::to_string(&settings).expect("settings serialise");

        for secret in ["hunter2", "sesame", "opensesame-hook"] {
            assert!(!debug.contains(secret), "Debug leaked {secret}: {debug}");
            assert!(
                !json.contains(secret),
                "serialising leaked {secret}: {json}"
            );
        }
        assert!(
            json.contains("postgres://app:[redacted]@db:5432/artgen"),
            "{json}"
        );
    }

    #[test]
    fn each_user_gets_a_quarter_of_the_upload_slots_unless_configured() {
        let with = |total, per_user| Settings {
            max_concurrent_uploads: total,
            max_uploads_per_user: per_user,
            ..Settings::default()
        };
        assert_eq!(Settings::default().uploads_per_user(), 4);
        assert_eq!(with(2, None).uploads_per_user(), 1, "at least one");
        assert_eq!(with(16, Some(6)).uploads_per_user(), 6);
        assert_eq!(
            with(4, Some(9)).uploads_per_user(),
            4,
            "never more than all"
        );
        assert_eq!(with(4, Some(0)).uploads_per_user(), 1);
    }
}
