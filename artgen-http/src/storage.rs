//! Chooses the storage adapters from [`Settings`]: one backend for usage, keys, the
//! authenticator, idempotency records, users and the audit trail, handed out as ports.
//!
//! `database_url` unset, empty or `sqlite://` is the SQLite file in the data folder
//! (`sqlite://<path>` names another file); `postgres://…` is Postgres, shared by every replica,
//! with the usage spool in the data folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use artgen_core::ports::{
    AuditLog, Authenticator, IdempotencyStore, ImageIndex, KeyStore, UsageStore, UserStore,
};
use artgen_core::ports::{Clock as _, SystemClock};
use artgen_store::{PostgresConfig, PostgresStore, SqliteStore};
use secrecy::ExposeSecret as _;

use crate::compose::ComposeError;
use crate::settings::Settings;

/// The database backend the settings name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    /// A SQLite file at this path.
    Sqlite(PathBuf),
    /// Postgres at this URL (`Debug` redacts its password).
    Postgres(artgen_store::DatabaseUrl),
}

impl BackendKind {
    /// The backend `settings.database_url` names.
    ///
    /// # Errors
    /// [`ComposeError::DatabaseUrl`] for a URL of another scheme.
    pub fn from_settings(settings: &Settings) -> Result<Self, ComposeError> {
        let default = || settings.data_dir.join("artgen.db");
        let Some(url) = settings
            .database_url
            .as_ref()
            .map(|url| url.expose_secret().trim())
            .filter(|u| !u.is_empty())
        else {
            return Ok(Self::Sqlite(default()));
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            return Ok(Self::Sqlite(if path.is_empty() {
                default()
            } else {
                PathBuf::from(path)
            }));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(artgen_store::DatabaseUrl::new(url)));
        }
        Err(ComposeError::DatabaseUrl {
            scheme: url.split("://").next().unwrap_or_default().to_owned(),
        })
    }

    /// The backend's name, for logs and `/health`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The opened backend, for what is not a port: closing, housekeeping, tests' inspection.
#[derive(Debug, Clone)]
pub enum Backend {
    /// SQLite.
    Sqlite(SqliteStore),
    /// Postgres.
    Postgres(PostgresStore),
}

impl Backend {
    /// The SQLite store, when that is the backend.
    pub fn sqlite(&self) -> Option<&SqliteStore> {
        match self {
            Self::Sqlite(store) => Some(store),
            Self::Postgres(_) => None,
        }
    }

    /// The backend's name, for logs and `/health`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Usage writes kept aside (SQLite's spool) while the database refuses them.
    pub fn buffered_writes(&self) -> usize {
        match self {
            Self::Sqlite(store) => store.spooled_writes(),
            Self::Postgres(store) => store.spooled_writes(),
        }
    }

    /// Periodic upkeep (Postgres: next month's usage partition and the daily roll-up; none
    /// for SQLite). Failures are logged.
    pub async fn housekeeping(&self) {
        match self {
            Self::Sqlite(_) => {}
            Self::Postgres(store) => {
                if let Err(err) = store.housekeeping(SystemClock.now_ms()).await {
                    tracing::warn!(
                        error = &err as &dyn std::error::Error,
                        "database housekeeping failed; it runs again at the next tick"
                    );
                }
            }
        }
    }

    /// Writes everything queued (or keeps it for the next start), then closes the
    /// connections. Call on shutdown.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

/// One adapter per storage port, all on one backend.
#[derive(Clone)]
pub struct Stores {
    /// Usage rows.
    pub usage: Arc<dyn UsageStore>,
    /// Image metadata rows (written by `usage`'s finish, so the same backend).
    pub image_index: Arc<dyn ImageIndex>,
    /// API keys.
    pub keys: Arc<dyn KeyStore>,
    /// Verifies API keys.
    pub authenticator: Arc<dyn Authenticator>,
    /// Idempotency records.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// User and organisation rows (limits, disabling).
    pub users: Arc<dyn UserStore>,
    /// The audit trail of admin actions.
    pub audit: Arc<dyn AuditLog>,
    /// The backend behind them.
    pub backend: Backend,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// Every port on the SQLite store.
    pub fn sqlite(store: SqliteStore) -> Self {
        Self {
            usage: Arc::new(store.clone()),
            image_index: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            authenticator: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            users: Arc::new(store.clone()),
            audit: Arc::new(store.clone()),
            backend: Backend::Sqlite(store),
        }
    }

