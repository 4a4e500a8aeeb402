//! Builds the application from [`Settings`]: the one place adapters are chosen.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use artgen_core::decorators::concurrency::{Gates, UpstreamQuota};
use artgen_core::decorators::{
    CircuitBreaker, ConcurrencyLimit, Deadline, FallbackRouter, Retrying, UserRowsAuthenticator,
};
use artgen_core::domain::{Catalog, CatalogSource, ImageId, RetiredModels};
use artgen_core::mock::MockProvider;
use artgen_core::ports::{
    Authenticator, CachingAuthenticator, Clock as _, ImageIndex, ImageMeta, ImageProvider,
    ImageStore, RateLimiter, SystemClock, Telemetry, UsageStore,
};
use artgen_core::service::Admin;
use artgen_core::{ArtGen, Ports};
use artgen_openai::{ApiFlavor, OpenAiConfig, OpenAiProvider, QuotaObserver, QuotaReading};
use artgen_store::{
    FailoverLimiter, FsImageStore, GovernorRateLimiter, ImagesUrl, ObjectImageStore,
    ObjectStoreConfig, RedisRateLimiter, TieredImageStore,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::metrics::Metrics;
use crate::middleware::{BodyReadTimeout, IdempotencyLayerState};
use crate::oidc::{BearerChain, OidcAuthenticator, OidcError, SsoClient};
use crate::settings::{OpenAiSettings, Settings};
use crate::signing::UrlSigner;
use crate::state::{AppState, HttpConfig, ProviderInfo, StorageInfo};
use crate::storage::{Backend, Stores};

/// Most API keys a replica remembers at once (see [`CachingAuthenticator`]).
const KEY_CACHE_ENTRIES: usize = 10_000;

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The data folder or a file in it could not be used.
    #[error("data folder {path}: {source}")]
    DataDir {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] artgen_store::StoreError),
    /// The image store (`images_url`) is invalid, or could not be reached at start.
    #[error("image store: {0}")]
    Images(#[source] artgen_store::StoreError),
    /// The metadata files of an image store from before the image index could not be
    /// imported into the database.
    #[error("importing old image metadata: {0}")]
    ImageImport(#[source] artgen_core::Error),
    /// `database_url` names a backend ArtGen has no adapter for (the URL is not quoted: it
    /// may hold a password).
    #[error("database_url: unknown scheme {scheme:?}; expected sqlite:// or postgres://")]
    DatabaseUrl {
        /// The URL's scheme.
        scheme: String,
    },
    /// The OIDC settings are unusable.
    #[error("oidc: {0}")]
    Oidc(#[from] OidcError),
    /// The provider could not be built.
    #[error("provider: {0}")]
    Provider(#[from] artgen_openai::OpenAiError),
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] artgen_core::Error),
    /// The operator's catalogue file could not be read.
    #[error("catalogue file {path}: {source}")]
    CatalogFile {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configured fallback provider has no key.
    #[error("provider {provider}: the environment variable {variable} holding its key is not set")]
    MissingKey {
        /// The provider's name.
        provider: String,
        /// The variable.
        variable: String,
    },
}

/// The built application and the handles the binary needs besides the router.
#[derive(Debug)]
pub struct App {
    /// Router state.
    pub state: AppState,
    /// The storage ports (usage, keys, idempotency) and their backend, for key management,
    /// first-start checks, housekeeping and shutdown.
    pub stores: Stores,
    /// The limiter, for periodic housekeeping.
    pub limiter: Arc<GovernorRateLimiter>,
    /// The task sweeping expired budget reservations (stops when dropped).
    pub sweeper: crate::budget::Sweeper,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ComposeError + '_ {
    move |source| ComposeError::DataDir {
        path: path.display().to_string(),
        source,
    }
}

/// Marks the usage rows an earlier process left `started` (it stopped while their upstream
/// calls were in flight) as `unknown` at their estimate, so that spend is never under-counted.
/// A failure is logged: the rows then stay `started`, which counts them at their estimate too.
async fn recover_unfinished(store: &dyn UsageStore, started_at_ms: i64) {
    match store.recover_unfinished(started_at_ms).await {
        Ok(0) => {}
        Ok(marked) => tracing::warn!(
            requests = marked,
            "requests were in flight when the previous process stopped; their usage is \
             recorded as unknown at its estimated cost"
        ),
        Err(err) => tracing::error!(
            error = &err as &dyn std::error::Error,
            "could not mark the requests an earlier process left unfinished"
        ),
    }
}

/// The undecorated upstreams: the primary and the named fallbacks, and the admission gates
/// their rate-limit headers already feed (by provider name; missing ones are made fresh).
#[derive(Clone)]
pub struct Upstreams {
    /// The primary provider (OpenAI, Azure, compatible, or the mock).
    pub primary: Arc<dyn ImageProvider>,
    /// Further providers by name.
    pub others: HashMap<String, Arc<dyn ImageProvider>>,
    /// Admission gates by provider name.
    pub gates: HashMap<String, Gates>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("primary", &self.primary.name())
            .field("others", &self.others.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Upstreams {
    /// Just one provider.
    pub fn single(primary: Arc<dyn ImageProvider>) -> Self {
        Self {
            primary,
            others: HashMap::new(),
            gates: HashMap::new(),
        }
    }
}

/// Hands the upstream's `x-ratelimit-*` readings to its admission gates (which slow down
/// before the upstream refuses) and to the metrics.
struct QuotaFeed {
    metrics: Arc<Metrics>,
    gates: Gates,
}

impl QuotaObserver for QuotaFeed {
    fn observe(&self, reading: &QuotaReading) {
        self.gates.observe_quota(
            &reading.model,
            &UpstreamQuota {
                remaining_requests: reading.remaining_requests,
                limit_requests: reading.limit_requests,
                reset_requests: reading.reset_requests,
                remaining_tokens: reading.remaining_tokens,
                limit_tokens: reading.limit_tokens,
                reset_tokens: reading.reset_tokens,
            },
        );
        for (kind, value) in [
            ("requests", reading.remaining_requests),
            ("tokens", reading.remaining_tokens),
        ] {
            if let Some(remaining) = value {
                self.metrics
                    .upstream_quota(&reading.provider, &reading.model, kind, remaining);
            }
        }
    }
}

fn openai_provider(
    name: &str,
    settings: &OpenAiSettings,
    key: SecretString,
    metrics: &Arc<Metrics>,
    gates: Gates,
) -> Result<Arc<dyn ImageProvider>, ComposeError> {
    let mut config = OpenAiConfig::default()
        .with_name(name)
        .with_flavor(settings.kind)
        .with_api_key(key)
        .with_timeout(Duration::from_secs(settings.timeout_secs))
        .with_max_concurrent_reads(settings.max_concurrent_reads);
    if let Some(base) = &settings.base_url {
        config = config.with_base_url(base.clone());
    }
    if let Some(version) = &settings.api_version {
        config = config.with_api_version(version.clone());
    }
    for (model, deployment) in &settings.deployments {
        config = config.with_deployment(model.clone(), deployment.clone());
    }
    let feed = QuotaFeed {
        metrics: metrics.clone(),
        gates,
    };
    let provider = OpenAiProvider::new(config)?.with_quota_observer(Arc::new(feed));
    Ok(Arc::new(provider))
}

/// The key held by the environment variable `var`, unless it is unset or blank.
fn upstream_key(key: &dyn Fn(&str) -> Option<String>, var: &str) -> Option<SecretString> {
    key(var)
        .filter(|k| !k.trim().is_empty())
        .map(SecretString::from)
}

/// Whether the primary upstream is the mock provider: the variable named by
/// `openai.api_key_env` is unset or blank. [`upstreams`] decides the same way, so commands
/// that build no upstream (`artgen models`) see what `artgen serve` would serve.
pub fn uses_mock(settings: &Settings, key: &dyn Fn(&str) -> Option<String>) -> bool {
    upstream_key(key, &settings.openai.api_key_env).is_none()
}

/// The upstreams the settings ask for. The primary is OpenAI (or compatible) when its key
/// variable is set, else the mock provider (and then no fallbacks are built). `key` looks an
/// environment variable up.
///
/// # Errors
/// When a fallback provider's key variable is unset, or an HTTP client cannot be built.
pub fn upstreams(
    settings: &Settings,
    key: &dyn Fn(&str) -> Option<String>,
    metrics: &Arc<Metrics>,
) -> Result<Upstreams, ComposeError> {
    let secret = |var: &str| upstream_key(key, var);
    let Some(primary_key) = secret(&settings.openai.api_key_env) else {
        let latency = Duration::from_millis(settings.mock.latency_ms);
        return Ok(Upstreams::single(Arc::new(
            MockProvider::new().with_latency(latency),
        )));
    };
    let mut gates = HashMap::new();
    let mut gates_of = |name: &str| {
        gates
            .entry(name.to_owned())
            .or_insert_with(|| Gates::new(settings.concurrency))
            .clone()
    };
    let primary = openai_provider(
        "openai",
        &settings.openai,
        primary_key,
        metrics,
        gates_of("openai"),
    )?;
    let mut others = HashMap::new();
    for (name, provider) in &settings.providers {
        let key = secret(&provider.api_key_env).ok_or_else(|| ComposeError::MissingKey {
            provider: name.clone(),
            variable: provider.api_key_env.clone(),
        })?;
        let gates = gates_of(name);
        others.insert(
            name.clone(),
            openai_provider(name, provider, key, metrics, gates)?,
        );
    }
    Ok(Upstreams {
        primary,
        others,
        gates,
    })
}

/// The admission gates of each upstream, by upstream name.
type Admission = Vec<(String, Gates)>;

/// Stacks the decorators (outermost first): deadline → retry → fallback → per-upstream
/// circuit breaker → per-upstream concurrency limit → provider.
fn decorate(
    settings: &Settings,
    upstreams: Upstreams,
    metrics: &Arc<Metrics>,
) -> Result<(Arc<dyn ImageProvider>, Admission), ComposeError> {
    settings.concurrency.validate()?;
    let telemetry: Arc<dyn Telemetry> = metrics.clone();
    let mut admission = Vec::new();
    let mut guard = |p: Arc<dyn ImageProvider>| -> Arc<dyn ImageProvider> {
        let name = p.name().to_owned();
        let gates = upstreams
            .gates
            .get(&name)
            .cloned()
            .unwrap_or_else(|| Gates::new(settings.concurrency));
        admission.push((name, gates.clone()));
        let limited = ConcurrencyLimit::with_gates(p, gates).with_telemetry(telemetry.clone());
        Arc::new(
            CircuitBreaker::new(Arc::new(limited), settings.circuit)
                .with_telemetry(telemetry.clone()),
        )
    };
    let primary = guard(upstreams.primary);
    let others: HashMap<_, _> = upstreams
        .others
        .into_iter()
        .map(|(name, p)| (name, guard(p)))
        .collect();
    let routed: Arc<dyn ImageProvider> = if others.is_empty() && settings.fallback.models.is_empty()
    {
        primary
    } else {
        Arc::new(FallbackRouter::from_config(
            &settings.fallback,
            primary,
            &others,
            telemetry.clone(),
        )?)
    };
    let retrying = Retrying::new(routed, settings.retry).with_telemetry(telemetry);
    let decorated: Arc<dyn ImageProvider> =
        Arc::new(Deadline::new(Arc::new(retrying), settings.deadline));
    Ok((decorated, admission))
}

/// Whether the primary upstream is OpenAI's own API (which no longer serves retired models),
/// rather than Azure, a compatible server or the mock.
fn primary_is_openai_itself(settings: &Settings, mock: bool) -> bool {
    let official = OpenAiConfig::DEFAULT_BASE_URL;
    !mock
        && settings.openai.kind == ApiFlavor::OpenAi
        && settings
            .openai
            .base_url
            .as_deref()
            .is_none_or(|url| url.trim_end_matches('/') == official)
}

/// The shipped catalogue, the operator's file and the config's entries, under the policy the
/// settings and the upstream call for.
///
/// # Errors
/// When the catalogue file cannot be read or any layer is invalid.
pub fn catalog(settings: &Settings, mock: bool) -> Result<Catalog, ComposeError> {
    let text = match &settings.catalog_file {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| ComposeError::CatalogFile {
                path: path.display().to_string(),
                source,
            })?,
        )),
        None => None,
    };
    let sources: Vec<CatalogSource<'_>> = text
        .iter()
        .map(|(origin, text)| CatalogSource { origin, text })
        .collect();
    let catalog = Catalog::load(&sources, &settings.catalog)?;
    let retired = if primary_is_openai_itself(settings, mock) {
        RetiredModels::Refuse
    } else {
        RetiredModels::Warn
    };
    let policy = (*catalog.policy())
        .with_unknown_params(settings.unknown_params)
        .with_retired(retired);
    Ok(catalog.with_policy(policy))
}

/// The rate limiter the settings ask for: the in-process one, or Redis (shared by every
/// replica) with the in-process one behind it for the failure policy.
///
/// # Errors
/// When Redis is configured but cannot be reached at start (a typo should not silently fall
/// back to per-replica limits).
async fn rate_limiter(
    settings: &Settings,
    local: Arc<GovernorRateLimiter>,
    metrics: &Arc<Metrics>,
) -> Result<Arc<dyn RateLimiter>, ComposeError> {
    let Some(url) = settings
        .redis_url
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(local);
    };
    let shared =
        RedisRateLimiter::connect(url, &settings.redis_key_prefix, settings.rate_limit).await?;
    let gauge = metrics.clone();
    let limiter = FailoverLimiter::new(Arc::new(shared), local, settings.redis_failure)
        .with_on_change(move |down| gauge.rate_limiter_down(down));
    Ok(Arc::new(limiter))
}

