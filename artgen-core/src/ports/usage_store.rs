//! The port to durable usage accounting.
//!
//! # A request's row
//!
//! The service writes a request's row twice: [`UsageStore::start`] before the upstream call
//! (status [`Started`](crate::domain::UsageStatus::Started), cost = the estimate), so a crash during the call
//! never loses its spend, and [`UsageStore::finish`] after it (status `succeeded` or `failed`,
//! the actuals). The answer leaves only after `finish` returned. A request refused locally
//! before it reached the upstream (a full queue, an open circuit) has its started row removed
//! with [`UsageStore::discard`]. Rows still `started` when the process died are marked
//! [`Unknown`](crate::domain::UsageStatus::Unknown) at their estimate by [`UsageStore::recover_unfinished`],
//! which the composition root calls once at start.
//!
//! [`UsageStore::record`] writes a finished row in one go, for callers that write once.

use async_trait::async_trait;

use crate::domain::{RequestId, UsageQuery, UsageRecord, UsageSummary, UsageSummaryQuery};
use crate::error::Result;
use crate::ports::ImageMeta;

/// Records and reads usage rows.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Writes one finished record durably before returning.
    ///
    /// Writing a record whose `request_id` already exists MUST succeed without creating a
    /// second row or changing the first (retried writes are never counted twice).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn record(&self, record: &UsageRecord) -> Result<()>;

    /// Records, durably before returning, that the request `record` describes is about to be
    /// sent upstream. The caller passes status [`UsageStatus::Started`](crate::domain::UsageStatus::Started) and `cost` equal to
    /// `estimated_cost`; the store keeps them as given. Starting a request id that already has
    /// a row MUST succeed without changing that row.
    ///
    /// The caller sends nothing upstream unless this returned `Ok`, so an adapter that cannot
    /// make the row durable now MUST fail rather than accept the row without keeping it.
    ///
    /// # Errors
    /// `storage_unavailable` (kind unavailable) when the row cannot be made durable right now
    /// (the database is locked or down and there is no room to keep the row elsewhere): the
    /// caller refuses the request before spending. `internal_error` for any other failure.
    async fn start(&self, record: &UsageRecord) -> Result<()>;

    /// Completes the row of `record.request_id` with its outcome (status `succeeded` or
    /// `failed`) and actuals, durably before returning.
    ///
    /// The row is replaced when it is `started` or `unknown` (recovery may have marked it
    /// before a late finish arrived); a row already `succeeded` or `failed` is kept as it is;
    /// a missing row is inserted. The request has been paid for, so an adapter MUST NOT lose a
    /// finish because its backend is briefly unavailable: it retries, or keeps the record
    /// durably elsewhere (a spool) and applies it later, and returns `Ok` only then.
    ///
    /// `images` are the metadata rows of the images the answer carries (empty for a failure):
    /// they are written in the same transaction as the usage row (and kept with it in any
    /// spool), each inserted unless a row of its id exists, so that an answered image always
    /// has its row and no extra commit is paid for it. They are read back through the
    /// [`ImageIndex`](crate::ports::ImageIndex) of the same backend.
    ///
    /// # Errors
    /// `internal_error` when the outcome could be made durable nowhere; the caller must then
    /// not send the answer.
    async fn finish(&self, record: &UsageRecord, images: &[ImageMeta]) -> Result<()>;

    /// Removes the `started` row of a request that was refused locally before it reached the
    /// upstream (rows are only for requests that reach the upstream). A row in any other
    /// status, or no row at all, is left alone and the call succeeds.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn discard(&self, request_id: &RequestId) -> Result<()>;

    /// Marks every row still `started` that was created before `before_ms` (Unix ms) as
    /// [`UsageStatus::Unknown`](crate::domain::UsageStatus::Unknown), with `cost` set to its estimate, and returns how many.
    ///
    /// Call it once at start, before serving, when no request of an earlier process can
    /// still finish: those rows are requests a crash interrupted, whose upstream call may or
    /// may not have been billed. An adapter shared by several processes MUST leave rows
    /// alone that a live process may still finish (and may then return 0).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn recover_unfinished(&self, before_ms: i64) -> Result<u64>;

    /// Empties the prompt of every record created before `before_ms` (Unix ms), for
    /// retention: the record's counts, tokens and cost stay. Returns how many records
    /// changed; a record whose prompt is already empty does not count.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn forget_prompts(&self, before_ms: i64) -> Result<u64>;

    /// Reads records matching the query, newest first: by `created_at_ms` descending, then
    /// `request_id` descending. With `query.after` set, only the records strictly after that
    /// position in this order, so paging with the cursor of each page's last record neither
    /// repeats nor skips a record, whatever is written between the pages (a record written
    /// meanwhile with a time inside the pages read so far is not shown).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn list(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>>;

    /// The record of one request, in whatever status it stands, or `None` when the store has
    /// no row of that id (never written, discarded, or a write still waiting in a spool).
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn get(&self, request_id: &RequestId) -> Result<Option<UsageRecord>>;

    /// Totals of the records created in `[query.from_ms, query.to_ms)` (of `query.user`
    /// only, when set), one [`UsageSummary`] per group of `query.group_by`, ordered by key
    /// ascending (`None` first). Groups without records are absent; an empty or inverted
    /// period gives no groups. The totals are exact: computed from the records as they are
    /// at the time of the call, never from a roll-up that may be stale.
    ///
    /// # Errors
    /// `internal_error` when the backend fails or a total exceeds what it can hold.
    async fn summarize(&self, query: &UsageSummaryQuery) -> Result<Vec<UsageSummary>>;
}
