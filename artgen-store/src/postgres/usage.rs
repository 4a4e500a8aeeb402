//! [`UsageStore`] on Postgres: one row per request in the month-partitioned `usage` table,
//! unique on `request_id` through `usage_request_ids`; writes the database cannot take now
//! wait in the spool (see `buffer.rs`).

use std::time::Duration;

use artgen_core::domain::{
    RequestId, UsageGroupBy, UsageQuery, UsageRecord, UsageSummary, UsageSummaryQuery,
};
use artgen_core::ports::{ImageMeta, UsageStore};
use async_trait::async_trait;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::{describe, is_unreachable, PostgresStore};
use crate::error::{to_db, StoreError};
use crate::spool::Entry;
use crate::usage::{push_listing, SummaryRow, UsageRow, SUMMARY_TOTALS};

/// The columns of a row, in the order [`bind_record`] binds them.
const COLUMNS: &str = "request_id, user_id, operation, model, provider, n, size, quality, \
    status, error_code, images, input_text_tokens, input_image_tokens, output_image_tokens, \
    output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, upstream_latency_ms, \
    prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, svg_output_tokens, org";

/// A new row, unless its request id has one (in any month): the id is claimed in
/// `usage_request_ids` and the row written only when that inserted, in one statement.
const INSERT: &str = "WITH claimed AS (\
    INSERT INTO usage_request_ids (request_id, created_at_ms) VALUES ($1, $21) \
    ON CONFLICT (request_id) DO NOTHING RETURNING request_id) \
    INSERT INTO usage (request_id, user_id, operation, model, provider, n, size, quality, \
    status, error_code, images, input_text_tokens, input_image_tokens, output_image_tokens, \
    output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, upstream_latency_ms, \
    prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, svg_output_tokens, \
    org) \
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
    $19, $20, $21, $22, $23, $24, $25, $26 FROM claimed";

/// The outcome of a request: inserts a missing row (as [`INSERT`]), else replaces one still
/// `started` or `unknown` and leaves a finished one alone; and settles the request's budget
/// hold, in the same statement.
const FINISH: &str = "WITH settled AS (\
    DELETE FROM budget_reservations WHERE request_id = $1), \
    claimed AS (\
    INSERT INTO usage_request_ids (request_id, created_at_ms) VALUES ($1, $21) \
    ON CONFLICT (request_id) DO NOTHING RETURNING request_id), \
    inserted AS (\
    INSERT INTO usage (request_id, user_id, operation, model, provider, n, size, quality, \
    status, error_code, images, input_text_tokens, input_image_tokens, output_image_tokens, \
    output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, upstream_latency_ms, \
    prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, svg_output_tokens, \
    org) \
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
    $19, $20, $21, $22, $23, $24, $25, $26 FROM claimed RETURNING 1) \
    UPDATE usage SET provider = $5, status = $9, error_code = $10, images = $11, \
    input_text_tokens = $12, input_image_tokens = $13, output_image_tokens = $14, \
    output_text_tokens = $15, cost_micros = $17, latency_ms = $18, upstream_latency_ms = $19, \
    svg_input_tokens = $24, svg_output_tokens = $25 \
    WHERE request_id = $1 AND status IN ('started', 'unknown') \
    AND NOT EXISTS (SELECT 1 FROM claimed)";

/// Removes a started row and frees its request id, and releases the request's budget hold.
const DISCARD: &str = "WITH released AS (\
    DELETE FROM budget_reservations WHERE request_id = $1), \
    gone AS (\
    DELETE FROM usage WHERE request_id = $1 AND status = 'started' RETURNING request_id) \
    DELETE FROM usage_request_ids WHERE request_id IN (SELECT request_id FROM gone)";

const RECOVER: &str = "UPDATE usage SET status = 'unknown', cost_micros = estimated_cost_micros \
    WHERE status = 'started' AND created_at_ms < $1";

