//! The usage spool: an append-only JSON-lines file that keeps usage writes the database
//! refused (locked, full, failing, unreachable), until the store applies them. The SQLite
//! store keeps it next to its database, the Postgres store in the data folder.
//!
//! Each append is fsynced before the writes it holds are acknowledged, so a spooled write
//! survives a crash and a power loss like a committed one. The file is locked (an advisory
//! exclusive lock) by the one store that owns it: another process opening the same database
//! (`artgen keys …` next to a running server) neither replays nor appends to it. A line torn
//! by a crash during an append was never acknowledged and is cut off at open.
//!
//! Every entry is idempotent (inserts ignore an existing row; a finish only replaces a row
//! still `started` or `unknown`; a discard only removes a `started` row), so replaying a
//! spool whose clearing a crash interrupted counts nothing twice.

use std::collections::HashSet;
use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};

use artgen_core::domain::{RequestId, UsageRecord};
use artgen_core::ports::ImageMeta;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use crate::error::{io_error, StoreError};

/// One spooled write.
/// Room in a spool: what it holds plus what is reserved for the finishes of requests in
/// flight, never more than its capacity. Both usage writers (SQLite's and Postgres's) keep one.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// Whether writes may be spooled: the store owns the spool and its capacity is not zero
    /// (else nothing is reserved and nothing spooled).
    pub(crate) enabled: bool,
    pub(crate) capacity: usize,
    pub(crate) spooled: usize,
    pub(crate) reserved: HashSet<RequestId>,
}

impl Budget {
    pub(crate) fn has_room(&self) -> bool {
        self.spooled + self.reserved.len() < self.capacity
    }

    /// Takes one place for an entry: the reservation of `reserved_by` if it holds one, else
    /// a free place.
    pub(crate) fn take(&mut self, reserved_by: Option<&RequestId>) -> bool {
        let converted = reserved_by.is_some_and(|id| self.reserved.remove(id));
        if converted || self.has_room() {
            self.spooled += 1;
            true
        } else {
            false
        }
    }

    /// Reserves room for the finish of `request_id`; `false` when there is none. Always
    /// `true` when spooling is off.
    pub(crate) fn reserve(&mut self, request_id: &RequestId) -> bool {
        if !self.enabled {
            return true;
        }
        if !self.has_room() {
            return false;
        }
        self.reserved.insert(request_id.clone());
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Entry {
    /// A started row.
    Start {
        /// The row.
        record: UsageRecord,
    },
    /// A finished row, and the metadata rows of the images its answer carries (written in
    /// the same transaction; absent in entries spooled before images had rows).
    Finish {
        /// The row.
        record: UsageRecord,
        /// The images' rows.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<ImageMeta>,
    },
    /// A row written once.
    Record {
        /// The row.
        record: UsageRecord,
    },
    /// The removal of a started row.
    Discard {
        /// Its request.
        request_id: RequestId,
    },
}

/// The spool file, locked by this store.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    file: tokio::fs::File,
    /// Entries in the file.
    len: usize,
}

impl Spool {
    /// Opens (creating it with mode `0600` on Unix) and locks the spool at `path`, cutting off
    /// a torn last line. `Ok(None)` when another store holds the lock.
    pub(crate) async fn open(path: PathBuf) -> Result<Option<Self>, StoreError> {
        let opened = tokio::task::spawn_blocking(move || open_locked(path))
            .await
            .map_err(|join| StoreError::Unavailable(format!("opening the spool: {join}")))??;
        Ok(opened)
    }

    /// Where the spool lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// How many entries wait in it.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits in it.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `entries` and fsyncs them.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be written or synced,
    /// [`StoreError::Json`] when an entry cannot be encoded.
    pub(crate) async fn append(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        let mut text = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut text, entry)?;
            text.push(b'\n');
        }
        let path = &self.path;
        self.file.write_all(&text).await.map_err(io_error(path))?;
        self.file.flush().await.map_err(io_error(path))?;
        self.file.sync_data().await.map_err(io_error(path))?;
        self.len += entries.len();
        Ok(())
    }

    /// Every entry, oldest first. A line that cannot be read back is logged and skipped.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be read.
    pub(crate) async fn read(&self) -> Result<Vec<Entry>, StoreError> {
        let text = tokio::fs::read(&self.path)
            .await
            .map_err(io_error(&self.path))?;
        let mut entries = Vec::new();
        for (number, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice(line) {
                Ok(entry) => entries.push(entry),
                Err(err) => tracing::error!(
                    spool = %self.path.display(),
                    line = number + 1,
                    error = %err,
                    "a spooled usage write cannot be read and is skipped"
                ),
            }
        }
        Ok(entries)
    }

    /// Empties the file (its entries have been applied).
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be truncated or synced.
    pub(crate) async fn clear(&mut self) -> Result<(), StoreError> {
        let path = &self.path;
        self.file.set_len(0).await.map_err(io_error(path))?;
        self.file.sync_data().await.map_err(io_error(path))?;
        self.len = 0;
        Ok(())
    }
}

fn open_locked(path: PathBuf) -> Result<Option<Spool>, StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io_error(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(err)) => return Err(io_error(&path)(err)),
    }
    let mut text = Vec::new();
    file.rewind().map_err(io_error(&path))?;
    file.read_to_end(&mut text).map_err(io_error(&path))?;
    let whole = text
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    if whole < text.len() {
        tracing::warn!(
            spool = %path.display(),
            bytes = text.len() - whole,
            "cutting off a usage write torn by a crash (it was never acknowledged)"
        );
        let keep = u64::try_from(whole).unwrap_or(u64::MAX);
        file.set_len(keep).map_err(io_error(&path))?;
        file.sync_data().map_err(io_error(&path))?;
    }
    let len = text[..whole]
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    Ok(Some(Spool {
        path,
        file: tokio::fs::File::from_std(file),
        len,
    }))
}

#[cfg(test)]
mod tests {
    use artgen_core::domain::RequestId;

    use super::*;

    #[tokio::test]
    async fn entries_survive_a_reopen_and_a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("spool.jsonl");
        let discard = Entry::Discard {
            request_id: RequestId::generate(),
        };
        {
            let mut spool = Spool::open(path.clone())
                .await
                .expect("opens")
                .expect("not locked");
            spool
                .append(std::slice::from_ref(&discard))
                .await
                .expect("appends");
        }
        let mut text = std::fs::read(&path).expect("readable");
        text.extend_from_slice(br#"{"op":"disc"#);
        std::fs::write(&path, &text).expect("torn line written");

        let spool = Spool::open(path.clone())
            .await
            .expect("opens")
            .expect("not locked");

        assert_eq!(spool.len(), 1);
        assert_eq!(spool.read().await.expect("reads"), vec![discard]);
        assert!(std::fs::read(&path).expect("readable").ends_with(b"\n"));
    }

    #[tokio::test]
    async fn a_second_opener_does_not_get_the_spool() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("spool.jsonl");
        let first = Spool::open(path.clone()).await.expect("opens");

        let second = Spool::open(path.clone()).await.expect("opens");

        assert!(first.is_some());
        assert!(second.is_none(), "the lock is held by the first");
        drop(first);
        assert!(Spool::open(path).await.expect("opens").is_some());
    }
}
