//! Backend-independent rules for reading usage rows, and the row every backend reads.

use artgen_core::domain::{
    Money, Operation, RequestId, TokenUsage, UsageQuery, UsageRecord, UsageStatus, UsageSummary,
};

use crate::error::{from_db, StoreError};

/// Rows returned by a usage listing that names no limit.
pub const DEFAULT_USAGE_LIMIT: u32 = 100;

/// The most rows one usage listing returns, whatever limit it asks for.
pub const MAX_USAGE_LIMIT: u32 = 1000;

/// The limit a backend applies for a requested one: the default when absent, capped at
/// [`MAX_USAGE_LIMIT`]. Zero stays zero (an empty page).
pub(crate) fn effective_limit(requested: Option<u32>) -> u32 {
    requested
        .unwrap_or(DEFAULT_USAGE_LIMIT)
        .min(MAX_USAGE_LIMIT)
}

/// Appends the `WHERE` clause, order and limit of the listing `query` to `sql` (a `SELECT` of
/// `usage` columns), for either SQL backend: newest first by `(created_at_ms, request_id)`,
/// after the cursor when there is one.
pub(crate) fn push_listing<'q, DB>(sql: &mut sqlx::QueryBuilder<'q, DB>, query: &'q UsageQuery)
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut separator = " WHERE ";
    if let Some(user) = &query.user {
        sql.push(separator)
            .push("user_id = ")
            .push_bind(user.as_str());
        separator = " AND ";
    }
    if let Some(since_ms) = query.since_ms {
        sql.push(separator)
            .push("created_at_ms >= ")
            .push_bind(since_ms);
        separator = " AND ";
    }
    if let Some(after) = &query.after {
        sql.push(separator)
            .push("(created_at_ms, request_id) < (")
            .push_bind(after.created_at_ms)
            .push(", ")
            .push_bind(after.request_id.as_str())
            .push(")");
    }
    sql.push(" ORDER BY created_at_ms DESC, request_id DESC LIMIT ")
        .push_bind(i64::from(effective_limit(query.limit)));
}

/// A `usage` row as a database returns it (SQLite and Postgres store the same columns).
#[derive(sqlx::FromRow)]
pub(crate) struct UsageRow {
    request_id: String,
    user_id: String,
    operation: String,
    model: String,
    provider: String,
    n: i64,
    size: String,
    quality: String,
    status: String,
    error_code: Option<String>,
    images: i64,
    input_text_tokens: i64,
    input_image_tokens: i64,
    output_image_tokens: i64,
    output_text_tokens: i64,
    estimated_cost_micros: i64,
    cost_micros: i64,
    latency_ms: i64,
    upstream_latency_ms: i64,
    prompt: String,
    created_at_ms: i64,
    unpriced: bool,
    forwarded_params: Option<String>,
    svg_input_tokens: i64,
    svg_output_tokens: i64,
    org: Option<String>,
}

/// The totals of one summary group as a database returns them (both backends name the
/// columns alike).
#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    key: Option<String>,
    requests: i64,
    succeeded: i64,
    failed: i64,
    unfinished: i64,
    images: i64,
    input_tokens: i64,
    output_tokens: i64,
    estimated_cost_micros: i64,
    cost_micros: i64,
}

/// The aggregate columns of a summary, after its key column: the names [`SummaryRow`]
/// reads. SQL `sum` of integers is cast back to 64 bits (Postgres widens it to `numeric`).
pub(crate) const SUMMARY_TOTALS: &str = "count(*) AS requests, \
    sum(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS succeeded, \
    sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, \
    sum(CASE WHEN status IN ('started', 'unknown') THEN 1 ELSE 0 END) AS unfinished, \
    CAST(sum(images) AS BIGINT) AS images, \
    CAST(sum(input_text_tokens + input_image_tokens + svg_input_tokens) AS BIGINT) AS input_tokens, \
    CAST(sum(output_image_tokens + output_text_tokens + svg_output_tokens) AS BIGINT) AS output_tokens, \
    CAST(sum(estimated_cost_micros) AS BIGINT) AS estimated_cost_micros, \
    CAST(sum(cost_micros) AS BIGINT) AS cost_micros";

impl TryFrom<SummaryRow> for UsageSummary {
    type Error = StoreError;

