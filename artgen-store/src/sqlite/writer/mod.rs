//! The usage writer: one task on a thread of its own that owns the write connection (rusqlite,
//! over the same SQLite library as sqlx) and commits the writes of concurrent requests
//! together (group commit).
//!
//! Callers send a [`Op`] over a bounded channel and (except for key touches) await its
//! completion. The task takes every write waiting in the channel (up to [`MAX_BATCH`]), runs
//! them in one `BEGIN IMMEDIATE` transaction, commits once and only then completes each
//! caller: a caller that got `Ok` has its write committed (or spooled, see below).
//!
//! The statements run on the writer's thread itself, so a write costs one hand-off to that
//! thread and one back to the caller, whatever the statements in its batch; through sqlx each
//! statement (and `BEGIN`, `COMMIT`) was a round trip to the connection's worker thread. The
//! thread runs a current-thread tokio runtime of its own for the channel, the pauses between
//! attempts and the spool's file calls; it stops once every store is gone or one asks it to.
//!
//! A write that is alone (no other in flight, none lately beside another: see [`SHARE_FOR`])
//! and finds the task idle (nothing queued, the connection free, no spool, no checkpoint to
//! finish) is committed on the caller's own thread instead, without the two hand-offs: with
//! `synchronous = NORMAL` a commit is a few `pwrite`s into the page cache, tens of
//! microseconds, cheaper than waking a thread and being woken back. It never waits
//! for the database there: SQLite's lock wait is zero for it, and a write the database
//! refuses at once goes to the task as any other, which waits, retries and spools. With
//! [`Durability::PowerLoss`](crate::Durability::PowerLoss) (an `fsync` per commit) every write
//! goes to the task.
//!
//! A write the caller already made durable elsewhere (a finish in the usage journal, see
//! `started`) is *deferred* ([`Writer::defer`]): nobody waits for it, and it starts no
//! transaction of its own. The task commits the deferred writes ahead of its next batch, or
//! on their own within [`DEFER_FOR`]; a reading's fold goes to the task while any is
//! unanswered, so that it is answered after them. On a lightly loaded
//! server that moves the finish's commit off the response path onto the writer's thread
//! (the other processor), and under load many finishes share one transaction.
//!
//! When the database refuses a batch (locked past the lock wait, full, failing), the batch is
//! retried with growing pauses; if it still fails, its writes go to the [`Spool`] (fsynced)
//! and the cause is logged by name. While the spool holds writes, later writes join it too
//! (so they apply in order), and the task tries to apply it every [`SPOOL_RETRY`]; on success
//! the spool is emptied. A write that breaks a row rule (a constraint) fails alone: the batch
//! is then replayed one write per transaction.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use artgen_core::domain::{RequestId, Reservation, UsageRecord};
use artgen_core::ports::ImageMeta;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use self::task::{SharedConn, Task};
use super::checkpoint::Checkpointer;
use super::ledger::Outcome;
use super::spool::{Budget, Entry, Spool};
use crate::config::{DatabaseConfig, Durability};
use crate::error::StoreError;

mod task;

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

/// The writer thread's name (in `top -H`, profiles and errors).
const THREAD_NAME: &str = "artgen-usage-writer";

/// Rows a statement changed, as the writer reports them.
pub(super) fn rows(changed: usize) -> u64 {
    u64::try_from(changed).unwrap_or(u64::MAX)
}