/// Binds every column of `r`, in [`COLUMNS`]' order.
fn bind_record<'q>(
    query: Query<'q, Postgres, PgArguments>,
    r: &'q UsageRecord,
) -> Result<Query<'q, Postgres, PgArguments>, StoreError> {
    let tokens = &r.tokens;
    Ok(query
        .bind(r.request_id.as_str())
        .bind(&r.user)
        .bind(r.operation.as_str())
        .bind(&r.model)
        .bind(&r.provider)
        .bind(i64::from(r.n))
        .bind(&r.size)
        .bind(&r.quality)
        .bind(r.status.as_str())
        .bind(r.error_code.as_deref())
        .bind(i64::from(r.images))
        .bind(to_db(tokens.input_text_tokens, "input_text_tokens")?)
        .bind(to_db(tokens.input_image_tokens, "input_image_tokens")?)
        .bind(to_db(tokens.output_image_tokens, "output_image_tokens")?)
        .bind(to_db(tokens.output_text_tokens, "output_text_tokens")?)
        .bind(to_db(r.estimated_cost.micros(), "estimated_cost_micros")?)
        .bind(to_db(r.cost.micros(), "cost_micros")?)
        .bind(to_db(r.latency_ms, "latency_ms")?)
        .bind(to_db(r.upstream_latency_ms, "upstream_latency_ms")?)
        .bind(&r.prompt)
        .bind(r.created_at_ms)
        .bind(r.unpriced)
        .bind((!r.forwarded_params.is_empty()).then(|| r.forwarded_params.join(",")))
        .bind(to_db(tokens.svg_input_tokens, "svg_input_tokens")?)
        .bind(to_db(tokens.svg_output_tokens, "svg_output_tokens")?)
        .bind(r.org.as_deref()))
}

/// Applies one write on `conn`; the rows it changed.
pub(super) async fn apply(conn: &mut PgConnection, entry: &Entry) -> Result<u64, StoreError> {
    match entry {
        Entry::Start { record } | Entry::Record { record } => {
            let done = bind_record(sqlx::query(INSERT), record)?
                .execute(conn)
                .await?;
            if done.rows_affected() == 0 {
                // A second insert of one request id (a retried or replayed write): the row
                // already there is kept, and the duplicate is reported, not dropped silently.
                tracing::warn!(
                    request_id = %record.request_id,
                    status = record.status.as_str(),
                    "usage row already recorded for this request id; the duplicate write is ignored"
                );
            }
            Ok(done.rows_affected())
        }
        Entry::Finish { record, images } => {
            if images.is_empty() {
                let done = bind_record(sqlx::query(FINISH), record)?
                    .execute(conn)
                    .await?;
                return Ok(done.rows_affected());
            }
            // One transaction (a savepoint inside a spool flush's): the usage row and its
            // images' rows land together or not at all.
            let mut tx = sqlx::Connection::begin(conn).await?;
            let done = bind_record(sqlx::query(FINISH), record)?
                .execute(&mut *tx)
                .await?;
            super::images::insert(&mut tx, images).await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }
        Entry::Discard { request_id } => {
            let done = sqlx::query(DISCARD)
                .bind(request_id.as_str())
                .execute(conn)
                .await?;
            Ok(done.rows_affected())
        }
    }
}

/// Pauses between attempts at a finish when there is no spool to keep it in.
const FINISH_PAUSES: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_millis(2_000),
];

impl PostgresStore {
    /// Applies `entry` now if the database takes it; else keeps it in the spool (on the
    /// reservation of `reserved_by`, or a free place).
    async fn write(&self, entry: Entry, reserved_by: Option<&RequestId>) -> Result<(), StoreError> {
        if !self.buffer.pending() {
            let applied = async {
                let mut conn = self.pool.acquire().await?;
                apply(&mut conn, &entry).await
            }
            .await;
            match applied {
                Ok(_) => return Ok(()),
                Err(err) if is_unreachable(&err) => {
                    if !self.buffer.enabled() {
                        return Err(unreachable(err));
                    }
                    tracing::warn!(
                        error = %describe(&err),
                        "the database is unreachable; usage writes are kept in the spool"
                    );
                }
                Err(err) => return Err(err),
            }
        }
        self.buffer.keep(entry, reserved_by).await
    }

