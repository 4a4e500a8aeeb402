//! The checkpointer: a thread of its own that copies the WAL into the database file, so the
//! usage writer rarely waits for it.
//!
//! SQLite checkpoints on the connection that commits once the WAL passes 1,000 pages; on the
//! usage writer that meant a copy of those pages and two `fsync`s every hundred requests or
//! so, milliseconds during which no request's usage row could commit. Here the writer's
//! connection has automatic checkpoints off, and this thread, on a connection of its own,
//! runs a passive checkpoint every [`EVERY`]: it copies what is committed without waiting for
//! or blocking the writer or a reader (one with nothing to copy costs a read of the WAL
//! index).
//!
//! Passive checkpoints alone never catch up with a writer that keeps committing, so the WAL
//! would grow without end: it starts over from its beginning only once a checkpoint copied
//! all of it. So once the WAL holds [`RESTART_PAGES`] pages, this thread raises a flag and
//! the writer, between two batches, runs one passive checkpoint itself: with no transaction
//! of its own in the way it copies the few pages left, and its next transaction writes the
//! WAL from the beginning again. The writer still waits for that short step, about a
//! quarter as often as it checkpointed on its own and without the bulk of the copy.
//!
//! The thread ends when the writer does; the last connection to close checkpoints what is
//! left.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// How often the WAL is copied into the database file.
pub(super) const EVERY: Duration = Duration::from_millis(50);

/// WAL pages from which the WAL is started over (64 MiB of 4 KiB pages).
pub(super) const RESTART_PAGES: i64 = 16_384;

/// WAL pages above which the checkpointer reports it is held back (readers keeping old
/// snapshots stop even the writer's checkpoint).
const HELD_BACK_PAGES: i64 = 4 * RESTART_PAGES;

/// How often a held-back checkpointer says so again.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The checkpointer thread's name.
const THREAD_NAME: &str = "artgen-checkpoint";

/// Keeps the checkpointer running; dropping it stops the thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database file at `path` on a connection of its own, raising
    /// `restart_due` when the writer should finish a checkpoint so the WAL starts over.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the connection cannot be opened,
    /// [`StoreError::Unavailable`] when the thread cannot start.
    pub(super) fn spawn(path: &Path, restart_due: Arc<AtomicBool>) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                let mut reported: Option<Instant> = None;
                // Ends when the sender is dropped (or sends, which nothing does).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if checkpoint(&conn, &mut reported) {
                        restart_due.store(true, Ordering::Relaxed);
                    }
                }
            })
            .map_err(|err| {
                StoreError::Unavailable(format!("the checkpointer's thread cannot start: {err}"))
            })?;
        Ok(Self { _stop: stop })
    }
}

/// One passive checkpoint; `true` when the WAL is long enough to start over. A failure, or a
/// WAL that stays long because readers hold old snapshots, is logged at most every
/// [`REPORT_EVERY`] (`reported` says when it last was): the next tick tries again, and the
/// WAL keeps every commit meanwhile.
fn checkpoint(conn: &rusqlite::Connection, reported: &mut Option<Instant>) -> bool {
    let result = passive(conn);
    let due = reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
    match result {
        Ok(wal_pages) => {
            if wal_pages > HELD_BACK_PAGES && due {
                *reported = Some(Instant::now());
                tracing::warn!(
                    wal_pages,
                    "the WAL cannot be started over: readers hold old snapshots"
                );
            }
            wal_pages >= RESTART_PAGES
        }
        Err(err) => {
            if due {
                *reported = Some(Instant::now());
                tracing::warn!(
                    error = %super::writer::describe(&err),
                    "a WAL checkpoint failed"
                );
            }
            false
        }
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: the pages in the WAL.
///
/// # Errors
/// [`StoreError::Sqlite`] when the checkpoint fails.
pub(super) fn passive(conn: &rusqlite::Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        row.get::<_, i64>(1)
    })?)
}