/// One write (or a control message) for the task.
#[derive(Debug)]
pub(super) enum Op {
    /// Insert a started row (ignored when the row exists).
    Start(UsageRecord),
    /// Complete a row (see `usage::finish`) and insert its images' rows, in one transaction.
    Finish(UsageRecord, Vec<ImageMeta>),
    /// Insert a finished row (ignored when the row exists).
    Record(UsageRecord),
    /// Insert rows of the started-row journal, `started` or `unknown` (each ignored when its
    /// row exists; never spooled: the journal keeps them meanwhile).
    Fold(Vec<UsageRecord>),
    /// Remove a started row.
    Discard(RequestId),
    /// Set a key's `last_used_at_ms` (no caller waits; dropped when the database refuses it).
    Touch {
        /// The key's public id.
        public_id: String,
        /// Unix ms.
        at_ms: i64,
    },
    /// Hold a budget reservation if every budget has room, leaving the outcome in the slot
    /// (never spooled: a reservation the database cannot take now is refused).
    Reserve(Reservation, Outcome),
    /// Drop a reservation (never spooled: its lease ends it anyway).
    Release(RequestId),
    /// Drop the reservations whose lease ended before `now_ms` (never spooled).
    Sweep {
        /// Unix ms.
        now_ms: i64,
    },
    /// Mark rows started before `before_ms` as unknown (never spooled).
    Recover {
        /// Unix ms.
        before_ms: i64,
    },
    /// Store an image blob's row (see `blobs::write`; never spooled: a refused one fails).
    PutBlob {
        /// The row key (the hash's first 8 bytes).
        id: i64,
        /// Lower-case hex SHA-256 of `bytes`.
        sha256: String,
        /// The blob.
        bytes: bytes::Bytes,
    },
    /// Remove an image blob's row (never spooled).
    DeleteBlob {
        /// The row key.
        id: i64,
        /// The blob the row must hold.
        sha256: String,
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
            Op::Start(record) | Op::Finish(record, _) | Op::Record(record) => {
                Some(&record.request_id)
            }
            Op::Discard(id) | Op::Release(id) => Some(id),
            Op::Reserve(reservation, _) => Some(&reservation.request_id),
            _ => None,
        }
    }

    /// Whether the write is one statement, which SQLite commits on its own.
    fn is_one_statement(&self) -> bool {
        matches!(
            self,
            Op::Start(_)
                | Op::Record(_)
                | Op::Release(_)
                | Op::Sweep { .. }
                | Op::Touch { .. }
                | Op::Recover { .. }
                | Op::PutBlob { .. }
                | Op::DeleteBlob { .. }
                | Op::Flush
                | Op::Close
        )
    }

    /// The request whose finish this write is (it holds a reservation in the spool).
    fn reserved_by(&self) -> Option<&RequestId> {
        match self {
            Op::Finish(record, _) => Some(&record.request_id),
            Op::Discard(id) => Some(id),
            _ => None,
        }
    }

    fn entry(&self) -> Option<Entry> {
        match self {
            Op::Start(record) => Some(Entry::Start {
                record: record.clone(),
            }),
            Op::Finish(record, images) => Some(Entry::Finish {
                record: record.clone(),
                images: images.clone(),
            }),
            Op::Record(record) => Some(Entry::Record {
                record: record.clone(),
            }),
            Op::Discard(request_id) => Some(Entry::Discard {
                request_id: request_id.clone(),
            }),
            Op::Reserve(..)
            | Op::Fold(_)
            | Op::Release(_)
            | Op::Sweep { .. }
            | Op::Touch { .. }
            | Op::Recover { .. }
            | Op::PutBlob { .. }
            | Op::DeleteBlob { .. }
            | Op::Flush
            | Op::Close => None,
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

/// What a deferred write runs once it is durable (committed or spooled) or failed.
pub(super) type Then = Box<dyn FnOnce(Result<Written, StoreError>) + Send>;

/// Who hears how a write ended.
enum Reply {
    /// Nobody (key touches).
    None,
    /// A caller awaiting it.
    Wait(oneshot::Sender<Result<Written, StoreError>>),
    /// A deferred write's follow-up (see [`Writer::defer`]), and the count of deferred
    /// writes not answered yet, which the answer lowers.
    Then(Then, Arc<AtomicUsize>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Wait(_) => "Wait",
            Self::Then(..) => "Then",
        })
    }
}

#[derive(Debug)]
struct Job {
    op: Op,
    reply: Reply,
}

impl Job {
    fn answer(self, result: Result<Written, StoreError>) {
        match self.reply {
            Reply::None => {}
            // The caller may have gone away; the write stands either way.
            Reply::Wait(reply) => {
                let _ignored = reply.send(result);
            }
            Reply::Then(then, unsettled) => {
                // Answered after its transaction committed (or the spool took it).
                unsettled.fetch_sub(1, Ordering::AcqRel);
                then(result);
            }
        }
    }
}

/// Counts a write in flight from its submission to its answer (or its caller going away).
struct InFlight<'a> {
    shared: &'a Shared,
    /// Whether no other write was in flight when this one was submitted, nor lately beside
    /// another.
    alone: bool,
}

