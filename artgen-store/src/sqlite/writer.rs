//! The usage writer: one task that owns the write connection and commits the writes of
//! concurrent requests together (group commit).
//!
//! Callers send a [`Op`] over a bounded channel and (except for key touches) await its
//! completion. The task takes every write waiting in the channel (up to [`MAX_BATCH`]), runs
//! them in one `BEGIN IMMEDIATE` transaction, commits once and only then completes each
//! caller: a caller that got `Ok` has its write committed (or spooled, see below).
//!
//! When the database refuses a batch (locked past the lock wait, full, failing), the batch is
//! retried with growing pauses; if it still fails, its writes go to the [`Spool`] (fsynced)
//! and the cause is logged by name. While the spool holds writes, later writes join it too
//! (so they apply in order), and the task tries to apply it every [`SPOOL_RETRY`]; on success
//! the spool is emptied. A write that breaks a row rule (a constraint) fails alone: the batch
//! is then replayed one write per transaction.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use artgen_core::domain::{RequestId, UsageRecord};
use sqlx::sqlite::SqlitePool;
use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::spool::{Entry, Spool};
use super::usage;
use crate::config::DatabaseConfig;
use crate::error::StoreError;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

/// Writes waiting for the task at most; senders wait beyond it.
const CHANNEL: usize = 1024;

/// How often the task tries to apply a non-empty spool.
pub(super) const SPOOL_RETRY: Duration = Duration::from_secs(1);

/// The first pause between attempts at a batch (then × 4).
const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// How often a database that keeps refusing writes is reported again.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// One write (or a control message) for the task.
#[derive(Debug)]
pub(super) enum Op {
    /// Insert a started row (ignored when the row exists).
    Start(UsageRecord),
    /// Complete a row (see [`usage::finish`]).
    Finish(UsageRecord),
    /// Insert a finished row (ignored when the row exists).
    Record(UsageRecord),
    /// Remove a started row.
    Discard(RequestId),
    /// Set a key's `last_used_at_ms` (no caller waits; dropped when the database refuses it).
    Touch {
        /// The key's public id.
        public_id: String,
        /// Unix ms.
        at_ms: i64,
    },
    /// Mark rows started before `before_ms` as unknown (never spooled).
    Recover {
        /// Unix ms.
        before_ms: i64,
    },
    /// Wait for everything queued before, then try to apply the spool.
    Flush,
    /// As `Flush`, then stop.
    Close,
}

impl Op {
    /// The request the write is about, for logs (never the row itself: it holds a prompt).
    fn request_id(&self) -> Option<&RequestId> {
        match self {
            Op::Start(record) | Op::Finish(record) | Op::Record(record) => Some(&record.request_id),
            Op::Discard(id) => Some(id),
            _ => None,
        }
    }

    /// The request whose finish this write is (it holds a reservation in the spool).
    fn reserved_by(&self) -> Option<&RequestId> {
        match self {
            Op::Finish(record) => Some(&record.request_id),
            Op::Discard(id) => Some(id),
            _ => None,
        }
    }

    fn entry(&self) -> Option<Entry> {
        match self {
            Op::Start(record) => Some(Entry::Start {
                record: record.clone(),
            }),
            Op::Finish(record) => Some(Entry::Finish {
                record: record.clone(),
            }),
            Op::Record(record) => Some(Entry::Record {
                record: record.clone(),
            }),
            Op::Discard(request_id) => Some(Entry::Discard {
                request_id: request_id.clone(),
            }),
            Op::Touch { .. } | Op::Recover { .. } | Op::Flush | Op::Close => None,
        }
    }
}

/// How a write ended up durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    /// Committed to the database; the rows it changed.
    Committed(u64),
    /// Kept in the spool, to be applied later.
    Spooled,
}

type Reply = oneshot::Sender<Result<Written, StoreError>>;

#[derive(Debug)]
struct Job {
    op: Op,
    reply: Option<Reply>,
}