    /// A finish (or discard) must not be lost: kept in the spool, or retried a few times when
    /// there is none.
    async fn write_outcome(&self, entry: Entry, request_id: &RequestId) -> Result<(), StoreError> {
        let mut result = self.write(entry.clone(), Some(request_id)).await;
        if !self.buffer.enabled() {
            for pause in FINISH_PAUSES {
                match &result {
                    Err(StoreError::Unreachable(_)) => {}
                    _ => break,
                }
                tokio::time::sleep(pause).await;
                result = self.write(entry.clone(), None).await;
            }
        }
        self.buffer.release(request_id);
        result
    }

    async fn select_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError> {
        let rows: Vec<UsageRow> = list_sql(query, "")
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(UsageRecord::try_from).collect()
    }

    /// The row of one request: its month is read from `usage_request_ids` first, so only that
    /// partition's primary key is searched.
    async fn select_one(&self, request_id: &RequestId) -> Result<Option<UsageRecord>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT ");
        sql.push(COLUMNS)
            .push(" FROM usage WHERE request_id = ")
            .push_bind(request_id.as_str())
            .push(" AND created_at_ms = (SELECT created_at_ms FROM usage_request_ids WHERE request_id = ")
            .push_bind(request_id.as_str())
            .push(")");
        let row: Option<UsageRow> = sql.build_query_as().fetch_optional(&self.pool).await?;
        row.map(UsageRecord::try_from).transpose()
    }

    /// Totals per group, from the raw rows (see [`summary_sql`]).
    async fn summarize_usage(
        &self,
        query: &UsageSummaryQuery,
    ) -> Result<Vec<UsageSummary>, StoreError> {
        let mut tx = self.pool.begin().await?;
        hash_days(&mut tx, query).await?;
        let rows: Vec<SummaryRow> = summary_sql(query, "")
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut summaries = rows
            .into_iter()
            .map(UsageSummary::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // In the port's order (key ascending, `None` first), by bytes as SQLite's does: the
        // query leaves the order to us (see [`summary_sql`]).
        summaries.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(summaries)
    }

    /// The plan of the query [`UsageStore::summarize`] runs for `query`, executed, with
    /// buffer counts (`EXPLAIN (ANALYZE, BUFFERS)`), one line per plan line; for benchmarks
    /// and operators checking which indexes a summary uses.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the statement fails.
    pub async fn explain_summary(&self, query: &UsageSummaryQuery) -> Result<String, StoreError> {
        let mut tx = self.pool.begin().await?;
        hash_days(&mut tx, query).await?;
        let plan: Vec<(String,)> = summary_sql(query, EXPLAIN)
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(join_plan(plan))
    }

    /// The plan of the query [`UsageStore::list`] runs for `query`, as
    /// [`PostgresStore::explain_summary`] gives it.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the statement fails.
    pub async fn explain_list(&self, query: &UsageQuery) -> Result<String, StoreError> {
        let plan: Vec<(String,)> = list_sql(query, EXPLAIN)
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        Ok(join_plan(plan))
    }
}

/// What makes a query report its executed plan.
const EXPLAIN: &str = "EXPLAIN (ANALYZE, BUFFERS) ";

fn join_plan(lines: Vec<(String,)>) -> String {
    lines
        .into_iter()
        .map(|(line,)| line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The listing of `query`, newest first, after `prefix` (empty, or [`EXPLAIN`]).
fn list_sql<'q>(query: &'q UsageQuery, prefix: &str) -> QueryBuilder<'q, Postgres> {
    let mut sql = QueryBuilder::<Postgres>::new(prefix);
    sql.push("SELECT ").push(COLUMNS).push(" FROM usage");
    push_listing(&mut sql, query);
    sql
}