    fn try_from(row: SummaryRow) -> Result<Self, StoreError> {
        Ok(UsageSummary {
            key: row.key,
            requests: from_db(row.requests, "requests")?,
            succeeded: from_db(row.succeeded, "succeeded")?,
            failed: from_db(row.failed, "failed")?,
            unfinished: from_db(row.unfinished, "unfinished")?,
            images: from_db(row.images, "images")?,
            input_tokens: from_db(row.input_tokens, "input_tokens")?,
            output_tokens: from_db(row.output_tokens, "output_tokens")?,
            estimated_cost: Money::from_micros(from_db(
                row.estimated_cost_micros,
                "estimated_cost_micros",
            )?),
            cost: Money::from_micros(from_db(row.cost_micros, "cost_micros")?),
        })
    }
}

fn corrupt(field: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        field,
        reason: format!("unknown value {value:?}"),
    }
}

fn parse_operation(text: &str) -> Result<Operation, StoreError> {
    [Operation::Generate, Operation::Edit, Operation::Variation]
        .into_iter()
        .find(|op| op.as_str() == text)
        .ok_or_else(|| corrupt("operation", text))
}

fn parse_status(text: &str) -> Result<UsageStatus, StoreError> {
    UsageStatus::from_name(text).ok_or_else(|| corrupt("status", text))
}

impl TryFrom<UsageRow> for UsageRecord {
    type Error = StoreError;

    fn try_from(row: UsageRow) -> Result<Self, StoreError> {
        Ok(UsageRecord {
            request_id: RequestId::from_trusted(row.request_id),
            user: row.user_id,
            org: row.org,
            operation: parse_operation(&row.operation)?,
            model: row.model,
            provider: row.provider,
            n: u8::try_from(row.n).map_err(|_| StoreError::Corrupt {
                field: "n",
                reason: format!("{} does not fit u8", row.n),
            })?,
            size: row.size,
            quality: row.quality,
            status: parse_status(&row.status)?,
            error_code: row.error_code,
            images: u32::try_from(row.images).map_err(|_| StoreError::Corrupt {
                field: "images",
                reason: format!("{} does not fit u32", row.images),
            })?,
            tokens: TokenUsage {
                input_text_tokens: from_db(row.input_text_tokens, "input_text_tokens")?,
                input_image_tokens: from_db(row.input_image_tokens, "input_image_tokens")?,
                output_image_tokens: from_db(row.output_image_tokens, "output_image_tokens")?,
                output_text_tokens: from_db(row.output_text_tokens, "output_text_tokens")?,
                svg_input_tokens: from_db(row.svg_input_tokens, "svg_input_tokens")?,
                svg_output_tokens: from_db(row.svg_output_tokens, "svg_output_tokens")?,
            },
            estimated_cost: Money::from_micros(from_db(
                row.estimated_cost_micros,
                "estimated_cost_micros",
            )?),
            cost: Money::from_micros(from_db(row.cost_micros, "cost_micros")?),
            latency_ms: from_db(row.latency_ms, "latency_ms")?,
            upstream_latency_ms: from_db(row.upstream_latency_ms, "upstream_latency_ms")?,
            prompt: row.prompt,
            created_at_ms: row.created_at_ms,
            unpriced: row.unpriced,
            forwarded_params: row
                .forwarded_params
                .map(|names| names.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_limit_defaults_to_one_hundred_and_caps_at_one_thousand() {
        assert_eq!(effective_limit(None), 100);
        assert_eq!(effective_limit(Some(5)), 5);
        assert_eq!(effective_limit(Some(1000)), 1000);
        assert_eq!(effective_limit(Some(1001)), 1000);
        assert_eq!(effective_limit(Some(u32::MAX)), 1000);
        assert_eq!(effective_limit(Some(0)), 0);
    }

    #[test]
    fn stored_enum_names_parse_back() {
        for op in [Operation::Generate, Operation::Edit, Operation::Variation] {
            assert_eq!(parse_operation(op.as_str()).expect("known name"), op);
        }
        for status in UsageStatus::ALL {
            assert_eq!(parse_status(status.as_str()).expect("known name"), status);
        }
        assert!(parse_operation("upscale").is_err());
        assert!(parse_status("pending").is_err());
        assert!(parse_status("Succeeded").is_err());
    }
}