/// Imports the metadata files of a store from before the image index into `index`, then
/// removes them (so the folder keeps one file per image and a deleted image stays deleted).
/// Idempotent: a start interrupted between the two imports the same rows again, unchanged.
async fn import_legacy(
    found: Vec<ImageMeta>,
    index: &dyn ImageIndex,
) -> Result<Vec<ImageId>, ComposeError> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let new = index
        .import_images(&found)
        .await
        .map_err(ComposeError::ImageImport)?;
    tracing::info!(
        found = found.len(),
        new,
        "imported image metadata files from before the image index"
    );
    Ok(found.into_iter().map(|meta| meta.id).collect())
}

/// The image store `images_url` selects: a local folder (by default `<data_dir>/images`,
/// with the database's durability), or an S3, Google Cloud Storage or Azure bucket configured
/// by the clouds' standard `AWS_*`, `GOOGLE_*` and `AZURE_*` environment, which must answer at
/// start (a typo must not surface at the first image).
/// With a local folder and the SQLite `backend`, images of at most
/// [`Settings::images_inline_max_bytes`] are kept in the database instead
/// ([`TieredImageStore`]).
/// Metadata files a store from before the image index left are imported into `index` first.
///
/// # Errors
/// When the URL is invalid, the folder cannot be created, the bucket cannot be reached or
/// the old metadata cannot be imported.
pub async fn image_store(
    settings: &Settings,
    backend: &Backend,
    index: &dyn ImageIndex,
) -> Result<Arc<dyn ImageStore>, ComposeError> {
    let url = settings.images_url.as_deref();
    match ImagesUrl::parse(url).map_err(ComposeError::Images)? {
        ImagesUrl::File(folder) => {
            let folder = folder.unwrap_or_else(|| settings.data_dir.join("images"));
            let store = FsImageStore::open(folder)
                .await
                .map_err(ComposeError::Images)?
                .with_durability(settings.database.durability);
            let found = store.legacy_images().await.map_err(ComposeError::Images)?;
            let imported = import_legacy(found, index).await?;
            store
                .forget_legacy(imported)
                .await
                .map_err(ComposeError::Images)?;
            match backend {
                Backend::Sqlite(database) if settings.images_inline_max_bytes > 0 => {
                    Ok(Arc::new(TieredImageStore::new(
                        Arc::new(database.clone()),
                        Arc::new(store),
                        settings.images_inline_max_bytes,
                    )))
                }
                _ => Ok(Arc::new(store)),
            }
        }
        ImagesUrl::S3 { .. } | ImagesUrl::Gcs { .. } | ImagesUrl::Azure { .. } => {
            let config = ObjectStoreConfig::new(url.unwrap_or_default().trim())
                .with_cloud_options(std::env::vars());
            let store = ObjectImageStore::from_config(&config).map_err(ComposeError::Images)?;
            store.check().await.map_err(ComposeError::Images)?;
            let found = store.legacy_images().await.map_err(ComposeError::Images)?;
            let imported = import_legacy(found, index).await?;
            store
                .forget_legacy(imported)
                .await
                .map_err(ComposeError::Images)?;
            tracing::info!(
                location = store.location(),
                "images are kept in object storage"
            );
            Ok(Arc::new(store))
        }
    }
}

