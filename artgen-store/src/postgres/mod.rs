//! The Postgres backend: usage rows, API keys and idempotency records shared by every replica.
//!
//! Queries are runtime-checked (`sqlx::query` with binds, `QueryBuilder` for the dynamic
//! listing) so the build needs no database; every query is covered by the conformance suites
//! run against a real server (`ARTGEN_TEST_DATABASE_URL`). DDL that needs names (the monthly
//! partitions of `usage`) is a SQL function in the migrations, called with bound values.
//!
//! Usage writes go straight to the pool (Postgres takes concurrent writers); while the
//! database is unreachable they wait in a spool file (see `buffer.rs`), applied by a flusher
//! once it answers again, and on [`PostgresStore::close`].

mod buffer;
pub mod config;
mod idempotency;
mod images;
mod keys;
mod ledger;
mod retention;
mod usage;
mod users;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use artgen_core::ports::{Clock, SystemClock};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::task::JoinHandle;

use self::buffer::Buffer;
pub use self::config::{redact_url, DatabaseUrl, PostgresConfig};
use crate::error::StoreError;
use crate::spool::Spool;

/// The Postgres schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How often the flusher tries to apply a non-empty spool.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Days of the daily roll-up that housekeeping recomputes, today included.
const ROLLUP_DAYS: i32 = 3;

/// Creates the partitions of the month of `$1` (Unix ms) and of the next one.
const ENSURE_PARTITIONS: &str = "SELECT artgen_ensure_usage_partition(m) FROM (VALUES ($1::bigint), \
    ((extract(epoch FROM (date_trunc('month', to_timestamp($1::bigint / 1000.0) AT TIME ZONE 'UTC') \
    + interval '1 month') AT TIME ZONE 'UTC') * 1000)::bigint)) AS months (m)";

/// The first day (UTC) of the roll-up window ending with the day of `$1` (Unix ms), `$2` days.
const WINDOW_START_DAY: &str =
    "((to_timestamp($1::bigint / 1000.0) AT TIME ZONE 'UTC')::date - ($2::int - 1))";

/// The day (UTC) after the day of `$1` (Unix ms): the roll-up window's end, excluded.
const WINDOW_END_DAY: &str = "((to_timestamp($1::bigint / 1000.0) AT TIME ZONE 'UTC')::date + 1)";

/// Usage writes, key touches and idempotency records on Postgres; the
/// [`UsageStore`](artgen_core::ports::UsageStore), [`KeyStore`](artgen_core::ports::KeyStore),
/// [`Authenticator`](artgen_core::ports::Authenticator) and
/// [`IdempotencyStore`](artgen_core::ports::IdempotencyStore).
///
/// Cheap to clone: clones share the pool, the spool, the clock and the counters.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    buffer: Arc<Buffer>,
    clock: Arc<dyn Clock>,
    key_lookups: Arc<AtomicU64>,
    /// When each key's use was last written, by public id.
    touched: Arc<Mutex<HashMap<String, i64>>>,
    recover_after_ms: u64,
    flusher: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// Reservations of one scope queue here before they take a connection (see `ledger.rs`).
    reserve_queues: Arc<ledger::ReserveQueues>,
}

