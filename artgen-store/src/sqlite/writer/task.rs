//! The writer task itself: batches, commits, retries, the spool.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use artgen_core::domain::RequestId;
use rusqlite::Connection;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{
    describe, is_database_problem, is_transient, log_failure, Job, Op, Shared, Written, DEFER_FOR,
    FIRST_PAUSE, MAX_BATCH, REPORT_EVERY, SPOOL_RETRY,
};
use crate::error::StoreError;
use crate::sqlite::spool::{Entry, Spool};
use crate::sqlite::{blobs, images, keys, ledger, usage};

/// One write against the open transaction (or alone, autocommitted); the rows it changed.
fn apply(conn: &Connection, op: &Op) -> Result<u64, StoreError> {
    match op {
        Op::Start(record) | Op::Record(record) => {
            let written = usage::insert(conn, record)?;
            if written == 0 {
                // A second insert of one request id (a retried or replayed write): the row
                // already there is kept, and the duplicate is reported, not dropped silently.
                tracing::warn!(
                    request_id = %record.request_id,
                    status = record.status.as_str(),
                    "usage row already recorded for this request id; the duplicate write is ignored"
                );
            }
            Ok(written)
        }
        Op::Fold(records) => records.iter().try_fold(0, |changed, record| {
            Ok(changed + usage::insert(conn, record)?)
        }),
        Op::Finish(record, images) => {
            let written = usage::finish(conn, record)?;
            images::write(conn, images)?;
            // Settled: the row's cost counts now, in the transaction that wrote it.
            ledger::delete(conn, record.request_id.as_str())?;
            Ok(written)
        }
        Op::Discard(request_id) => {
            let removed = usage::discard(conn, request_id)?;
            ledger::delete(conn, request_id.as_str())?;
            Ok(removed)
        }
        Op::Reserve(reservation, outcome) => {
            let decided = ledger::reserve(conn, reservation)?;
            let held = u64::from(decided.is_reserved());
            *outcome
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(decided);
            Ok(held)
        }
        Op::Release(request_id) => ledger::delete(conn, request_id.as_str()),
        Op::Sweep { now_ms } => ledger::sweep(conn, *now_ms),
        Op::Recover { before_ms } => usage::recover(conn, *before_ms),
        Op::Touch { public_id, at_ms } => keys::write_touch(conn, public_id, *at_ms),
        Op::PutBlob { id, sha256, bytes } => blobs::write(conn, *id, sha256, bytes),
        Op::DeleteBlob { id, sha256 } => blobs::delete(conn, *id, sha256),
        Op::Flush | Op::Close => Ok(0),
    }
}

impl From<Entry> for Op {
    fn from(entry: Entry) -> Self {
        match entry {
            Entry::Start { record } => Op::Start(record),
            Entry::Finish { record, images } => Op::Finish(record, images),
            Entry::Record { record } => Op::Record(record),
            Entry::Discard { request_id } => Op::Discard(request_id),
        }
    }
}

/// The write connection, shared by the task and the callers that commit on their own thread
/// while the task is idle (see `Writer::submit`).
pub(super) type SharedConn = Arc<Mutex<Connection>>;

/// The connection, even after a panic while it was held (SQLite rolled back what that left).
pub(super) fn hold(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `ops` on `conn`: one transaction, or a lone one-statement write autocommitted.
pub(super) fn commit(
    conn: &Connection,
    shared: &Shared,
    ops: &[&Op],
) -> Result<Vec<u64>, StoreError> {
    if let [op] = ops {
        if op.is_one_statement() {
            // A write of one statement is committed by SQLite on its own: no `BEGIN`
            // and `COMMIT` when it comes alone.
            let changed = apply(conn, op)?;
            shared.commits.fetch_add(1, Ordering::Relaxed);
            return Ok(vec![changed]);
        }
    }
    commit_in_transaction(conn, shared, ops)
}

/// Runs `ops` in one `BEGIN IMMEDIATE` transaction (the write lock taken at once, so a
/// reservation's check and insert see no other writer between them); a failed one is
/// rolled back.
fn commit_in_transaction(
    conn: &Connection,
    shared: &Shared,
    ops: &[&Op],
) -> Result<Vec<u64>, StoreError> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let written = (|| -> Result<Vec<u64>, StoreError> {
        let mut changed = Vec::with_capacity(ops.len());
        for op in ops {
            changed.push(apply(conn, op)?);
        }
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(changed)
    })();
    match written {
        Ok(changed) => {
            shared.commits.fetch_add(1, Ordering::Relaxed);
            Ok(changed)
        }
        Err(err) => {
            if !conn.is_autocommit() {
                if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                    tracing::warn!(
                        cause = %describe(&StoreError::from(rollback)),
                        "a failed usage transaction could not be rolled back"
                    );
                }
            }
            Err(err)
        }
    }
}

