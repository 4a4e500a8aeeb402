//! The usage journal (`<database>-started.jsonl`, named for what it first held): where a
//! request's `started` usage row goes before the upstream call, and its finished row before
//! the answer, instead of SQLite transactions on the response path.
//!
//! A started row is read back only when the request never finishes (a crash) or when
//! somebody lists usage while the request is in flight. Committing it to the `usage` table
//! cost a transaction's worth of B-tree pages per request (the row and its six indexes),
//! which the finish then rewrote a few milliseconds later. Here it is one line appended to
//! the file (one `write`, into the page cache: it survives a crash of the process as a
//! commit with `synchronous = NORMAL` does) and an entry in memory. The finish is a line too
//! (the whole row and its images' rows); the store then hands it to the usage writer as a
//! deferred write, which the writer's thread commits with its next batch, and the entry is
//! forgotten once that is durable. At open, the finishes an earlier process left are applied
//! again (a finish is idempotent).
//!
//! The table stays the truth for readers: before usage is listed or summarised, the store
//! folds the entries still in flight into the table as `started` rows, with the deferred
//! finishes (one group commit); before a budget is checked, those of the budget's user or
//! organisation; before expired holds are swept, all of them; before the image index is
//! read, the deferred finishes. Recovery folds the starts of a process that died as
//! `unknown` at their estimate. A lookup of one request reads the entry directly. Discards
//! are appended too, so that a crash does not bring a refused request back.
//!
//! The file only grows between rotations: past [`ROTATE_AT`] bytes it is rewritten with the
//! entries still in flight (a temporary file renamed over it, so a crash during the rewrite
//! leaves one whole file or the other). It is used only by the store that owns the spool
//! (the spool's lock makes it the one writer), only with crash durability (with power-loss
//! durability a start and a finish are committed, fsynced rows as before) and only with the
//! spool on: a journaled start proves nothing about the database, so the request goes
//! upstream on the spool room its start reserved for the finish.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use artgen_core::domain::{RequestId, UsageRecord};
use artgen_core::ports::ImageMeta;

use crate::error::{io_error, StoreError};
use crate::spool::Entry;

/// Bytes the file may grow to before it is rewritten with the entries in flight.
pub(super) const ROTATE_AT: u64 = 16 * 1024 * 1024;

/// The journal of one database, owned by its store.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    rotate_at: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// Bytes in the file.
    len: u64,
    /// The size past which the file is rewritten next.
    rotate_past: u64,
    /// Every start neither finished, discarded nor folded into the table, by request.
    pending: HashMap<RequestId, Pending>,
}

/// A request in flight: what selects it without decoding it, and its latest line.
#[derive(Debug, Clone)]
struct Pending {
    user: Box<str>,
    org: Option<Box<str>>,
    created_at_ms: i64,
    /// `Entry::Start` as JSON, with its newline, while the request runs and its started row
    /// is not in the table.
    start: Option<Box<[u8]>>,
    /// `Entry::Finish` as JSON, with its newline, from the finish until its write is
    /// committed or spooled.
    finish: Option<Box<[u8]>>,
}

impl Pending {
    fn new(record: &UsageRecord) -> Self {
        Self {
            user: record.user.as_str().into(),
            org: record.org.as_deref().map(Into::into),
            created_at_ms: record.created_at_ms,
            start: None,
            finish: None,
        }
    }

    /// The line a rewrite keeps.
    fn line(&self) -> &[u8] {
        self.finish
            .as_deref()
            .or(self.start.as_deref())
            .unwrap_or_default()
    }
}

/// What selects a start in flight (see [`Journal::pending`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner<'a> {
    /// The request's user.
    pub(super) user: &'a str,
    /// The user's organisation.
    pub(super) org: Option<&'a str>,
    /// When the request started (Unix ms).
    pub(super) created_at_ms: i64,
}

/// Opens a file for appending, creating it private to its owner on Unix.
fn open_append(path: &Path, truncate: bool) -> Result<File, StoreError> {
    let mut options = std::fs::OpenOptions::new();
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    options.read(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map_err(io_error(path))
}

/// A journal line as JSON, with its newline.
fn line_of(entry: &impl serde::Serialize) -> Result<Box<[u8]>, StoreError> {
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    Ok(line.into_boxed_slice())
}

/// [`Entry::Start`], written from a borrowed row (read back as an [`Entry`]).
#[derive(serde::Serialize)]
#[serde(tag = "op", rename = "start")]
struct StartLine<'a> {
    record: &'a UsageRecord,
}

