//! [`UsageStore`] on SQLite: one row per request, idempotent on `request_id`.

use artgen_core::domain::{
    Money, Operation, RequestId, TokenUsage, UsageQuery, UsageRecord, UsageStatus,
};
use artgen_core::ports::UsageStore;
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::error::{from_db, to_db, StoreError};
use crate::usage::effective_limit;

const INSERT: &str = "INSERT INTO usage (request_id, user_id, operation, model, provider, n, \
    size, quality, status, error_code, images, input_text_tokens, input_image_tokens, \
    output_image_tokens, output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, \
    upstream_latency_ms, prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, \
    svg_output_tokens) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
    ON CONFLICT(request_id) DO NOTHING";

const SELECT: &str = "SELECT request_id, user_id, operation, model, provider, n, size, \
    quality, status, error_code, images, input_text_tokens, input_image_tokens, \
    output_image_tokens, output_text_tokens, estimated_cost_micros, cost_micros, latency_ms, \
    upstream_latency_ms, prompt, created_at_ms, unpriced, forwarded_params, svg_input_tokens, \
    svg_output_tokens FROM usage";

/// A `usage` row as SQLite returns it.
#[derive(sqlx::FromRow)]
struct UsageRow {
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
    [UsageStatus::Succeeded, UsageStatus::Failed]
        .into_iter()
        .find(|status| status.as_str() == text)
        .ok_or_else(|| corrupt("status", text))
}

impl TryFrom<UsageRow> for UsageRecord {
    type Error = StoreError;

    fn try_from(row: UsageRow) -> Result<Self, StoreError> {
        Ok(UsageRecord {
            request_id: RequestId::from_trusted(row.request_id),
            user: row.user_id,
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

impl SqliteStore {
    async fn insert_usage(&self, r: &UsageRecord) -> Result<(), StoreError> {
        let tokens = &r.tokens;
        sqlx::query(INSERT)
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
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn select_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(SELECT);
        let mut separator = " WHERE ";
        if let Some(user) = &query.user {
            sql.push(separator).push("user_id = ").push_bind(user);
            separator = " AND ";
        }
        if let Some(since_ms) = query.since_ms {
            sql.push(separator)
                .push("created_at_ms >= ")
                .push_bind(since_ms);
        }
        sql.push(" ORDER BY created_at_ms DESC, rowid DESC LIMIT ")
            .push_bind(i64::from(effective_limit(query.limit)));
        let rows: Vec<UsageRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(UsageRecord::try_from).collect()
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record(&self, record: &UsageRecord) -> artgen_core::Result<()> {
        Ok(self.insert_usage(record).await?)
    }

    async fn list(&self, query: &UsageQuery) -> artgen_core::Result<Vec<UsageRecord>> {
        Ok(self.select_usage(query).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_enum_names_parse_back() {
        for op in [Operation::Generate, Operation::Edit, Operation::Variation] {
            assert_eq!(parse_operation(op.as_str()).expect("known name"), op);
        }
        for status in [UsageStatus::Succeeded, UsageStatus::Failed] {
            assert_eq!(parse_status(status.as_str()).expect("known name"), status);
        }
        assert!(parse_operation("upscale").is_err());
        assert!(parse_status("pending").is_err());
    }
}