    /// Every port on the Postgres store.
    pub fn postgres(store: PostgresStore) -> Self {
        Self {
            usage: Arc::new(store.clone()),
            image_index: Arc::new(store.clone()),
            keys: Arc::new(store.clone()),
            authenticator: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            users: Arc::new(store.clone()),
            audit: Arc::new(store.clone()),
            backend: Backend::Postgres(store),
        }
    }
}

/// Opens the backend the settings name, bringing its schema up to date.
///
/// A SQLite file in a folder ArtGen creates gets a folder of mode `0700` on Unix; an existing
/// folder is left as the operator made it (the files ArtGen keeps in it are private either
/// way).
///
/// # Errors
/// When the URL names an unknown backend, or the database cannot be opened or migrated.
pub async fn open(settings: &Settings) -> Result<Stores, ComposeError> {
    match BackendKind::from_settings(settings)? {
        BackendKind::Sqlite(path) => Ok(Stores::sqlite(open_sqlite(settings, &path).await?)),
        BackendKind::Postgres(url) => {
            let store = connect_postgres(settings, url).await?;
            store.migrate().await?;
            Ok(Stores::postgres(store))
        }
    }
}

/// Brings the schema of the configured database up to date (`artgen migrate`); the name of
/// the backend.
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn migrate(settings: &Settings) -> Result<&'static str, ComposeError> {
    match BackendKind::from_settings(settings)? {
        BackendKind::Sqlite(path) => {
            // Opening applies the migrations.
            open_sqlite(settings, &path).await?.close().await;
            Ok("sqlite")
        }
        BackendKind::Postgres(url) => {
            let config = PostgresConfig {
                url,
                ..PostgresConfig::default()
            };
            let store = PostgresStore::connect(&config).await?;
            store.migrate().await?;
            store.close().await;
            Ok("postgres")
        }
    }
}

/// Connects to Postgres, with the usage spool in the data folder.
async fn connect_postgres(
    settings: &Settings,
    url: artgen_store::DatabaseUrl,
) -> Result<PostgresStore, ComposeError> {
    create_data_dir(settings)?;
    let mut config = PostgresConfig::default()
        .with_spool(settings.data_dir.join("postgres-spool.jsonl"))
        .with_spool_max_records(settings.database.spool_max_records);
    config.url = url;
    Ok(PostgresStore::connect(&config).await?)
}

fn create_data_dir(settings: &Settings) -> Result<(), ComposeError> {
    crate::compose::create_private_dir_all(&settings.data_dir).map_err(|source| {
        ComposeError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        }
    })
}

async fn open_sqlite(settings: &Settings, path: &Path) -> Result<SqliteStore, ComposeError> {
    create_data_dir(settings)?;
    Ok(SqliteStore::open_with(path, &settings.database).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: Option<&str>) -> Settings {
        Settings {
            data_dir: PathBuf::from("/data"),
            database_url: url.map(Into::into),
            ..Settings::default()
        }
    }

    #[test]
    fn no_url_or_a_bare_sqlite_url_is_the_file_in_the_data_folder() {
        for url in [None, Some(""), Some(" "), Some("sqlite://")] {
            assert_eq!(
                BackendKind::from_settings(&with_url(url)).expect("sqlite"),
                BackendKind::Sqlite(PathBuf::from("/data/artgen.db")),
                "{url:?}"
            );
        }
    }

    #[test]
    fn a_sqlite_url_with_a_path_names_that_file() {
        assert_eq!(
            BackendKind::from_settings(&with_url(Some("sqlite:///var/lib/a.db"))).expect("ok"),
            BackendKind::Sqlite(PathBuf::from("/var/lib/a.db"))
        );
    }

    #[test]
    fn a_postgres_url_is_postgres_and_its_password_is_never_shown() {
        let kind = BackendKind::from_settings(&with_url(Some("postgres://app:pw9@db/artgen")))
            .expect("postgres");
        assert_eq!(kind.name(), "postgres");
        assert!(!format!("{kind:?}").contains("pw9"));
    }

    #[test]
    fn an_unknown_scheme_is_refused_without_quoting_the_url() {
        let err = BackendKind::from_settings(&with_url(Some("mysql://u:secret@h/db")))
            .expect_err("unknown scheme");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("mysql"), "{err}");
    }
}
