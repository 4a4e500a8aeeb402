//! [`UsageStore`] on SQLite: one row per request, idempotent on `request_id`, written by the
//! group-committing writer on its own connection (see `writer/`); reads go through the pool.

use artgen_core::domain::{
    RequestId, UsageGroupBy, UsageQuery, UsageRecord, UsageStatus, UsageSummary, UsageSummaryQuery,
};
use artgen_core::ports::{ImageMeta, UsageStore};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;
use sqlx::{QueryBuilder, Sqlite};

use super::started::{Journal, Owner};
use super::writer::{rows, Op, Then, Written};
use super::SqliteStore;
use crate::error::{to_db, StoreError};
use crate::usage::{push_listing, SummaryRow, UsageRow, SUMMARY_TOTALS};

/// A new row; an existing one (a retried write, a start after its finish) is left alone.
const INSERT: &str = "INSERT INTO usage (request_id, user_id, operation, model, provider, n, \
    size, quality, status, error_code, images, input_text_tokens, input_image_tokens, \
    output_image_tokens, output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, \
    upstream_latency_ms, prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, \
    svg_output_tokens, org) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON CONFLICT(request_id) DO NOTHING";

/// The outcome of a request: replaces a row still `started` or `unknown`, inserts a missing
/// one, and leaves a finished one alone.
const FINISH: &str = "INSERT INTO usage (request_id, user_id, operation, model, provider, n, \
    size, quality, status, error_code, images, input_text_tokens, input_image_tokens, \
    output_image_tokens, output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, \
    upstream_latency_ms, prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, \
    svg_output_tokens, org) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON CONFLICT(request_id) DO UPDATE SET provider = excluded.provider, \
    status = excluded.status, error_code = excluded.error_code, images = excluded.images, \
    input_text_tokens = excluded.input_text_tokens, \
    input_image_tokens = excluded.input_image_tokens, \
    output_image_tokens = excluded.output_image_tokens, \
    output_text_tokens = excluded.output_text_tokens, cost_micros = excluded.cost_micros, \
    latency_ms = excluded.latency_ms, upstream_latency_ms = excluded.upstream_latency_ms, \
    svg_input_tokens = excluded.svg_input_tokens, svg_output_tokens = excluded.svg_output_tokens \
    WHERE usage.status IN ('started', 'unknown')";

const DISCARD: &str = "DELETE FROM usage WHERE request_id = ? AND status = 'started'";

const RECOVER: &str = "UPDATE usage SET status = 'unknown', cost_micros = estimated_cost_micros \
    WHERE status = 'started' AND created_at_ms < ?";

const SELECT: &str = "SELECT request_id, user_id, operation, model, provider, n, size, \
    quality, status, error_code, images, input_text_tokens, input_image_tokens, \
    output_image_tokens, output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, \
    upstream_latency_ms, prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, \
    svg_output_tokens, org FROM usage";

/// Runs `sql` (an [`INSERT`] or a [`FINISH`]) with every column of `r` bound in their
/// order, on the writer's connection; the rows changed.
fn write_record(conn: &Connection, sql: &str, r: &UsageRecord) -> Result<u64, StoreError> {
    let tokens = &r.tokens;
    let forwarded = (!r.forwarded_params.is_empty()).then(|| r.forwarded_params.join(","));
    let mut statement = conn.prepare_cached(sql)?;
    let changed = statement.execute(rusqlite::params![
        r.request_id.as_str(),
        r.user,
        r.operation.as_str(),
        r.model,
        r.provider,
        i64::from(r.n),
        r.size,
        r.quality,
        r.status.as_str(),
        r.error_code.as_deref(),
        i64::from(r.images),
        to_db(tokens.input_text_tokens, "input_text_tokens")?,
        to_db(tokens.input_image_tokens, "input_image_tokens")?,
        to_db(tokens.output_image_tokens, "output_image_tokens")?,
        to_db(tokens.output_text_tokens, "output_text_tokens")?,
        to_db(r.estimated_cost.micros(), "estimated_cost_micros")?,
        to_db(r.cost.micros(), "cost_micros")?,
        to_db(r.latency_ms, "latency_ms")?,
        to_db(r.upstream_latency_ms, "upstream_latency_ms")?,
        r.prompt,
        r.created_at_ms,
        r.unpriced,
        forwarded,
        to_db(tokens.svg_input_tokens, "svg_input_tokens")?,
        to_db(tokens.svg_output_tokens, "svg_output_tokens")?,
        r.org.as_deref(),
    ])?;
    Ok(rows(changed))
}

/// Inserts `r` unless its request already has a row; the rows changed.
pub(super) fn insert(conn: &Connection, r: &UsageRecord) -> Result<u64, StoreError> {
    write_record(conn, INSERT, r)
}

/// Writes the outcome `r` (see [`FINISH`]); the rows changed.
pub(super) fn finish(conn: &Connection, r: &UsageRecord) -> Result<u64, StoreError> {
    write_record(conn, FINISH, r)
}