impl Job {
    fn answer(self, result: Result<Written, StoreError>) {
        if let Some(reply) = self.reply {
            // The caller may have gone away; the write stands either way.
            let _ignored = reply.send(result);
        }
    }
}

/// Room in the spool: what it holds plus what is reserved for the finishes of requests in
/// flight, never more than its capacity.
#[derive(Debug, Default)]
struct Budget {
    /// Whether this store owns a spool (else nothing is reserved and nothing spooled).
    enabled: bool,
    capacity: usize,
    spooled: usize,
    reserved: HashSet<RequestId>,
}

impl Budget {
    fn has_room(&self) -> bool {
        self.spooled + self.reserved.len() < self.capacity
    }

    /// Takes one place for an entry: the reservation of `reserved_by` if it holds one, else
    /// a free place.
    fn take(&mut self, reserved_by: Option<&RequestId>) -> bool {
        let converted = reserved_by.is_some_and(|id| self.reserved.remove(id));
        if converted || self.has_room() {
            self.spooled += 1;
            true
        } else {
            false
        }
    }
}

/// What the store and the task share.
#[derive(Debug, Default)]
struct Shared {
    commits: AtomicU64,
    budget: Mutex<Budget>,
}

impl Shared {
    fn budget(&self) -> MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The store's handle on the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the task on the current runtime, writing through `pool` (whose connections wait
    /// `config.lock_wait_ms` for the write lock) and spooling to `spool` when given.
    pub(super) fn spawn(pool: SqlitePool, spool: Option<Spool>, config: &DatabaseConfig) -> Self {
        let shared = Arc::new(Shared::default());
        {
            let mut budget = shared.budget();
            budget.enabled = spool.is_some() && config.spool_max_records > 0;
            budget.capacity = config.spool_max_records;
            budget.spooled = spool.as_ref().map_or(0, Spool::len);
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        let task = Task {
            rx,
            pool,
            spool: spool.filter(|_| config.spool_max_records > 0),
            shared: shared.clone(),
            attempts: config.write_attempts.max(1),
            last_flush: None,
            refusing_since: None,
            last_report: None,
        };
        tokio::spawn(task.run());
        Self { tx, shared }
    }

    /// Sends `op` and waits until it is committed or spooled.
    ///
    /// # Errors
    /// [`StoreError::WriterStopped`] when the task is gone; the write's own failure otherwise.
    pub(super) async fn submit(&self, op: Op) -> Result<Written, StoreError> {
        let (reply, done) = oneshot::channel();
        let job = Job {
            op,
            reply: Some(reply),
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        done.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Queues `op` without waiting (key touches); dropped when the channel is full.
    pub(super) fn send_and_forget(&self, op: Op) {
        if let Err(err) = self.tx.try_send(Job { op, reply: None }) {
            tracing::debug!(error = %err, "a best-effort write was dropped");
        }
    }

    /// Reserves room in the spool for the finish of `request_id`; `false` when there is none.
    /// Always `true` without a spool.
    pub(super) fn reserve(&self, request_id: &RequestId) -> bool {
        let mut budget = self.shared.budget();
        if !budget.enabled {
            return true;
        }
        if !budget.has_room() {
            return false;
        }
        budget.reserved.insert(request_id.clone());
        true
    }

    /// Gives back the reservation of `request_id`, if it holds one.
    pub(super) fn release(&self, request_id: &RequestId) {
        self.shared.budget().reserved.remove(request_id);
    }

    /// Whether this store owns a spool.
    pub(super) fn owns_spool(&self) -> bool {
        self.shared.budget().enabled
    }

    /// The spool's capacity in records.
    pub(super) fn spool_capacity(&self) -> usize {
        self.shared.budget().capacity
    }

    /// Writes waiting in the spool.
    pub(super) fn spooled(&self) -> usize {
        self.shared.budget().spooled
    }

    /// Transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }
}

/// Whether an error is about the database (spool the write and retry later) rather than
/// about the row (which would fail again).
fn is_database_problem(err: &StoreError) -> bool {
    match err {
        StoreError::Database(sqlx::Error::Database(db)) => sqlite_code(db.as_ref()) != Some(19),
        StoreError::Database(_) | StoreError::Io { .. } | StoreError::Unavailable(_) => true,
        _ => false,
    }
}

/// Whether waiting a little may help (the write lock is held elsewhere).
fn is_transient(err: &StoreError) -> bool {
    match err {
        StoreError::Database(sqlx::Error::Database(db)) => {
            matches!(sqlite_code(db.as_ref()), Some(5 | 6))
        }
        StoreError::Database(sqlx::Error::PoolTimedOut) => true,
        _ => false,
    }
}

/// The primary SQLite result code of a database error.
fn sqlite_code(db: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .map(|code| code & 0xff)
}

/// The cause of a failed write in words, naming SQLite's code where there is one.
pub(super) fn describe(err: &StoreError) -> String {
    if let StoreError::Database(sqlx::Error::Database(db)) = err {
        let name = match sqlite_code(db.as_ref()) {
            Some(5) => "SQLITE_BUSY: the database is locked by another connection",
            Some(6) => "SQLITE_LOCKED: a table is locked",
            Some(8) => "SQLITE_READONLY: the database is read-only",
            Some(10) => "SQLITE_IOERR: the disk failed",
            Some(13) => "SQLITE_FULL: the disk is full",
            Some(14) => "SQLITE_CANTOPEN: the database file cannot be opened",
            Some(19) => "SQLITE_CONSTRAINT: a row rule was broken",
            _ => "SQLite error",
        };
        return format!("{name} ({})", db.message());
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

/// One write against the open transaction; the rows it changed.
async fn apply(conn: &mut SqliteConnection, op: &Op) -> Result<u64, StoreError> {
    match op {
        Op::Start(record) | Op::Record(record) => usage::insert(conn, record).await,
        Op::Finish(record) => usage::finish(conn, record).await,
        Op::Discard(request_id) => usage::discard(conn, request_id).await,
        Op::Recover { before_ms } => usage::recover(conn, *before_ms).await,
        Op::Touch { public_id, at_ms } => super::keys::touch(conn, public_id, *at_ms).await,
        Op::Flush | Op::Close => Ok(0),
    }
}

impl From<Entry> for Op {
    fn from(entry: Entry) -> Self {
        match entry {
            Entry::Start { record } => Op::Start(record),
            Entry::Finish { record } => Op::Finish(record),
            Entry::Record { record } => Op::Record(record),
            Entry::Discard { request_id } => Op::Discard(request_id),
        }
    }
}

struct Task {
    rx: mpsc::Receiver<Job>,
    pool: SqlitePool,
    spool: Option<Spool>,
    shared: Arc<Shared>,
    attempts: u32,
    /// When the spool was last tried.
    last_flush: Option<Instant>,
    /// Since when the database has been refusing writes.
    refusing_since: Option<Instant>,
    last_report: Option<Instant>,
}

impl Task {
    async fn run(mut self) {
        // Writes a previous process spooled are applied before anything else.
        self.flush_spool().await;
        let mut tick = tokio::time::interval(SPOOL_RETRY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                biased;
                job = self.rx.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
                _ = tick.tick() => {
                    if self.spool_pending() {
                        self.flush_spool().await;
                    }
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if self.process(batch).await {
                return;
            }
        }
        // Every store is gone: one last try at the spool.
        self.flush_spool().await;
    }

    fn spool_pending(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| !s.is_empty())
    }

    /// Writes a batch, then answers its control messages; `true` when asked to stop.
    async fn process(&mut self, batch: Vec<Job>) -> bool {
        let (control, writes): (Vec<Job>, Vec<Job>) = batch
            .into_iter()
            .partition(|job| matches!(job.op, Op::Flush | Op::Close));
        if !writes.is_empty() {
            self.write(writes).await;
        }
        let mut stop = false;
        for job in control {
            self.flush_spool().await;
            stop |= matches!(job.op, Op::Close);
            job.answer(Ok(Written::Committed(0)));
        }
        stop
    }

    async fn write(&mut self, jobs: Vec<Job>) {
        if self.spool_pending() {
            let tried_lately = self.last_flush.is_some_and(|at| at.elapsed() < SPOOL_RETRY);
            if !tried_lately {
                self.flush_spool().await;
            }
            if self.spool_pending() {
                // Earlier writes wait in the spool: these join them, to apply in order.
                let cause = "earlier usage writes are still spooled".to_owned();
                return self.spool_all(jobs, &cause).await;
            }
        }
        let ops: Vec<&Op> = jobs.iter().map(|job| &job.op).collect();
        match self.commit_with_retries(&ops).await {
            Ok(changed) => {
                self.recovered();
                for (job, rows) in jobs.into_iter().zip(changed) {
                    self.committed(job, rows);
                }
            }
            Err(err) if is_database_problem(&err) => {
                let cause = describe(&err);
                self.report_refusal(&cause, jobs.len());
                self.spool_all(jobs, &cause).await;
            }
            Err(err) if jobs.len() == 1 => {
                if let Some(job) = jobs.into_iter().next() {
                    self.failed(job, err);
                }
            }
            Err(_) => {
                // One write breaks a rule: write them one by one so only it fails.
                for job in jobs {
                    match self.commit_with_retries(&[&job.op]).await {
                        Ok(changed) => self.committed(job, changed.first().copied().unwrap_or(0)),
                        Err(err) if is_database_problem(&err) => {
                            let cause = describe(&err);
                            self.report_refusal(&cause, 1);
                            self.spool_all(vec![job], &cause).await;
                        }
                        Err(err) => self.failed(job, err),
                    }
                }
            }
        }
    }

    fn committed(&self, job: Job, rows: u64) {
        if let Some(id) = job.op.reserved_by() {
            self.shared.budget().reserved.remove(id);
        }
        job.answer(Ok(Written::Committed(rows)));
    }

    fn failed(&self, job: Job, err: StoreError) {
        if let Some(id) = job.op.reserved_by() {
            self.shared.budget().reserved.remove(id);
        }
        tracing::error!(
            cause = %describe(&err),
            request_id = job.op.request_id().map(RequestId::as_str),
            "a usage write failed"
        );
        job.answer(Err(err));
    }

    /// Runs `ops` in one transaction, retrying with growing pauses while the write lock is
    /// held elsewhere.
    async fn commit_with_retries(&self, ops: &[&Op]) -> Result<Vec<u64>, StoreError> {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            match self.commit(ops).await {
                Ok(changed) => return Ok(changed),
                Err(err) if is_transient(&err) && attempt < self.attempts => {
                    tracing::warn!(
                        cause = %describe(&err),
                        attempt,
                        writes = ops.len(),
                        "a usage write waits for the database"
                    );
                    tokio::time::sleep(pause).await;
                    pause *= 4;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn commit(&self, ops: &[&Op]) -> Result<Vec<u64>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut changed = Vec::with_capacity(ops.len());
        for op in ops {
            changed.push(apply(&mut tx, op).await?);
        }
        tx.commit().await?;
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        Ok(changed)
    }

    /// Keeps the writes of `jobs` in the spool and answers their callers; writes that cannot
    /// be spooled fail with `cause`.
    async fn spool_all(&mut self, jobs: Vec<Job>, cause: &str) {
        let mut entries = Vec::new();
        let mut spooled = Vec::new();
        for job in jobs {
            let entry = job.op.entry();
            match (entry, self.spool.is_some()) {
                (Some(entry), true) => {
                    if self.shared.budget().take(job.op.reserved_by()) {
                        entries.push(entry);
                        spooled.push(job);
                    } else {
                        let capacity = self.shared.budget().capacity;
                        tracing::error!(
                            cause,
                            capacity,
                            "a usage write is refused: the database refuses it and the spool is full"
                        );
                        self.failed_quietly(job, StoreError::SpoolFull { capacity });
                    }
                }
                (None, _) if matches!(job.op, Op::Touch { .. }) => {
                    tracing::debug!(cause, "a key's last use is not recorded this time");
                }
                _ => self.failed_quietly(job, StoreError::Unavailable(cause.to_owned())),
            }
        }
        if spooled.is_empty() {
            return;
        }
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        match spool.append(&entries).await {
            Ok(()) => {
                tracing::debug!(
                    cause,
                    writes = entries.len(),
                    spooled = spool.len(),
                    spool = %spool.path().display(),
                    "usage writes spooled; they are applied when the database takes them"
                );
                for job in spooled {
                    job.answer(Ok(Written::Spooled));
                }
            }
            Err(err) => {
                tracing::error!(
                    cause,
                    spool_error = %describe(&err),
                    "usage writes could be kept neither in the database nor in the spool"
                );
                let mut budget = self.shared.budget();
                budget.spooled = budget.spooled.saturating_sub(spooled.len());
                drop(budget);
                for job in spooled {
                    job.answer(Err(StoreError::Unavailable(format!(
                        "{cause}; spool: {}",
                        describe(&err)
                    ))));
                }
            }
        }
    }

    fn failed_quietly(&self, job: Job, err: StoreError) {
        if let Some(id) = job.op.reserved_by() {
            self.shared.budget().reserved.remove(id);
        }
        job.answer(Err(err));
    }

    /// Applies the spool in one transaction and empties it.
    async fn flush_spool(&mut self) {
        self.last_flush = Some(Instant::now());
        let Some(spool) = self.spool.as_ref() else {
            return;
        };
        if spool.is_empty() {
            return;
        }
        let entries = match spool.read().await {
            Ok(entries) => entries,
            Err(err) => {
                tracing::error!(cause = %describe(&err), "the usage spool cannot be read");
                return;
            }
        };
        let ops: Vec<Op> = entries.into_iter().map(Op::from).collect();
        let refs: Vec<&Op> = ops.iter().collect();
        // One attempt: the next tick tries again.
        let applied = match self.commit(&refs).await {
            Ok(_) => true,
            Err(err) if is_database_problem(&err) => {
                let cause = describe(&err);
                self.report_refusal(&cause, 0);
                false
            }
            // An entry breaks a row rule and would block the spool for good: apply the others.
            Err(_) => self.apply_one_by_one(&refs).await,
        };
        if !applied {
            return;
        }
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        if let Err(err) = spool.clear().await {
            // The entries are applied and idempotent: replaying them again is harmless.
            tracing::error!(cause = %describe(&err), "the usage spool cannot be emptied");
            return;
        }
        self.shared.budget().spooled = 0;
        tracing::info!(
            writes = ops.len(),
            "spooled usage writes applied to the database"
        );
        self.recovered();
    }

    /// Applies spooled writes one per transaction, dropping (and logging) those that break a
    /// row rule; `false` when the database refused one, so the spool must stay.
    async fn apply_one_by_one(&mut self, ops: &[&Op]) -> bool {
        for op in ops {
            match self.commit(&[op]).await {
                Ok(_) => {}
                Err(err) if is_database_problem(&err) => {
                    let cause = describe(&err);
                    self.report_refusal(&cause, 0);
                    return false;
                }
                Err(err) => tracing::error!(
                    cause = %describe(&err),
                    request_id = op.request_id().map(RequestId::as_str),
                    "a spooled usage write breaks a row rule and is dropped"
                ),
            }
        }
        true
    }

    /// Logs that the database refuses writes: at once, then every [`REPORT_EVERY`].
    fn report_refusal(&mut self, cause: &str, writes: usize) {
        let now = Instant::now();
        let since = *self.refusing_since.get_or_insert(now);
        let due = self
            .last_report
            .is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        if due {
            self.last_report = Some(now);
            tracing::error!(
                cause,
                writes,
                spooled = self.spool.as_ref().map_or(0, Spool::len),
                refusing_for_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the database refuses usage writes"
            );
        }
    }

    fn recovered(&mut self) {
        if let Some(since) = self.refusing_since.take() {
            self.last_report = None;
            tracing::info!(
                refused_for_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the database takes usage writes again"
            );
        }
    }
}
