//! The SQLite backend: usage rows and API keys in one database file.
//!
//! Queries are runtime-checked (`sqlx::query` with binds, `QueryBuilder` for the dynamic
//! listing) so the build needs no database; every query is covered by a test.
//!
//! The database holds prompts and key hashes, so on Unix it is private to its owner: the file
//! is created with mode `0600` before SQLite opens it, and SQLite gives the `-wal`, `-shm` and
//! `-journal` files it creates the database file's mode. Leftovers from older versions are
//! narrowed to the owner when the store opens.

mod idempotency;
mod keys;
mod usage;

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use artgen_core::ports::{Clock, SystemClock};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;
use crate::fs_images::{create_private_dir_all, create_private_file, restrict_to_owner};

/// The SQLite schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for a write lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool of a file database (SQLite has one writer; readers run in WAL).
const MAX_CONNECTIONS: u32 = 8;

/// Usage store and API-key store (and [`Authenticator`](artgen_core::ports::Authenticator))
/// backed by SQLite.
///
/// Cheap to clone: clones share the connection pool, the clock and the lookup counter.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    key_lookups: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Opens (creating it and its folder if missing) the database file at `path` and applies
    /// pending migrations.
    ///
    /// The file runs in WAL mode with `synchronous = FULL` (a returned write survives power
    /// loss), a busy timeout and foreign keys on. On Unix a new folder gets mode `0700`, the
    /// file and its `-wal`/`-shm`/`-journal` companions `0600`; existing ones lose their group
    /// and other bits.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the folder or the file cannot be created,
    /// [`StoreError::Database`] when the file cannot be opened, [`StoreError::Migration`] when
    /// the schema cannot be brought up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir_all(parent).await?;
        }
        secure_database_files(path).await?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// A private in-memory database (tests, demos). It lives as long as the store's single
    /// connection, i.e. until the last clone is dropped.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// Wraps an existing pool (e.g. one from `#[sqlx::test]`), applying pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Migration`] when the schema cannot be brought up to date.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            clock: Arc::new(SystemClock),
            key_lookups: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Uses `clock` for key timestamps (`created_at`, `revoked_at`, `last_used_at`).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The connection pool, for health checks and operational queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// How many API-key lookups reached the database since the store was created (shared by
    /// clones). Lets tests prove that a malformed key was refused without a query.
    pub fn key_lookups(&self) -> u64 {
        self.key_lookups.load(Ordering::Relaxed)
    }

    /// Closes the pool, waiting for connections to finish (call on shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn count_key_lookup(&self) {
        self.key_lookups.fetch_add(1, Ordering::Relaxed);
    }
}

/// Makes sure the database at `path` and its side files are private before SQLite opens them.
///
/// SQLite creates a database file with mode `0644` (less the umask), but creates the `-wal`,
/// `-journal` and `-shm` files with the *database file's* mode. So creating the (empty) file
/// ourselves with `0600` covers every file SQLite will ever create next to it, including side
/// files it deletes and recreates later; an existing file and leftover side files are narrowed.
/// This needs no process-wide umask (which would also affect every other file the process
/// writes, and cannot be set without `unsafe`) and has no window in which the file is readable
/// by others, as changing the mode after opening would.
async fn secure_database_files(path: &Path) -> Result<(), StoreError> {
    if !create_private_file(path).await? {
        restrict_to_owner(path).await;
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        restrict_to_owner(Path::new(&side)).await;
    }
    Ok(())
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("pool", &self.pool)
            .field("key_lookups", &self.key_lookups())
            .finish_non_exhaustive()
    }
}