/// [`Entry::Finish`], written from borrowed rows (read back as an [`Entry`]).
#[derive(serde::Serialize)]
#[serde(tag = "op", rename = "finish")]
struct FinishLine<'a> {
    record: &'a UsageRecord,
    #[serde(skip_serializing_if = "<[ImageMeta]>::is_empty")]
    images: &'a [ImageMeta],
}

/// The row of a start or a finish line.
fn record_of(line: &[u8]) -> Option<UsageRecord> {
    match serde_json::from_slice(line) {
        Ok(Entry::Start { record } | Entry::Finish { record, .. }) => Some(record),
        _ => None,
    }
}

impl Journal {
    /// Opens the journal at `path` (creating it), taking in the starts an earlier process
    /// left in flight (less those it discarded), and rewrites it with only those. Blocking:
    /// call it where a thread may wait for the disk.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be read or rewritten.
    pub(super) fn open(path: PathBuf, rotate_at: u64) -> Result<Self, StoreError> {
        let mut file = open_append(&path, false)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io_error(&path))?;
        let mut pending = HashMap::new();
        for (number, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let kept = || {
                let mut kept = line.to_vec();
                kept.push(b'\n');
                Some(kept.into_boxed_slice())
            };
            match serde_json::from_slice::<Entry>(line) {
                Ok(Entry::Start { record }) => {
                    let entry = pending
                        .entry(record.request_id.clone())
                        .or_insert_with(|| Pending::new(&record));
                    if entry.finish.is_none() {
                        entry.start = kept();
                    }
                }
                // Applied again after the restart: a finish is idempotent.
                Ok(Entry::Finish { record, .. }) => {
                    let entry = pending
                        .entry(record.request_id.clone())
                        .or_insert_with(|| Pending::new(&record));
                    entry.start = None;
                    entry.finish = kept();
                }
                Ok(Entry::Discard { request_id }) => {
                    pending.remove(&request_id);
                }
                Ok(Entry::Record { .. }) => {}
                // A line a crash tore was never acknowledged: its request was not sent.
                Err(err) => tracing::warn!(
                    journal = %path.display(),
                    line = number + 1,
                    error = %err,
                    "a started usage row cannot be read and is skipped"
                ),
            }
        }
        let journal = Self {
            path,
            rotate_at,
            state: Mutex::new(State {
                file,
                len: u64::try_from(text.len()).unwrap_or(u64::MAX),
                rotate_past: 0,
                pending,
            }),
        };
        {
            let mut state = journal.state();
            journal.rotate(&mut state)?;
        }
        Ok(journal)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `record` as started: once this returns, a crash leaves it for recovery.
    ///
    /// # Errors
    /// [`StoreError::Json`] when the row cannot be encoded, [`StoreError::Io`] when the file
    /// cannot be written (the entry is then not kept).
    pub(super) fn start(&self, record: &UsageRecord) -> Result<(), StoreError> {
        let line = line_of(&StartLine { record })?;
        self.append_for(record, line, |entry, line| entry.start = Some(line))
    }

    /// Records the outcome `record` of a request and the rows of its images: once this
    /// returns, a crash leaves it to be applied at the next start. The caller then writes it
    /// to the database and calls [`Journal::settled`] once that is durable.
    ///
    /// # Errors
    /// [`StoreError::Json`] when the row cannot be encoded, [`StoreError::Io`] when the file
    /// cannot be written (the entry is then as before).
    pub(super) fn finish(
        &self,
        record: &UsageRecord,
        images: &[ImageMeta],
    ) -> Result<(), StoreError> {
        let line = line_of(&FinishLine { record, images })?;
        self.append_for(record, line, |entry, line| {
            entry.start = None;
            entry.finish = Some(line);
        })
    }

    /// Appends `line` about the request of `record`, lets `keep` put it in the request's
    /// entry (made if missing), and rewrites the file when due.
    fn append_for(
        &self,
        record: &UsageRecord,
        line: Box<[u8]>,
        keep: impl FnOnce(&mut Pending, Box<[u8]>),
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        append(&self.path, &mut state, &line)?;
        let entry = state
            .pending
            .entry(record.request_id.clone())
            .or_insert_with(|| Pending::new(record));
        keep(entry, line);
        self.rotate_when_due(&mut state);
        Ok(())
    }

    /// Rewrites the file with only the entries in flight. Blocking.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be rewritten.
    pub(super) fn compact(&self) -> Result<(), StoreError> {
        let mut state = self.state();
        self.rotate(&mut state)
    }