/// The summary of `query` after `prefix` (empty, or [`EXPLAIN`]). Totals come from the raw
/// rows of the period's partitions. The `usage_daily` roll-up is not used: housekeeping
/// recomputes only its last days, so a row written or finished later for an older day would
/// make it stale, and a summary must be exact.
fn summary_sql<'q>(query: &'q UsageSummaryQuery, prefix: &str) -> QueryBuilder<'q, Postgres> {
    let key = match query.group_by {
        UsageGroupBy::User => "user_id",
        UsageGroupBy::Org => "org",
        UsageGroupBy::Model => "model",
        // Whole days since the epoch (times before 1970 are not expected).
        UsageGroupBy::Day => {
            "to_char(date '1970-01-01' + (created_at_ms / 86400000)::int, 'YYYY-MM-DD')"
        }
    };
    let mut sql = QueryBuilder::<Postgres>::new(prefix);
    sql.push("SELECT ")
        .push(key)
        .push(" AS key, ")
        .push(SUMMARY_TOTALS)
        .push(" FROM usage WHERE created_at_ms >= ")
        .push_bind(query.from_ms)
        .push(" AND created_at_ms < ")
        .push_bind(query.to_ms);
    if let Some(user) = &query.user {
        sql.push(" AND user_id = ").push_bind(user);
    }
    // No ORDER BY: the groups are sorted after they are read. With one, a hash aggregate
    // needs a sort of its output too, and for the day key (see [`hash_days`]) the planner
    // would still sort all the rows first.
    sql.push(" GROUP BY 1");
    sql
}

/// For a summary by day, makes the planner group in a hash table instead of sorting the rows.
///
/// The day is an expression of `created_at_ms` that the planner has no statistics for, so it
/// expects about one group per row (3.1M where there are 28, at 10M rows) and chooses to sort
/// every row (to disk) and group afterwards. There are at most a few hundred days in any
/// period asked for, so a hash aggregate is right; `SET LOCAL` keeps the setting to this
/// transaction. (Extended statistics on the expression were rejected: they would have to be
/// created on every monthly partition and kept fresh by `ANALYZE`.)
async fn hash_days(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    query: &UsageSummaryQuery,
) -> Result<(), StoreError> {
    if query.group_by == UsageGroupBy::Day {
        sqlx::query("SET LOCAL enable_sort = off")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A database error that says the database could not be reached.
fn unreachable(err: StoreError) -> StoreError {
    match err {
        StoreError::Database(source) => StoreError::Unreachable(source),
        other => other,
    }
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn record(&self, record: &UsageRecord) -> artgen_core::Result<()> {
        let entry = Entry::Record {
            record: record.clone(),
        };
        Ok(self.write(entry, None).await?)
    }

    async fn start(&self, record: &UsageRecord) -> artgen_core::Result<()> {
        let id = &record.request_id;
        if !self.buffer.reserve(id) {
            let capacity = self.buffer.capacity();
            tracing::warn!(
                request_id = %id,
                capacity,
                spooled = self.buffer.len(),
                "a request is refused: the usage spool has no room for its finish"
            );
            return Err(StoreError::SpoolFull { capacity }.into());
        }
        let entry = Entry::Start {
            record: record.clone(),
        };
        match self.write(entry, None).await {
            Ok(()) => Ok(()),
            Err(err) => {
                self.buffer.release(id);
                Err(err.into())
            }
        }
    }

    async fn finish(&self, record: &UsageRecord, images: &[ImageMeta]) -> artgen_core::Result<()> {
        let entry = Entry::Finish {
            record: record.clone(),
            images: images.to_vec(),
        };
        Ok(self.write_outcome(entry, &record.request_id).await?)
    }

    async fn discard(&self, request_id: &RequestId) -> artgen_core::Result<()> {
        let entry = Entry::Discard {
            request_id: request_id.clone(),
        };
        Ok(self.write_outcome(entry, request_id).await?)
    }

    async fn recover_unfinished(&self, before_ms: i64) -> artgen_core::Result<u64> {
        let after = i64::try_from(self.recover_after_ms).unwrap_or(i64::MAX);
        let cut = before_ms.saturating_sub(after);
        let done = sqlx::query(RECOVER)
            .bind(cut)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected())
    }

    async fn forget_prompts(&self, before_ms: i64) -> artgen_core::Result<u64> {
        Ok(self.forget_old_prompts(before_ms).await?)
    }

    async fn list(&self, query: &UsageQuery) -> artgen_core::Result<Vec<UsageRecord>> {
        Ok(self.select_usage(query).await?)
    }

    async fn get(&self, request_id: &RequestId) -> artgen_core::Result<Option<UsageRecord>> {
        Ok(self.select_one(request_id).await?)
    }

    async fn summarize(&self, query: &UsageSummaryQuery) -> artgen_core::Result<Vec<UsageSummary>> {
        Ok(self.summarize_usage(query).await?)
    }
}