impl<'a> InFlight<'a> {
    /// Counts a write; `alone` when no other was in flight and none lately was beside another.
    fn enter(shared: &'a Shared) -> Self {
        let before = shared.in_flight.fetch_add(1, Ordering::AcqRel);
        let now = shared.epoch.now_us();
        let alone = if before == 0 {
            now >= shared.shared_until_us.load(Ordering::Relaxed)
        } else {
            let window = u64::try_from(SHARE_FOR.as_micros()).unwrap_or(u64::MAX);
            shared
                .shared_until_us
                .store(now.saturating_add(window), Ordering::Relaxed);
            false
        };
        Self { shared, alone }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a caller needs to commit on its own thread.
#[derive(Debug, Clone)]
struct Inline {
    conn: SharedConn,
    /// The connection's lock wait, restored after a write that ran without one.
    lock_wait: Duration,
}

/// When the store was made: the origin of its timestamps in microseconds.
#[derive(Debug)]
struct Epoch(std::time::Instant);

impl Default for Epoch {
    fn default() -> Self {
        Self(std::time::Instant::now())
    }
}

impl Epoch {
    fn now_us(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// How long writes keep going to the task after one was submitted while another was in
/// flight: under concurrent load they share its commits, which costs less than committing
/// each on its own thread.
const SHARE_FOR: Duration = Duration::from_millis(10);

/// How long a deferred write waits at most for the task's next batch before the task
/// commits it on its own.
pub(super) const DEFER_FOR: Duration = Duration::from_millis(20);

/// What the store and the task share.
#[derive(Debug, Default)]
struct Shared {
    commits: AtomicU64,
    /// Whether the database is refusing writes (the task retries and spools them).
    refusing: AtomicBool,
    /// Whether the task was asked to stop: writes fail from then on.
    closed: AtomicBool,
    /// Writes submitted and not yet answered.
    in_flight: AtomicUsize,
    /// Until when (µs after `epoch`) writes go to the task even when alone: writes were
    /// lately submitted while others were in flight, so they can share its commits.
    shared_until_us: AtomicU64,
    /// The origin of `shared_until_us`.
    epoch: Epoch,
    /// Raised by the checkpointer: the writer should finish a checkpoint between batches.
    restart_due: Arc<AtomicBool>,
    /// Whether this store holds the spool file's lock (it is the database's owner).
    owns_spool: AtomicBool,
    budget: Mutex<Budget>,
    /// Writes made durable elsewhere first (the usage journal), committed by the task with
    /// its next batch or within [`DEFER_FOR`].
    deferred: Mutex<Vec<Job>>,
    /// Deferred writes not answered yet: queued, or taken by a transaction that has not
    /// committed (a reading must wait for those too).
    unsettled: Arc<AtomicUsize>,
}

impl Shared {
    fn budget(&self) -> MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deferred(&self) -> MutexGuard<'_, Vec<Job>> {
        self.deferred.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The deferred writes, to commit ahead of the writes of the transaction taking them.
    fn take_deferred(&self) -> Vec<Job> {
        std::mem::take(&mut *self.deferred())
    }

    /// Gives back the spool room `op` held for its finish, once it is committed or failed.
    fn settle(&self, op: &Op) {
        if let Some(id) = op.reserved_by() {
            self.budget().reserved.remove(id);
        }
    }
}

/// Logs a write that failed for good, naming its request (never its row: it holds a prompt).
fn log_failure(op: &Op, err: &StoreError) {
    tracing::error!(
        cause = %describe(err),
        request_id = op.request_id().map(RequestId::as_str),
        "a usage write failed"
    );
}

/// The store's handle on the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    /// The write connection, for writes committed on the caller's thread; `None` when every
    /// write goes to the task.
    inline: Option<Inline>,
    /// Runs as long as a handle does (file databases only).
    checkpointer: Option<Arc<Checkpointer>>,
}

impl Writer {
    /// Starts the task on a thread of its own, writing on `conn` (which waits
    /// `config.lock_wait_ms` for the write lock) and spooling to `spool` when given.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the thread or its runtime cannot be started.
    pub(super) fn spawn(
        conn: Connection,
        spool: Option<Spool>,
        config: &DatabaseConfig,
    ) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared::default());
        {
            let mut budget = shared.budget();
            budget.enabled = spool.is_some() && config.spool_max_records > 0;
            budget.capacity = config.spool_max_records;
            budget.spooled = spool.as_ref().map_or(0, Spool::len);
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        // Kept (and locked) even with no room: writes an earlier process spooled are applied.
        shared.owns_spool.store(spool.is_some(), Ordering::Relaxed);
        let conn: SharedConn = Arc::new(Mutex::new(conn));
        // A commit that waits for an `fsync` is not made on a caller's thread.
        let inline = (config.durability == Durability::Crash).then(|| Inline {
            conn: conn.clone(),
            lock_wait: config.lock_wait(),
        });
        let task = Task::new(
            rx,
            conn,
            spool,
            shared.clone(),
            config.write_attempts.max(1),
        );
        let thread_error = |err: std::io::Error| {
            StoreError::Unavailable(format!("the usage writer's thread cannot start: {err}"))
        };
        // The runtime is built (and dropped) on the writer's thread: a runtime dropped on a
        // caller's runtime thread would panic. The thread says whether it started.
        let (started_tx, started) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .thread_name(THREAD_NAME)
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _ignored = started_tx.send(Ok(()));
                        runtime.block_on(task.run());
                    }
                    Err(err) => {
                        let _ignored = started_tx.send(Err(err));
                    }
                }
            })
            .map_err(thread_error)?;
        // Waits the microseconds a runtime takes to build, once per store.
        match started.recv() {
            Ok(Ok(())) => Ok(Self {
                tx,
                shared,
                inline,
                checkpointer: None,
            }),
            Ok(Err(err)) => Err(thread_error(err)),
            Err(_) => Err(StoreError::WriterStopped),
        }
    }

    /// The flag the checkpointer raises when the writer should finish a checkpoint.
    pub(super) fn restart_flag(&self) -> Arc<AtomicBool> {
        self.shared.restart_due.clone()
    }

    /// Keeps `checkpointer` running as long as a handle on this writer is.
    #[must_use]
    pub(super) fn with_checkpointer(mut self, checkpointer: Checkpointer) -> Self {
        self.checkpointer = Some(Arc::new(checkpointer));
        self
    }

    /// Sends `op` and waits until it is committed or spooled.
    ///
    /// # Errors
    /// [`StoreError::WriterStopped`] when the task is gone; the write's own failure otherwise.
    pub(super) async fn submit(&self, op: Op) -> Result<Written, StoreError> {
        let in_flight = InFlight::enter(&self.shared);
        if let Some(written) = self.commit_here(&op, in_flight.alone) {
            return written;
        }
        let (reply, done) = oneshot::channel();
        let job = Job {
            op,
            reply: Reply::Wait(reply),
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        done.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Commits `op` on this thread when it is the only write in flight and the task is idle
    /// (see the module's notes); `None` when it is for the task: other writes are in
    /// flight (they share the task's next commit), the task is busy, the database
    /// refuses writes or the spool holds some, a checkpoint is due, or the database refused
    /// this one at once.
    fn commit_here(&self, op: &Op, alone: bool) -> Option<Result<Written, StoreError>> {
        let inline = self.inline.as_ref()?;
        let idle = alone
            && self.tx.capacity() == self.tx.max_capacity()
            && !self.shared.closed.load(Ordering::Relaxed)
            && !self.shared.refusing.load(Ordering::Relaxed)
            && !self.shared.restart_due.load(Ordering::Relaxed)
            && !matches!(op, Op::Flush | Op::Close | Op::Touch { .. })
            // A reading's fold waits behind the deferred writes: the task takes them in
            // order, even those a transaction of its own is committing now.
            && !(matches!(op, Op::Fold(_)) && self.has_deferred());
        if !idle || self.shared.budget().spooled > 0 {
            return None;
        }
        let conn = match inline.conn.try_lock() {
            Ok(conn) => conn,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        if conn.busy_timeout(Duration::ZERO).is_err() {
            return None;
        }
        let result = task::commit(&conn, &self.shared, &[op]);
        let restored = conn.busy_timeout(inline.lock_wait);
        drop(conn);
        if let Err(err) = restored {
            // The task still retries a locked database, with its pauses, without the wait.
            tracing::error!(
                cause = %describe(&StoreError::from(err)),
                "the write connection's lock wait cannot be restored"
            );
        }
        match result {
            // Locked, busy or failing: the task waits, retries and spools.
            Err(err) if is_database_problem(&err) => None,
            Ok(changed) => {
                self.shared.settle(op);
                Some(Ok(Written::Committed(
                    changed.first().copied().unwrap_or(0),
                )))
            }
            Err(err) => {
                self.shared.settle(op);
                log_failure(op, &err);
                Some(Err(err))
            }
        }
    }

    /// Defers `op`, which the caller made durable elsewhere first (the usage journal): the
    /// task commits it ahead of the writes of its next batch, or within [`DEFER_FOR`], and
    /// `then` is run once it is committed, spooled or failed. `false` (and
    /// `then` dropped unrun) when the task was asked to stop: the caller's own copy stands.
    pub(super) fn defer(&self, op: Op, then: Then) -> bool {
        if self.shared.closed.load(Ordering::Relaxed) {
            return false;
        }
        self.shared.unsettled.fetch_add(1, Ordering::AcqRel);
        self.shared.deferred().push(Job {
            op,
            reply: Reply::Then(then, Arc::clone(&self.shared.unsettled)),
        });
        true
    }

    /// Whether deferred writes are not committed yet (queued, or in a transaction still
    /// running): a reading through the pool has them committed first, by a write queued
    /// behind them.
    pub(super) fn has_deferred(&self) -> bool {
        self.shared.unsettled.load(Ordering::Acquire) > 0
    }

    /// Queues `op` without waiting (key touches); dropped when the channel is full.
    pub(super) fn send_and_forget(&self, op: Op) {
        if let Err(err) = self.tx.try_send(Job {
            op,
            reply: Reply::None,
        }) {
            tracing::debug!(error = %err, "a best-effort write was dropped");
        }
    }

    /// Reserves room in the spool for the finish of `request_id`; `false` when there is none.
    /// Always `true` without a spool.
    pub(super) fn reserve(&self, request_id: &RequestId) -> bool {
        self.shared.budget().reserve(request_id)
    }

    /// Gives back the reservation of `request_id`, if it holds one.
    pub(super) fn release(&self, request_id: &RequestId) {
        self.shared.budget().reserved.remove(request_id);
    }

    /// Whether this store owns a spool.
    pub(super) fn owns_spool(&self) -> bool {
        self.shared.owns_spool.load(Ordering::Relaxed)
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
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
            primary_code(failure.extended_code) != 19
        }
        StoreError::Database(_)
        | StoreError::Sqlite(_)
        | StoreError::Io { .. }
        | StoreError::Unavailable(_) => true,
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
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
            matches!(primary_code(failure.extended_code), 5 | 6)
        }
        _ => false,
    }
}