/// Removes the started row of `request_id`; the rows removed.
pub(super) fn discard(conn: &Connection, request_id: &RequestId) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(DISCARD)?;
    Ok(rows(statement.execute([request_id.as_str()])?))
}

/// Marks rows started before `before_ms` unknown at their estimate; how many.
pub(super) fn recover(conn: &Connection, before_ms: i64) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(RECOVER)?;
    Ok(rows(statement.execute([before_ms])?))
}

impl SqliteStore {
    async fn select_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(SELECT);
        push_listing(&mut sql, query);
        let rows: Vec<UsageRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(UsageRecord::try_from).collect()
    }

    async fn select_one(&self, request_id: &RequestId) -> Result<Option<UsageRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(SELECT);
        sql.push(" WHERE request_id = ")
            .push_bind(request_id.as_str());
        let row: Option<UsageRow> = sql.build_query_as().fetch_optional(&self.pool).await?;
        row.map(UsageRecord::try_from).transpose()
    }

    async fn summarize_usage(
        &self,
        query: &UsageSummaryQuery,
    ) -> Result<Vec<UsageSummary>, StoreError> {
        let key = match query.group_by {
            UsageGroupBy::User => "user_id",
            UsageGroupBy::Org => "org",
            UsageGroupBy::Model => "model",
            UsageGroupBy::Day => "date(created_at_ms / 1000, 'unixepoch')",
        };
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT ");
        sql.push(key)
            .push(" AS key, ")
            .push(SUMMARY_TOTALS)
            .push(" FROM usage WHERE created_at_ms >= ")
            .push_bind(query.from_ms)
            .push(" AND created_at_ms < ")
            .push_bind(query.to_ms);
        if let Some(user) = &query.user {
            sql.push(" AND user_id = ").push_bind(user);
        }
        sql.push(" GROUP BY 1 ORDER BY 1 NULLS FIRST");
        let rows: Vec<SummaryRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(UsageSummary::try_from).collect()
    }

    /// Folds the started rows of the journal that `keep` selects into the table, as
    /// `unknown` at their estimate when `unknown`, else as `started`, in one transaction with
    /// every deferred finish; the rows inserted.
    pub(super) async fn fold_started(
        &self,
        keep: impl Fn(Owner<'_>) -> bool,
        unknown: bool,
    ) -> Result<u64, StoreError> {
        let Some(journal) = &self.started else {
            return Ok(0);
        };
        let mut rows = journal.pending(keep);
        if rows.is_empty() && !self.writer.has_deferred() {
            return Ok(0);
        }
        if unknown {
            for row in &mut rows {
                row.status = UsageStatus::Unknown;
                row.cost = row.estimated_cost;
            }
        }
        let ids: Vec<RequestId> = rows.iter().map(|row| row.request_id.clone()).collect();
        let written = self.writer.submit(Op::Fold(rows)).await?;
        journal.folded(&ids);
        Ok(match written {
            Written::Committed(inserted) => inserted,
            Written::Spooled => 0,
        })
    }

    /// Writes the started rows of the requests in flight to the table (see `started`).
    pub(super) async fn fold_in_flight(&self) -> Result<u64, StoreError> {
        self.fold_started(|_| true, false).await
    }

    /// Makes the requests in flight and the deferred finishes rows of the table before it
    /// is read (see `started`).
    /// A database that refuses the write leaves them out of this reading, logged.
    async fn read_barrier(&self) {
        if let Err(err) = self.fold_in_flight().await {
            tracing::warn!(
                cause = %super::writer::describe(&err),
                "the requests in flight are left out of this usage reading"
            );
        }
    }

    /// Hands a journaled finish to the writer, which commits it with the next transaction
    /// (see `started`); the journal forgets it once it is committed or spooled. A finish the
    /// writer can no longer take (it is stopping) stays in the journal for the next start.
    pub(super) fn defer_finish(
        &self,
        journal: &Arc<Journal>,
        record: UsageRecord,
        images: Vec<ImageMeta>,
    ) {
        let journal = Arc::clone(journal);
        let request_id = record.request_id.clone();
        let then: Then = Box::new(move |written| match written {
            // Kept neither in the database nor in the spool: the journal keeps it for the
            // next start.
            Err(StoreError::SpoolFull { .. } | StoreError::Unavailable(_)) => {}
            // Durable, or failed for good (the writer logged it, by its request).
            _ => journal.settled(&request_id),
        });
        if !self.writer.defer(Op::Finish(record, images), then) {
            tracing::debug!("a journaled finish waits for the next start");
        }
    }

    /// Commits the deferred finishes now (a fold selecting no start carries them), for a reading through
    /// the pool that must see them. A database that refuses the write leaves them out of this
    /// reading, logged.
    pub(super) async fn commit_deferred(&self) {
        if let Err(err) = self.fold_started(|_| false, false).await {
            tracing::warn!(
                cause = %super::writer::describe(&err),
                "the finishes just answered are left out of this reading"
            );
        }
    }

    /// Writes the finish (or discard) of a request holding a spool reservation.
    async fn write_reserved(&self, op: Op, request_id: &RequestId) -> Result<(), StoreError> {
        let written = self.writer.submit(op).await;
        // The writer gave the reservation back or turned it into a spooled entry; this
        // covers a writer that stopped.
        self.writer.release(request_id);
        written.map(|_| ())
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record(&self, record: &UsageRecord) -> artgen_core::Result<()> {
        self.writer.submit(Op::Record(record.clone())).await?;
        Ok(())
    }

    async fn start(&self, record: &UsageRecord) -> artgen_core::Result<()> {
        let id = &record.request_id;
        if !self.writer.reserve(id) {
            let capacity = self.writer.spool_capacity();
            tracing::warn!(
                request_id = %id,
                capacity,
                spooled = self.writer.spooled(),
                "a request is refused: the usage spool has no room for its finish"
            );
            return Err(StoreError::SpoolFull { capacity }.into());
        }
        if let Some(journal) = &self.started {
            match journal.start(record) {
                Ok(()) => return Ok(()),
                Err(err) => tracing::warn!(
                    request_id = %id,
                    cause = %super::writer::describe(&err),
                    "the started-row journal cannot be written; the row goes to the table"
                ),
            }
        }
        match self.writer.submit(Op::Start(record.clone())).await {
            Ok(Written::Committed(_) | Written::Spooled) => Ok(()),
            Err(err) => {
                self.writer.release(id);
                Err(err.into())
            }
        }
    }

    async fn finish(&self, record: &UsageRecord, images: &[ImageMeta]) -> artgen_core::Result<()> {
        if let Some(journal) = &self.started {
            match journal.finish(record, images) {
                Ok(()) => {
                    self.defer_finish(journal, record.clone(), images.to_vec());
                    return Ok(());
                }
                Err(err) => tracing::warn!(
                    request_id = %record.request_id,
                    cause = %super::writer::describe(&err),
                    "the usage journal cannot be written; the finish is committed at once"
                ),
            }
        }
        let op = Op::Finish(record.clone(), images.to_vec());
        self.write_reserved(op, &record.request_id).await?;
        // Durable (committed or spooled): a crash no longer needs the start.
        if let Some(journal) = &self.started {
            journal.settled(&record.request_id);
        }
        Ok(())
    }

    async fn discard(&self, request_id: &RequestId) -> artgen_core::Result<()> {
        if let Some(journal) = &self.started {
            if let Err(err) = journal.discard(request_id) {
                // Only a crash before the next rewrite would count the request, at its
                // estimate: more, never less.
                tracing::warn!(
                    request_id = %request_id,
                    cause = %super::writer::describe(&err),
                    "the started-row journal cannot record a discard"
                );
            }
        }
        // Also a row a reading folded into the table meanwhile.
        let op = Op::Discard(request_id.clone());
        Ok(self.write_reserved(op, request_id).await?)
    }

    async fn recover_unfinished(&self, before_ms: i64) -> artgen_core::Result<u64> {
        if self.file_backed && !self.writer.owns_spool() {
            tracing::warn!(
                "another process holds this database's usage spool; its requests in flight \
                 are left alone"
            );
            return Ok(0);
        }
        let in_table = match self.writer.submit(Op::Recover { before_ms }).await? {
            Written::Committed(marked) => marked,
            Written::Spooled => 0,
        };
        let in_journal = self
            .fold_started(|owner| owner.created_at_ms < before_ms, true)
            .await?;
        Ok(in_table + in_journal)
    }

    async fn forget_prompts(&self, before_ms: i64) -> artgen_core::Result<u64> {
        self.read_barrier().await;
        Ok(self.forget_old_prompts(before_ms).await?)
    }

    async fn list(&self, query: &UsageQuery) -> artgen_core::Result<Vec<UsageRecord>> {
        self.read_barrier().await;
        Ok(self.select_usage(query).await?)
    }

    async fn get(&self, request_id: &RequestId) -> artgen_core::Result<Option<UsageRecord>> {
        // The entry is read first. A finish there is the outcome, wherever its write is; a
        // finish or a fold between the two readings of a start leaves the row in the table,
        // which then wins.
        let in_flight = match self.started.as_ref().and_then(|j| j.get(request_id)) {
            Some((finished, true)) => return Ok(Some(finished)),
            Some((started, false)) => Some(started),
            None => None,
        };
        Ok(self.select_one(request_id).await?.or(in_flight))
    }

    async fn summarize(&self, query: &UsageSummaryQuery) -> artgen_core::Result<Vec<UsageSummary>> {
        self.read_barrier().await;
        Ok(self.summarize_usage(query).await?)
    }
}