/// Builds the application around the given upstreams.
///
/// # Errors
/// When the data folder, the database or the catalogue or fallback configuration is unusable.
pub async fn build(
    settings: &Settings,
    upstreams: Upstreams,
    metrics: Arc<Metrics>,
) -> Result<App, ComposeError> {
    let catalog = catalog(settings, upstreams.primary.name() == "mock")?;
    let budget = crate::budget::policy(&settings.budget)?;
    if let Some(webhook) = crate::budget::webhook(&settings.budget)? {
        metrics.set_budget_webhook(webhook);
    }
    let started_at_ms = SystemClock.now_ms();
    let stores = crate::storage::open(settings).await?;
    recover_unfinished(stores.usage.as_ref(), started_at_ms).await;
    let images = image_store(settings, &stores.backend, stores.image_index.as_ref()).await?;
    let limiter = Arc::new(GovernorRateLimiter::new(&settings.rate_limit)?);
    let rate_limiter = rate_limiter(settings, limiter.clone(), &metrics).await?;
    let mock = upstreams.primary.name() == "mock";
    let name = upstreams.primary.name().to_owned();
    let (provider, admission) = decorate(settings, upstreams, &metrics)?;
    let info = ProviderInfo {
        name,
        mock,
        admission,
    };
    // The user rows are applied inside the cache, so the cache keeps enriched principals; an
    // admin change clears it (see `docs/decisions.md`, "Users rows").
    let credentials = Arc::new(CachingAuthenticator::new(
        Arc::new(UserRowsAuthenticator::new(
            stores.authenticator.clone(),
            stores.users.clone(),
            refused_credential,
        )),
        Duration::from_secs(settings.key_cache_secs),
        KEY_CACHE_ENTRIES,
    ));
    let admin = admin_service(&stores).with_on_change({
        let credentials = credentials.clone();
        Arc::new(move || credentials.clear())
    });
    let (bearer, sso) = authenticator(settings, credentials.clone(), stores.users.clone())?;
    let ports = Ports {
        provider,
        rate_limiter,
        usage: stores.usage.clone(),
        ledger: stores.ledger.clone(),
        authenticator: bearer,
        images: images.clone(),
        image_index: stores.image_index.clone(),
        clock: Arc::new(SystemClock),
        telemetry: metrics.clone(),
    };
    let service = ArtGen::new(catalog, ports)
        .with_rate_weights(settings.rate_limit.weights)
        .with_budget_policy(budget);
    let sweeper = crate::budget::start_sweeper(
        stores.ledger.clone(),
        Duration::from_secs(settings.budget.sweep_interval_secs),
    );
    let signer = signing_key(&settings.data_dir)?;
    let http = HttpConfig {
        public_url: settings.public_url.clone(),
        signed_url_ttl: Duration::from_secs(settings.signed_url_ttl_secs),
        metrics_public: settings.metrics_public,
        max_body_bytes: settings.max_body_bytes,
        max_upload_bytes: settings.max_upload_bytes,
        max_concurrent_uploads: settings.max_concurrent_uploads.max(1),
        max_uploads_per_user: settings.uploads_per_user(),
        body_read_timeout: (settings.body_read_timeout_secs > 0).then(|| BodyReadTimeout {
            grace: Duration::from_secs(settings.body_read_timeout_secs),
            min_bytes_per_sec: settings.body_min_bytes_per_sec,
        }),
        image_redirect: (settings.images_redirect_secs > 0)
            .then(|| Duration::from_secs(settings.images_redirect_secs)),
        prompt_logging: settings.retention.prompt_logging,
    };
    let idempotency = IdempotencyLayerState::new(
        stores.idempotency.clone(),
        Arc::new(SystemClock),
        settings.idempotency.clone(),
    )
    .with_images(stores.image_index.clone(), images);
    let backend = stores.backend.clone();
    let storage = StorageInfo {
        backend: backend.name(),
        buffered_writes: Arc::new(move || backend.buffered_writes()),
    };
    let mut state = AppState::new(service, metrics, signer, http, info, idempotency)
        .with_storage(storage)
        .with_admin(admin);
    if let Some(sso) = sso {
        state = state.with_sso(sso);
    }
    Ok(App {
        state,
        stores,
        limiter,
        sweeper,
    })
}

