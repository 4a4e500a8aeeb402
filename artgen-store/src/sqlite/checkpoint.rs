//! The checkpointer: a thread of its own that copies the WAL into the database file, so the
//! usage writer never does.
//!
//! SQLite checkpoints on the connection that commits once the WAL passes 1,000 pages; on the
//! usage writer that meant a copy of those pages and two `fsync`s every hundred requests or
//! so, milliseconds during which no request's usage row could commit. Here the writer's
//! connection has automatic checkpoints off and this thread, on a connection of its own, runs
//! a passive checkpoint (it never waits for, nor blocks, a writer or a reader) every
//! [`EVERY`]; a checkpoint with nothing to copy costs a read of the WAL index. The WAL starts
//! over from its beginning once a checkpoint has copied all of it. The thread ends when the
//! writer does; the last connection to close checkpoints what is left.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// How often the WAL is copied into the database file.
pub(super) const EVERY: Duration = Duration::from_millis(200);

/// WAL pages left uncopied above which the checkpointer reports it is held back.
const HELD_BACK_PAGES: i64 = 10_000;

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
    /// Starts checkpointing the database file at `path` on a connection of its own.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] when the connection cannot be opened,
    /// [`StoreError::Unavailable`] when the thread cannot start.
    pub(super) fn spawn(path: &Path) -> Result<Self, StoreError> {
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
                    checkpoint(&conn, &mut reported);
                }
            })
            .map_err(|err| {
                StoreError::Unavailable(format!("the checkpointer's thread cannot start: {err}"))
            })?;
        Ok(Self { _stop: stop })
    }
}

/// One passive checkpoint. A failure, or a WAL that stays long because readers hold old
/// snapshots, is logged at most every [`REPORT_EVERY`] (`reported` says when it last was): the
/// next checkpoint tries again, and the WAL keeps every commit meanwhile.
fn checkpoint(conn: &rusqlite::Connection, reported: &mut Option<Instant>) {
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    let due = reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
    match result {
        Ok((wal_pages, copied)) if wal_pages - copied > HELD_BACK_PAGES && due => {
            *reported = Some(Instant::now());
            tracing::warn!(
                wal_pages,
                copied,
                "the WAL cannot be copied into the database in full: readers hold old snapshots"
            );
        }
        Ok(_) => {}
        Err(err) if due => {
            *reported = Some(Instant::now());
            tracing::warn!(
                error = %super::writer::describe(&StoreError::from(err)),
                "a WAL checkpoint failed"
            );
        }
        Err(_) => {}
    }
}
