//! The SQLite backend: usage rows and API keys in one database file, and small image blobs
//! (the store is an [`ImageStore`](artgen_core::ports::ImageStore) too, for the tiered image
//! store).
//!
//! Queries are runtime-checked (`sqlx::query` with binds, `QueryBuilder` for the dynamic
//! listing) so the build needs no database; every query is covered by a test.
//!
//! Usage writes, key touches and blob writes go through one writer task on its own thread
//! with its own connection (rusqlite), which commits the writes of concurrent requests in one
//! transaction (group commit) and keeps the writes the database refuses in a spool file next
//! to it (`<database>-spool.jsonl`) until it takes them again. The database's owner keeps
//! requests' started rows in a journal beside it (`<database>-started.jsonl`, see `started`)
//! rather than in the table, until they finish, and journals each finish before the answer,
//! leaving its commit to the writer's next batch. Everything else (reads, keys,
//! idempotency records) uses the pool. A file database's WAL is copied into the file by a
//! checkpointer thread of its own (see `checkpoint`), not by the writer.
//!
//! The database holds prompts and key hashes, so on Unix it is private to its owner: the file
//! is created with mode `0600` before SQLite opens it, and SQLite gives the `-wal`, `-shm` and
//! `-journal` files it creates the database file's mode. Leftovers from older versions are
//! narrowed to the owner when the store opens.

mod blobs;
mod checkpoint;
mod idempotency;
mod images;
mod keys;
mod ledger;
mod retention;
mod started;
mod usage;
mod users;
mod writer;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use artgen_core::ports::{Clock, SystemClock};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use self::checkpoint::Checkpointer;
use self::started::Journal;
use self::writer::{Op, Writer};
use crate::config::{DatabaseConfig, Durability};
use crate::error::StoreError;
use crate::fs_images::{create_private_dir_all, create_private_file, restrict_to_owner};
use crate::spool::{self, Spool};

/// The SQLite schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a pool connection (reads, keys, idempotency records) waits for a write lock held
/// by another connection. The usage writer waits [`DatabaseConfig::lock_wait_ms`] per attempt.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The suffix of the usage spool's file name, after the database's.
const SPOOL_SUFFIX: &str = "-spool.jsonl";

/// The suffix of the started-row journal's file name, after the database's.
const STARTED_SUFFIX: &str = "-started.jsonl";

/// Connections in the pool of a file database (SQLite has one writer; readers run in WAL).
const MAX_CONNECTIONS: u32 = 8;

/// Usage store and API-key store (and [`Authenticator`](artgen_core::ports::Authenticator))
/// backed by SQLite.
///
/// Cheap to clone: clones share the connection pool, the usage writer, the clock and the
/// counters.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
    clock: Arc<dyn Clock>,
    key_lookups: Arc<AtomicU64>,
    /// When each key's use was last written, by public id.
    touched: Arc<Mutex<HashMap<String, i64>>>,
    /// Whether the database is a file (other processes may open it).
    file_backed: bool,
    /// Where started rows go (see `started`): a file database's owner, with crash
    /// durability; `None` writes them to the table.
    started: Option<Arc<Journal>>,
}

