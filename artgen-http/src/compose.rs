//! Builds the application from [`Settings`]: the one place adapters are chosen.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use artgen_core::decorators::Retrying;
use artgen_core::domain::Catalog;
use artgen_core::ports::{ImageProvider, SystemClock};
use artgen_core::testing::MockProvider;
use artgen_core::{ArtGen, Ports};
use artgen_openai::{OpenAiConfig, OpenAiProvider, SecretString};
use artgen_store::{FsImageStore, GovernorRateLimiter, SqliteStore};
use rand::RngCore;

use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::signing::UrlSigner;
use crate::state::{AppState, HttpConfig, ProviderInfo};

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
    /// The provider could not be built.
    #[error("provider: {0}")]
    Provider(#[from] artgen_openai::OpenAiError),
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] artgen_core::Error),
}

/// The built application and the handles the binary needs besides the router.
#[derive(Debug)]
pub struct App {
    /// Router state.
    pub state: AppState,
    /// The SQLite store (usage and keys), for key management and first-start checks.
    pub store: SqliteStore,
    /// The limiter, for periodic housekeeping.
    pub limiter: Arc<GovernorRateLimiter>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ComposeError + '_ {
    move |source| ComposeError::DataDir {
        path: path.display().to_string(),
        source,
    }
}

/// Opens (creating if needed) the SQLite store in the data folder.
///
/// # Errors
/// When the folder cannot be created or the database cannot be opened or migrated.
pub async fn open_store(settings: &Settings) -> Result<SqliteStore, ComposeError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(io_err(&settings.data_dir))?;
    Ok(SqliteStore::open(&settings.data_dir.join("artgen.db")).await?)
}

/// The provider the settings ask for: OpenAI (or compatible) when a key is given, else the
/// mock.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn provider(
    settings: &Settings,
    api_key: Option<SecretString>,
) -> Result<Arc<dyn ImageProvider>, ComposeError> {
    let Some(key) = api_key else {
        let latency = Duration::from_millis(settings.mock.latency_ms);
        return Ok(Arc::new(MockProvider::new().with_latency(latency)));
    };
    let mut config = OpenAiConfig::default()
        .with_api_key(key)
        .with_timeout(Duration::from_secs(settings.openai.timeout_secs));
    if let Some(base) = &settings.openai.base_url {
        config = config.with_base_url(base.clone());
    }
    Ok(Arc::new(OpenAiProvider::new(config)?))
}

/// Builds the application around a given provider (wrapped in the retry decorator here).
///
/// # Errors
/// When the data folder, the database or the catalogue configuration is unusable.
pub async fn build(
    settings: &Settings,
    provider: Arc<dyn ImageProvider>,
) -> Result<App, ComposeError> {
    let catalog = Catalog::with_config(&settings.catalog)?;
    let store = open_store(settings).await?;
    let images = FsImageStore::new(settings.data_dir.join("images"));
    let limiter = Arc::new(GovernorRateLimiter::new(&settings.rate_limit)?);
    let metrics = Arc::new(Metrics::new());
    let mock = provider.name() == "mock";
    let info = ProviderInfo {
        name: provider.name().to_owned(),
        mock,
    };
    let retrying = Retrying::new(provider, settings.retry).with_telemetry(metrics.clone());
    let ports = Ports {
        provider: Arc::new(retrying),
        rate_limiter: limiter.clone(),
        usage: Arc::new(store.clone()),
        authenticator: Arc::new(store.clone()),
        images: Arc::new(images),
        clock: Arc::new(SystemClock),
        telemetry: metrics.clone(),
    };
    let service = ArtGen::new(catalog, ports);
    let signer = signing_key(&settings.data_dir)?;
    let http = HttpConfig {
        public_url: settings.public_url(),
        signed_url_ttl: Duration::from_secs(settings.signed_url_ttl_secs),
        metrics_public: settings.metrics_public,
        max_body_bytes: settings.max_body_bytes,
    };
    let state = AppState::new(service, metrics, signer, http, info);
    Ok(App {
        state,
        store,
        limiter,
    })
}

/// Loads the link-signing secret from the data folder, creating it (mode 0600) on first start.
fn signing_key(dir: &Path) -> Result<UrlSigner, ComposeError> {
    let path = dir.join("signing.key");
    let key = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => bytes,
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
    file.write_all(bytes)?;
    file.sync_all()
}