/// The primary SQLite result code of a database error.
fn sqlite_code(db: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .map(primary_code)
}

/// The primary result code of an extended SQLite result code.
fn primary_code(extended: i32) -> i32 {
    extended & 0xff
}

/// SQLite's name for a primary result code, and what it means here.
fn code_name(code: Option<i32>) -> &'static str {
    match code {
        Some(5) => "SQLITE_BUSY: the database is locked by another connection",
        Some(6) => "SQLITE_LOCKED: a table is locked",
        Some(8) => "SQLITE_READONLY: the database is read-only",
        Some(10) => "SQLITE_IOERR: the disk failed",
        Some(13) => "SQLITE_FULL: the disk is full",
        Some(14) => "SQLITE_CANTOPEN: the database file cannot be opened",
        Some(19) => "SQLITE_CONSTRAINT: a row rule was broken",
        _ => "SQLite error",
    }
}

/// The cause of a failed write in words, naming SQLite's code where there is one.
pub(super) fn describe(err: &StoreError) -> String {
    if let StoreError::Database(sqlx::Error::Database(db)) = err {
        let name = code_name(sqlite_code(db.as_ref()));
        return format!("{name} ({})", db.message());
    }
    if let StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) = err {
        let name = code_name(Some(primary_code(failure.extended_code)));
        let message = message.clone().unwrap_or_else(|| failure.to_string());
        return format!("{name} ({message})");
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