    /// Rewrites the file when it grew past its limit; a failure is logged and appending goes
    /// on, the next try one rotation's worth of bytes later.
    fn rotate_when_due(&self, state: &mut State) {
        if state.len <= state.rotate_past {
            return;
        }
        if let Err(err) = self.rotate(state) {
            state.rotate_past = state.len.saturating_add(self.rotate_at);
            tracing::warn!(
                journal = %self.path.display(),
                error = %super::writer::describe(&err),
                "the usage journal cannot be rewritten; it keeps growing"
            );
        }
    }

    /// Forgets `request_id`: its finished row is durable in the database (committed or
    /// spooled).
    pub(super) fn settled(&self, request_id: &RequestId) {
        self.state().pending.remove(request_id);
    }

    /// Forgets the start of `request_id` and records that it was discarded, so that a crash
    /// does not recover it.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be written.
    pub(super) fn discard(&self, request_id: &RequestId) -> Result<(), StoreError> {
        let line = line_of(&Entry::Discard {
            request_id: request_id.clone(),
        })?;
        let mut state = self.state();
        state.pending.remove(request_id);
        append(&self.path, &mut state, &line)
    }

    /// The row of `request_id` if it is in flight here, and whether it is its outcome
    /// (finished) rather than its start.
    pub(super) fn get(&self, request_id: &RequestId) -> Option<(UsageRecord, bool)> {
        let (line, finished) = {
            let state = self.state();
            let entry = state.pending.get(request_id)?;
            (entry.line().to_vec(), entry.finish.is_some())
        };
        record_of(&line).map(|record| (record, finished))
    }

    /// The started rows in flight (not finished, not in the table) that `keep` selects
    /// (only those are decoded).
    pub(super) fn pending(&self, keep: impl Fn(Owner<'_>) -> bool) -> Vec<UsageRecord> {
        let lines: Vec<Box<[u8]>> = self
            .state()
            .pending
            .values()
            .filter(|entry| {
                keep(Owner {
                    user: &entry.user,
                    org: entry.org.as_deref(),
                    created_at_ms: entry.created_at_ms,
                })
            })
            .filter_map(|entry| entry.start.clone())
            .collect();
        lines.iter().filter_map(|line| record_of(line)).collect()
    }

    /// The finishes an earlier process journaled and may not have written: each with the
    /// rows of its images, to be applied again.
    pub(super) fn finishes(&self) -> Vec<(UsageRecord, Vec<ImageMeta>)> {
        let lines: Vec<Box<[u8]>> = self
            .state()
            .pending
            .values()
            .filter_map(|entry| entry.finish.clone())
            .collect();
        lines
            .iter()
            .filter_map(|line| match serde_json::from_slice(line) {
                Ok(Entry::Finish { record, images }) => Some((record, images)),
                _ => None,
            })
            .collect()
    }

    /// Forgets the starts of `requests`: they are rows of the table now (a request that
    /// finished meanwhile keeps its finish until that is written).
    pub(super) fn folded(&self, requests: &[RequestId]) {
        let mut state = self.state();
        for request_id in requests {
            if state
                .pending
                .get(request_id)
                .is_some_and(|entry| entry.finish.is_none())
            {
                state.pending.remove(request_id);
            }
        }
    }

    /// How many starts are in flight.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.state().pending.len()
    }

    /// Rewrites the file with only the entries in flight: a temporary file beside it,
    /// renamed over it, then appended to.
    fn rotate(&self, state: &mut State) -> Result<(), StoreError> {
        let mut temporary = self.path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = open_append(&temporary, true)?;
        let mut text = Vec::with_capacity(state.pending.values().map(|e| e.line().len()).sum());
        for entry in state.pending.values() {
            text.extend_from_slice(entry.line());
        }
        file.write_all(&text).map_err(io_error(&temporary))?;
        std::fs::rename(&temporary, &self.path).map_err(io_error(&self.path))?;
        state.file = file;
        state.len = u64::try_from(text.len()).unwrap_or(u64::MAX);
        state.rotate_past = state.len.saturating_add(self.rotate_at);
        Ok(())
    }
}

/// Appends `line` in one `write`.
fn append(path: &Path, state: &mut State, line: &[u8]) -> Result<(), StoreError> {
    state.file.write_all(line).map_err(io_error(path))?;
    state.len = state
        .len
        .saturating_add(u64::try_from(line.len()).unwrap_or(u64::MAX));
    Ok(())
}