/// The bearer authenticator, and the web UI's OIDC client where SSO is on.
type Authenticators = (Arc<dyn Authenticator>, Option<Arc<SsoClient>>);

/// The bearer authenticator: API keys through the cache (`keys`, user rows applied inside it),
/// and, with `oidc.issuer` set, OIDC tokens beside them, dispatched by shape. Tokens are not
/// cached: each is verified locally against the IdP's cached keys, so no cached principal can
/// outlive its token's `exp`; their user rows are applied on each request. With
/// `oidc.client_id` set too, the web UI's OIDC client, sharing the token verifier (and so the
/// cached keys).
///
/// # Errors
/// When the OIDC settings are unusable.
fn authenticator(
    settings: &Settings,
    keys: Arc<CachingAuthenticator>,
    users: Arc<dyn artgen_core::ports::UserStore>,
) -> Result<Authenticators, ComposeError> {
    let keys: Arc<dyn Authenticator> = keys;
    if !settings.oidc.enabled() {
        return Ok((keys, None));
    }
    let tokens = Arc::new(OidcAuthenticator::new(&settings.oidc)?);
    tokens.spawn_warm_up();
    tracing::info!(
        issuer = settings.oidc.issuer.as_deref().unwrap_or_default(),
        "OIDC bearer tokens accepted beside API keys"
    );
    let sso = SsoClient::new(&settings.oidc, tokens.clone(), users.clone()).map(Arc::new);
    if let Some(sso) = &sso {
        tracing::info!(client_id = sso.client_id(), "web UI sign-in with SSO on");
    }
    let tokens = Arc::new(UserRowsAuthenticator::new(tokens, users, refused_token));
    Ok((Arc::new(BearerChain::new(keys, tokens)), sso))
}