impl SqliteStore {
    /// Opens the database file at `path` with the default [`DatabaseConfig`] (crash
    /// durability); see [`SqliteStore::open_with`].
    ///
    /// # Errors
    /// As [`SqliteStore::open_with`].
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, &DatabaseConfig::default()).await
    }

    /// Opens (creating it and its folder if missing) the database file at `path`, applies
    /// pending migrations and starts the usage writer.
    ///
    /// The file runs in WAL mode with `synchronous = NORMAL` (a committed write survives a
    /// crash of the process) or, with [`Durability::PowerLoss`], `synchronous = FULL` (it also
    /// survives power loss); a busy timeout and foreign keys on. The usage spool
    /// `<path>-spool.jsonl` is locked by this store; writes an earlier process spooled are
    /// applied first. If another process holds the spool (a server runs on this database),
    /// this store runs without one and leaves that process's rows alone in
    /// [`recover_unfinished`](artgen_core::ports::UsageStore::recover_unfinished). The owner,
    /// with [`Durability::Crash`] and a spool with room, also opens the usage journal
    /// `<path>-started.jsonl`, taking in the starts an earlier process left in flight and
    /// applying the finishes it journaled.
    ///
    /// On Unix a new folder gets mode `0700`, the file and its `-wal`/`-shm`/`-journal`/spool/
    /// started-row journal companions `0600`; existing ones lose their group and other bits.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] for an unusable configuration, [`StoreError::Io`] when
    /// the folder or a file cannot be created, [`StoreError::Database`] when the file cannot
    /// be opened, [`StoreError::Migration`] when the schema cannot be brought up to date.
    pub async fn open_with(path: &Path, config: &DatabaseConfig) -> Result<Self, StoreError> {
        config.validate()?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir_all(parent).await?;
        }
        secure_database_files(path).await?;
        let synchronous = match config.durability {
            Durability::Crash => SqliteSynchronous::Normal,
            Durability::PowerLoss => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // A local file's connection does not go stale: no ping (a round trip to the
        // connection's thread) before each use.
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let conn = open_writer_connection(path, Some(config.durability), config)?;
        // The checkpointer copies the WAL into the file (the writer only finishes the copy
        // now and then); a WAL a long reader let grow is cut back to 128 MiB when it starts
        // over.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", 128 * 1024 * 1024)?;
        let spool = Spool::open(spool_path(path)).await?;
        if spool.is_none() {
            tracing::info!(
                database = %path.display(),
                "another process holds the usage spool; this one writes without it"
            );
        }
        // A journaled start proves nothing about the database: it is used only where the
        // finish has a place whatever the database does, the spool room `start` reserves.
        let journaled = spool.is_some()
            && config.spool_max_records > 0
            && config.durability == Durability::Crash;
        let journal = if journaled {
            let journal_path = side_path(path, STARTED_SUFFIX);
            let opened = tokio::task::spawn_blocking(move || {
                Journal::open(journal_path, started::ROTATE_AT)
            })
            .await
            .map_err(|join| StoreError::Unavailable(format!("opening the journal: {join}")))??;
            Some(Arc::new(opened))
        } else {
            None
        };
        let writer = Writer::spawn(conn, spool, config)?;
        let checkpointer = Checkpointer::spawn(path, writer.restart_flag())?;
        let writer = writer.with_checkpointer(checkpointer);
        let mut store = Self::assemble(pool, writer, true);
        if let Some(journal) = &journal {
            // Finishes an earlier process answered and may not have written: applied again
            // (a finish is idempotent) with the first transaction.
            let finishes = journal.finishes();
            if !finishes.is_empty() {
                tracing::info!(
                    finishes = finishes.len(),
                    database = %path.display(),
                    "journaled usage finishes are applied again"
                );
            }
            let replayed = !finishes.is_empty();
            for (record, images) in finishes {
                store.defer_finish(journal, record, images);
            }
            if replayed {
                // Written (or spooled) now, so that the file is rewritten without them.
                store.writer.submit(Op::Flush).await?;
                let journal = Arc::clone(journal);
                tokio::task::spawn_blocking(move || journal.compact())
                    .await
                    .map_err(|join| {
                        StoreError::Unavailable(format!("rewriting the journal: {join}"))
                    })??;
            }
        }
        store.started = journal;
        Ok(store)
    }

    /// A private in-memory database (tests, demos). It lives as long as the store's
    /// connections (the pool's one and the usage writer's), i.e. until the last clone is
    /// dropped. It has no spool.
    ///
    /// It is a named in-memory database in SQLite's shared cache, private to this store
    /// (the name is unique in the process), so the usage writer's connection sees it too.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn in_memory() -> Result<Self, StoreError> {
        static DATABASES: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "file:artgen-memory-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{name}"))?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let config = DatabaseConfig::default();
        let conn = open_writer_connection(Path::new(&name), None, &config)?;
        let writer = Writer::spawn(conn, None, &config)?;
        Ok(Self::assemble(pool, writer, false))
    }

    /// Wraps an existing pool of a database file (e.g. one from `#[sqlx::test]`), applying
    /// pending migrations. The usage writer opens the same file; there is no spool.
    ///
    /// # Errors
    /// [`StoreError::Migration`] when the schema cannot be brought up to date,
    /// [`StoreError::InvalidConfig`] when the pool's database is not a file (use
    /// [`SqliteStore::in_memory`]), [`StoreError::Sqlite`] when the file cannot be opened.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        let (file,): (String,) =
            sqlx::query_as("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&pool)
                .await?;
        if file.is_empty() {
            return Err(StoreError::InvalidConfig(
                "the pool's database is in memory, which the usage writer's own connection \
                 cannot open: use SqliteStore::in_memory"
                    .into(),
            ));
        }
        let config = DatabaseConfig::default();
        let conn = open_writer_connection(Path::new(&file), None, &config)?;
        let writer = Writer::spawn(conn, None, &config)?;
        Ok(Self::assemble(pool, writer, false))
    }

    fn assemble(pool: SqlitePool, writer: Writer, file_backed: bool) -> Self {
        Self {
            pool,
            writer,
            clock: Arc::new(SystemClock),
            key_lookups: Arc::new(AtomicU64::new(0)),
            touched: Arc::new(Mutex::new(HashMap::new())),
            file_backed,
            started: None,
        }
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

    /// How many transactions the usage writer has committed (shared by clones). Lets tests
    /// prove that concurrent writes share commits.
    pub fn usage_commits(&self) -> u64 {
        self.writer.commits()
    }

    /// How many usage writes wait in the spool for the database to take them.
    pub fn spooled_writes(&self) -> usize {
        self.writer.spooled()
    }

    /// Waits until every write queued before the call is committed or spooled (key touches
    /// included), then tries once to apply the spool.
    ///
    /// # Errors
    /// [`StoreError::WriterStopped`] when the store was closed.
    pub async fn flush_writes(&self) -> Result<(), StoreError> {
        self.writer.submit(Op::Flush).await.map(|_| ())
    }

    /// Stops the usage writer (after it has written everything queued and tried the spool
    /// once; its connection closes with its thread), then closes the pool, waiting for
    /// connections to finish (call on shutdown).
    pub async fn close(&self) {
        if let Err(err) = self.writer.submit(Op::Close).await {
            tracing::debug!(error = %err, "the usage writer had stopped already");
        }
        self.pool.close().await;
    }

    fn count_key_lookup(&self) {
        self.key_lookups.fetch_add(1, Ordering::Relaxed);
    }
}

/// Opens the usage writer's connection to the database at `path` (a file, or a `file:` URI
/// of a shared in-memory database): the pool's settings (WAL, set when the pool opened it;
/// `synchronous` for `durability` when given; foreign keys), waiting `config.lock_wait()` for
/// the write lock.
fn open_writer_connection(
    path: &Path,
    durability: Option<Durability>,
    config: &DatabaseConfig,
) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(config.lock_wait())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    match durability {
        Some(Durability::Crash) => conn.pragma_update(None, "synchronous", "NORMAL")?,
        Some(Durability::PowerLoss) => conn.pragma_update(None, "synchronous", "FULL")?,
        None => {}
    }
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The usage spool of the database at `path`.
fn spool_path(path: &Path) -> PathBuf {
    side_path(path, SPOOL_SUFFIX)
}

/// The file beside the database at `path` whose name ends in `suffix`.
fn side_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
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
    for suffix in ["-wal", "-shm", "-journal", SPOOL_SUFFIX, STARTED_SUFFIX] {
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