#[cfg(test)]
mod tests {
    use artgen_core::testing::conformance::usage::started;

    use super::*;

    fn lines(path: &Path) -> usize {
        std::fs::read(path)
            .expect("readable")
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    }

    #[test]
    fn starts_in_flight_survive_a_reopen_and_finished_or_discarded_ones_do_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db-started.jsonl");
        let (running, done, refused) = (
            started("ann", 1_000),
            started("bo", 2_000),
            started("cy", 3_000),
        );
        {
            let journal = Journal::open(path.clone(), ROTATE_AT).expect("opens");
            for record in [&running, &done, &refused] {
                journal.start(record).expect("appends");
            }
            journal.settled(&done.request_id);
            journal.discard(&refused.request_id).expect("appends");
            assert_eq!(
                journal.get(&running.request_id),
                Some((running.clone(), false))
            );
            assert_eq!(journal.get(&done.request_id), None);
            assert_eq!(journal.len(), 1);
        }
        // A finish committed at once left no line (its row is in the table); a reopen keeps
        // `done` in flight, for recovery to find its row there.
        let reopened = Journal::open(path.clone(), ROTATE_AT).expect("reopens");

        let mut ids: Vec<_> = reopened
            .pending(|_| true)
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut expected = vec![running.request_id.clone(), done.request_id.clone()];
        expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(ids, expected, "the discarded start is not brought back");
        assert_eq!(
            lines(&path),
            2,
            "rewritten at open with only those in flight"
        );
    }

    #[test]
    fn the_file_is_rewritten_with_the_starts_in_flight_past_its_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db-started.jsonl");
        let journal = Journal::open(path.clone(), 4096).expect("opens");
        let kept = started("ann", 1);
        journal.start(&kept).expect("appends");
        let mut most = 0;
        for at in 0..200 {
            let record = started("bo", at);
            journal.start(&record).expect("appends");
            journal.settled(&record.request_id);
            most = most.max(std::fs::metadata(&path).expect("exists").len());
        }

        assert!(most < 8192, "the file stays near its limit: {most} bytes");
        assert_eq!(journal.get(&kept.request_id), Some((kept.clone(), false)));
        drop(journal);
        let reopened = Journal::open(path, 4096).expect("reopens");
        assert!(
            reopened
                .pending(|_| true)
                .iter()
                .any(|r| r.request_id == kept.request_id),
            "the start in flight outlives every rewrite"
        );
        assert!(
            !dir.path().join("db-started.jsonl.tmp").exists(),
            "no temporary file is left"
        );
    }

    #[test]
    fn a_journaled_finish_outlives_a_reopen_until_it_is_settled() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db-started.jsonl");
        let record = started("ann", 1_000);
        let mut outcome = record.clone();
        outcome.status = artgen_core::domain::UsageStatus::Succeeded;
        outcome.images = 1;
        {
            let journal = Journal::open(path.clone(), ROTATE_AT).expect("opens");
            journal.start(&record).expect("appends");
            journal.finish(&outcome, &[]).expect("appends");
            assert!(
                journal.pending(|_| true).is_empty(),
                "no longer a start to fold"
            );
            journal.folded(std::slice::from_ref(&record.request_id));
            assert_eq!(
                journal.get(&record.request_id),
                Some((outcome.clone(), true)),
                "a fold of its start keeps the finish"
            );
        }
        let reopened = Journal::open(path.clone(), ROTATE_AT).expect("reopens");
        assert_eq!(reopened.finishes(), vec![(outcome.clone(), Vec::new())]);
        assert!(reopened.pending(|_| true).is_empty());
        assert_eq!(lines(&path), 1, "only the finish is kept");

        reopened.settled(&record.request_id);
        assert!(reopened.finishes().is_empty());
        assert_eq!(reopened.get(&record.request_id), None);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db-started.jsonl");
        let kept = started("ann", 1);
        {
            let journal = Journal::open(path.clone(), ROTATE_AT).expect("opens");
            journal.start(&kept).expect("appends");
        }
        let mut text = std::fs::read(&path).expect("readable");
        text.extend_from_slice(br#"{"op":"start","rec"#);
        std::fs::write(&path, &text).expect("torn line written");

        let reopened = Journal::open(path.clone(), ROTATE_AT).expect("reopens");

        assert_eq!(reopened.pending(|_| true), vec![kept]);
        assert_eq!(lines(&path), 1);
    }
}