/// The refusal of a bad OIDC token, which a disabled user's token gets too.
fn refused_token() -> artgen_core::Error {
    artgen_core::Error::new(
        artgen_core::ErrorCode::Unauthenticated,
        crate::oidc::INVALID_TOKEN_MESSAGE,
    )
}

/// The refusal of a bad credential, which a disabled user's key gets too.
fn refused_credential() -> artgen_core::Error {
    artgen_core::Error::new(
        artgen_core::ErrorCode::Unauthenticated,
        artgen_store::INVALID_KEY_MESSAGE,
    )
}

/// The admin service over the stores (the CLI's too, which has no credential cache).
pub fn admin_service(stores: &Stores) -> Admin {
    Admin::new(
        stores.users.clone(),
        stores.keys.clone(),
        stores.audit.clone(),
        Arc::new(SystemClock),
    )
}

/// Loads the link-signing secret from the data folder, creating it (mode 0600) on first start
/// and narrowing an existing file to its owner.
fn signing_key(dir: &Path) -> Result<UrlSigner, ComposeError> {
    let path = dir.join("signing.key");
    let key = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => {
            restrict_to_owner(&path);
            bytes
        }
        _ => {
            let mut bytes = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            write_private(&path, &bytes).map_err(io_err(&path))?;
            bytes
        }
    };
    UrlSigner::new(key).ok_or_else(|| ComposeError::DataDir {
        path: path.display().to_string(),
        source: std::io::Error::other("signing key too short"),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // `mode` applies only when the file is new; an existing (too short) one is narrowed too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates `dir` and missing parents; on Unix each new folder gets mode `0700`.
pub(crate) fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Removes the group and other permission bits of an existing file (Unix; never widens). A
/// failure is logged: the file stays usable, only less private.
fn restrict_to_owner(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(metadata) = std::fs::metadata(path) else {
            return;
        };
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return;
        }
        let narrowed = std::fs::Permissions::from_mode(mode & !0o077);
        if let Err(err) = std::fs::set_permissions(path, narrowed) {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                error = %err,
                "readable by others and cannot be restricted"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