impl PostgresStore {
    /// Connects to the database `config.url` names (without migrating: see
    /// [`PostgresStore::migrate`]) and opens the spool when one is configured; writes an
    /// earlier process kept there are applied as soon as the database answers.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] for an unusable configuration or URL,
    /// [`StoreError::Unreachable`] when no connection can be made, [`StoreError::Io`] when
    /// the spool cannot be opened. No error quotes the URL's password.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let mut options = PgConnectOptions::from_str(config.url.expose()).map_err(|_| {
            StoreError::InvalidConfig(format!("database url {} cannot be parsed", config.url))
        })?;
        if let Some(schema) = &config.schema {
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout())
            .connect_with(options)
            .await
            .map_err(StoreError::Unreachable)?;
        let spool = match &config.spool_path {
            Some(path) if config.spool_max_records > 0 => {
                let spool = Spool::open(path.clone()).await?;
                if spool.is_none() {
                    tracing::warn!(
                        spool = %path.display(),
                        "another process holds the usage spool; this one writes without it"
                    );
                }
                spool
            }
            _ => None,
        };
        let buffer = Arc::new(Buffer::new(spool, config.spool_max_records));
        let flusher = buffer
            .enabled()
            .then(|| tokio::spawn(flush_loop(buffer.clone(), pool.clone())));
        tracing::info!(database = %config.url, "connected to Postgres");
        Ok(Self {
            pool,
            buffer,
            clock: Arc::new(SystemClock),
            key_lookups: Arc::new(AtomicU64::new(0)),
            touched: Arc::new(Mutex::new(HashMap::new())),
            recover_after_ms: config.recover_after_ms,
            flusher: Arc::new(Mutex::new(flusher)),
            reserve_queues: Arc::new(ledger::ReserveQueues::default()),
        })
    }

    /// Applies pending migrations (several replicas may call it at once: sqlx serialises them
    /// with an advisory lock), then creates this and next month's usage partitions.
    ///
    /// # Errors
    /// [`StoreError::Migration`] when the schema cannot be brought up to date,
    /// [`StoreError::Database`] when the partitions cannot be created.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        self.ensure_partitions(self.clock.now_ms()).await
    }

    /// Daily upkeep, safe on every replica: creates the usage partitions of the month of
    /// `now_ms` and the next, and recomputes the daily roll-up of the last days.
    ///
    /// # Errors
    /// [`StoreError::Database`] when a statement fails.
    pub async fn housekeeping(&self, now_ms: i64) -> Result<(), StoreError> {
        self.ensure_partitions(now_ms).await?;
        self.roll_up(now_ms).await
    }

    async fn ensure_partitions(&self, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(ENSURE_PARTITIONS)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Recomputes `usage_daily` for the days of the window ending on the day of `now_ms`.
    async fn roll_up(&self, now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('artgen_usage_daily'))")
            .execute(&mut *tx)
            .await?;
        let mut delete = QueryText::new("DELETE FROM usage_daily WHERE day >= ");
        delete.push(WINDOW_START_DAY);
        delete.push(" AND day < ");
        delete.push(WINDOW_END_DAY);
        sqlx::query(delete.as_str())
            .bind(now_ms)
            .bind(ROLLUP_DAYS)
            .execute(&mut *tx)
            .await?;
        let mut insert = QueryText::new(
            "INSERT INTO usage_daily (day, user_id, model, requests, succeeded, failed, \
             unfinished, images, input_tokens, output_tokens, estimated_cost_micros, \
             cost_micros) \
             SELECT (to_timestamp(created_at_ms / 1000.0) AT TIME ZONE 'UTC')::date, user_id, \
             model, count(*), count(*) FILTER (WHERE status = 'succeeded'), \
             count(*) FILTER (WHERE status = 'failed'), \
             count(*) FILTER (WHERE status IN ('started', 'unknown')), sum(images)::bigint, \
             sum(input_text_tokens + input_image_tokens + svg_input_tokens)::bigint, \
             sum(output_image_tokens + output_text_tokens + svg_output_tokens)::bigint, \
             sum(estimated_cost_micros)::bigint, sum(cost_micros)::bigint \
             FROM usage WHERE created_at_ms >= (extract(epoch FROM ",
        );
        insert.push(WINDOW_START_DAY);
        insert.push(
            "::timestamp AT TIME ZONE 'UTC') * 1000)::bigint \
             AND created_at_ms < (extract(epoch FROM ",
        );
        insert.push(WINDOW_END_DAY);
        insert.push("::timestamp AT TIME ZONE 'UTC') * 1000)::bigint GROUP BY 1, 2, 3");
        sqlx::query(insert.as_str())
            .bind(now_ms)
            .bind(ROLLUP_DAYS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses `clock` for key timestamps and the partitions created by [`PostgresStore::migrate`].
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The connection pool, for health checks and operational queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many API-key lookups reached the database since the store was created.
    pub fn key_lookups(&self) -> u64 {
        self.key_lookups.load(Ordering::Relaxed)
    }

    /// How many usage writes wait in the spool for the database to take them.
    pub fn spooled_writes(&self) -> usize {
        self.buffer.len()
    }

    /// Tries once to apply the spool; how many writes it applied.
    ///
    /// # Errors
    /// The database's error when it is still unreachable (the spool is kept).
    pub async fn flush_writes(&self) -> Result<usize, StoreError> {
        self.buffer.flush(&self.pool).await
    }

    /// Stops the flusher, tries once more to apply the spool (what stays is applied at the
    /// next start), then closes the pool (call on shutdown).
    pub async fn close(&self) {
        let flusher = self
            .flusher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(flusher) = flusher {
            flusher.abort();
        }
        match self.buffer.flush(&self.pool).await {
            Ok(_) => {}
            Err(err) => tracing::warn!(
                kept = self.buffer.len(),
                error = %describe(&err),
                "usage writes stay in the spool until the next start"
            ),
        }
        self.pool.close().await;
    }

    fn count_key_lookup(&self) {
        self.key_lookups.fetch_add(1, Ordering::Relaxed);
    }
}

/// Applies the spool every [`FLUSH_EVERY`] while it holds writes.
async fn flush_loop(buffer: Arc<Buffer>, pool: PgPool) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = buffer.flush(&pool).await {
            tracing::debug!(error = %describe(&err), "the usage spool waits for the database");
        }
    }
}

/// SQL text assembled from constants (never from values: those are bound).
struct QueryText(String);

impl QueryText {
    fn new(text: &'static str) -> Self {
        Self(text.to_owned())
    }

    fn push(&mut self, text: &'static str) {
        self.0.push_str(text);
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether an error says the database could not be reached (keep the write and try later)
/// rather than that it refused the write (which would fail again).
pub(crate) fn is_unreachable(err: &StoreError) -> bool {
    match err {
        StoreError::Unreachable(_) => true,
        StoreError::Database(err) => match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::WorkerCrashed => true,
            // Connection exceptions, shutdown and "cannot connect now", insufficient resources.
            sqlx::Error::Database(db) => db.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")
            }),
            _ => false,
        },
        _ => false,
    }
}

/// The cause of a failed write in words, with Postgres's SQLSTATE where there is one (never
/// the URL: sqlx's errors do not quote it).
pub(crate) fn describe(err: &StoreError) -> String {
    if let StoreError::Database(sqlx::Error::Database(db)) = err {
        return format!(
            "Postgres error {}: {}",
            db.code().unwrap_or_default(),
            db.message()
        );
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("spooled_writes", &self.spooled_writes())
            .field("key_lookups", &self.key_lookups())
            .finish_non_exhaustive()
    }
}