pub(super) struct Task {
    rx: mpsc::Receiver<Job>,
    conn: SharedConn,
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
    pub(super) fn new(
        rx: mpsc::Receiver<Job>,
        conn: SharedConn,
        spool: Option<Spool>,
        shared: Arc<Shared>,
        attempts: u32,
    ) -> Self {
        Self {
            rx,
            conn,
            spool,
            shared,
            attempts,
            last_flush: None,
            refusing_since: None,
            last_report: None,
        }
    }

    /// Takes batches until every store is gone or one asks to stop.
    pub(super) async fn run(mut self) {
        // Writes a previous process spooled are applied before anything else.
        self.flush_spool().await;
        let mut tick = tokio::time::interval(SPOOL_RETRY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut deferred_tick = tokio::time::interval(DEFER_FOR);
        deferred_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                biased;
                job = self.rx.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
                _ = deferred_tick.tick() => {
                    // Deferred writes no other transaction took lately.
                    if self.process(Vec::new()).await {
                        return;
                    }
                    continue;
                }
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
            if self.shared.restart_due.swap(false, Ordering::Relaxed) {
                self.finish_checkpoint();
            }
        }
        // Every store is gone: what is deferred, and one last try at the spool.
        self.process(Vec::new()).await;
        self.flush_spool().await;
    }

    /// Copies what the checkpointer left of the WAL, between two batches, so that the next
    /// transaction writes the WAL from its beginning again (see `sqlite::checkpoint`).
    fn finish_checkpoint(&self) {
        if let Err(err) = crate::sqlite::checkpoint::passive(&hold(&self.conn)) {
            tracing::debug!(cause = %describe(&err), "the writer's checkpoint failed");
        }
    }

    fn spool_pending(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| !s.is_empty())
    }

    /// Writes the deferred writes and a batch, then answers the batch's control messages;
    /// `true` when asked to stop.
    async fn process(&mut self, batch: Vec<Job>) -> bool {
        let mut writes = self.shared.take_deferred();
        let (control, queued): (Vec<Job>, Vec<Job>) = batch
            .into_iter()
            .partition(|job| matches!(job.op, Op::Flush | Op::Close));
        writes.extend(queued);
        if !writes.is_empty() {
            self.write(writes).await;
        }
        let mut stop = false;
        for job in control {
            if matches!(job.op, Op::Close) {
                // Writes on the callers' threads end here too.
                self.shared.closed.store(true, Ordering::Relaxed);
            }
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
        self.shared.settle(&job.op);
        job.answer(Ok(Written::Committed(rows)));
    }

    fn failed(&self, job: Job, err: StoreError) {
        self.shared.settle(&job.op);
        log_failure(&job.op, &err);
        job.answer(Err(err));
    }

    /// Runs `ops` in one transaction, retrying with growing pauses while the write lock is
    /// held elsewhere.
    async fn commit_with_retries(&self, ops: &[&Op]) -> Result<Vec<u64>, StoreError> {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            match self.commit(ops) {
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

    fn commit(&self, ops: &[&Op]) -> Result<Vec<u64>, StoreError> {
        commit(&hold(&self.conn), &self.shared, ops)
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
        self.shared.settle(&job.op);
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
        let applied = match self.commit(&refs) {
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
            match self.commit(&[op]) {
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
        self.shared.refusing.store(true, Ordering::Relaxed);
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
        self.shared.refusing.store(false, Ordering::Relaxed);
        if let Some(since) = self.refusing_since.take() {
            self.last_report = None;
            tracing::info!(
                refused_for_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the database takes usage writes again"
            );
        }
    }
}
