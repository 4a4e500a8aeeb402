//! Usage writes kept while Postgres is unreachable: the [`Spool`] file the SQLite store uses
//! (fsynced JSON lines, locked by one process), with the same budget: room for the finish of
//! every request in flight is reserved at its start, so a full spool refuses new requests,
//! never the outcome of one already paid for.
//!
//! While the spool holds writes, later writes join it (so a request's writes apply in order);
//! a flusher applies it, oldest first in one transaction, once the database answers again.
//! Every entry is idempotent, so a flush a crash interrupted counts nothing twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use artgen_core::domain::RequestId;
use sqlx::{PgConnection, PgPool};

use super::usage::apply;
use super::{describe, is_unreachable};
use crate::error::StoreError;
use crate::spool::{Budget, Entry, Spool};

/// The spool and its budget. Without a spool (none configured, capacity 0, or another process
/// holds the file) nothing is reserved and nothing kept.
#[derive(Debug)]
pub(super) struct Buffer {
    spool: tokio::sync::Mutex<Option<Spool>>,
    enabled: bool,
    budget: Mutex<Budget>,
    /// Whether the spool holds writes (later writes must join it).
    pending: AtomicBool,
}

impl Buffer {
    pub(super) fn new(spool: Option<Spool>, capacity: usize) -> Self {
        let spooled = spool.as_ref().map_or(0, Spool::len);
        let enabled = spool.is_some() && capacity > 0;
        Self {
            enabled,
            pending: AtomicBool::new(spooled > 0),
            spool: tokio::sync::Mutex::new(spool),
            budget: Mutex::new(Budget {
                enabled,
                capacity,
                spooled,
                reserved: HashSet::new(),
            }),
        }
    }

    fn budget(&self) -> MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether writes can be kept here.
    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The spool's capacity in records.
    pub(super) fn capacity(&self) -> usize {
        self.budget().capacity
    }

    /// Writes waiting in the spool.
    pub(super) fn len(&self) -> usize {
        self.budget().spooled
    }

    /// Whether the spool holds writes that must be applied before later ones.
    pub(super) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Reserves room for the finish of `request_id`; `false` when there is none. Always
    /// `true` without a spool.
    pub(super) fn reserve(&self, request_id: &RequestId) -> bool {
        self.budget().reserve(request_id)
    }

    /// Gives back the reservation of `request_id`, if it holds one.
    pub(super) fn release(&self, request_id: &RequestId) {
        self.budget().reserved.remove(request_id);
    }

    /// Keeps `entry` in the spool (fsynced before returning), on the reservation of
    /// `reserved_by` or a free place.
    ///
    /// # Errors
    /// [`StoreError::SpoolFull`] when there is no room (or no spool), [`StoreError::Io`] when
    /// the file cannot be written.
    pub(super) async fn keep(
        &self,
        entry: Entry,
        reserved_by: Option<&RequestId>,
    ) -> Result<(), StoreError> {
        let mut spool = self.spool.lock().await;
        let Some(file) = spool.as_mut().filter(|_| self.enabled) else {
            return Err(StoreError::SpoolFull { capacity: 0 });
        };
        if !self.budget().take(reserved_by) {
            return Err(StoreError::SpoolFull {
                capacity: self.capacity(),
            });
        }
        if let Err(err) = file.append(std::slice::from_ref(&entry)).await {
            self.budget().spooled -= 1;
            return Err(err);
        }
        self.pending.store(true, Ordering::Release);
        Ok(())
    }

    /// Applies every kept write in one transaction and empties the spool; how many. Does
    /// nothing (and returns 0) when the spool is empty.
    ///
    /// # Errors
    /// The database's error when it is still unreachable or refuses the batch (the spool is
    /// kept for the next attempt), [`StoreError::Io`] when the file cannot be read or cleared.
    pub(super) async fn flush(&self, pool: &PgPool) -> Result<usize, StoreError> {
        if !self.pending() {
            return Ok(0);
        }
        // A connection first, so writers are not held up while the database is down.
        let mut conn = pool.acquire().await?;
        let mut spool = self.spool.lock().await;
        let Some(file) = spool.as_mut() else {
            return Ok(0);
        };
        let entries = file.read().await?;
        match apply_all(&mut conn, &entries).await {
            Ok(()) => {}
            Err(err) if is_unreachable(&err) => return Err(err),
            Err(err) => {
                // A write breaks a row rule: apply them one by one, so only that one fails.
                tracing::warn!(
                    error = %describe(&err),
                    "a batch of kept usage writes was refused; applying them one by one"
                );
                for entry in &entries {
                    match apply(&mut conn, entry).await {
                        Ok(_) => {}
                        Err(err) if is_unreachable(&err) => return Err(err),
                        Err(err) => tracing::error!(
                            request_id = %entry_request_id(entry),
                            error = %describe(&err),
                            "a kept usage write is refused by the database and dropped"
                        ),
                    }
                }
            }
        }
        file.clear().await?;
        self.budget().spooled = 0;
        self.pending.store(false, Ordering::Release);
        tracing::info!(
            spool = %file.path().display(),
            writes = entries.len(),
            "the database answers again; the usage writes kept meanwhile are applied"
        );
        Ok(entries.len())
    }
}

async fn apply_all(conn: &mut PgConnection, entries: &[Entry]) -> Result<(), StoreError> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    for entry in entries {
        apply(&mut tx, entry).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The request an entry is about (never the row itself: it holds a prompt).
fn entry_request_id(entry: &Entry) -> &RequestId {
    match entry {
        Entry::Start { record } | Entry::Finish { record, .. } | Entry::Record { record } => {
            &record.request_id
        }
        Entry::Discard { request_id } => request_id,
    }
}
