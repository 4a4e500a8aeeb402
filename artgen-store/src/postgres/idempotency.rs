//! [`IdempotencyStore`] on Postgres: one row per `(user_id, idem_key)`, as in SQLite.
//!
//! A claim is one upsert that inserts an absent row or replaces an expired one and leaves a
//! live row alone; Postgres runs it atomically (a concurrent insert of the same key waits for
//! the first and then takes the conflict path), so of two concurrent claims from any replicas
//! exactly one changes a row and gets `Started`.

use artgen_core::ports::{Begin, IdempotencyStore, StoredResponse};
use async_trait::async_trait;

use super::PostgresStore;
use crate::error::StoreError;
use crate::idempotency::LiveRow;

const CLAIM: &str = "INSERT INTO idempotency \
    (user_id, idem_key, fingerprint, state, created_at_ms, expires_at_ms) \
    VALUES ($1, $2, $3, 'in_progress', $4, $5) \
    ON CONFLICT (user_id, idem_key) DO UPDATE SET \
    fingerprint = excluded.fingerprint, state = 'in_progress', status = NULL, \
    content_type = NULL, body = NULL, images = NULL, completed_at_ms = NULL, \
    created_at_ms = excluded.created_at_ms, expires_at_ms = excluded.expires_at_ms \
    WHERE idempotency.expires_at_ms <= excluded.created_at_ms";

const SELECT_LIVE: &str =
    "SELECT fingerprint, state, status::int8 AS status, content_type, body, images, \
    completed_at_ms FROM idempotency WHERE user_id = $1 AND idem_key = $2 AND expires_at_ms > $3";

const COMPLETE: &str = "UPDATE idempotency SET state = 'done', status = $1, content_type = $2, \
    body = $3, images = $4, completed_at_ms = $5, expires_at_ms = $6 \
    WHERE user_id = $7 AND idem_key = $8 AND state = 'in_progress'";

const ABANDON: &str =
    "DELETE FROM idempotency WHERE user_id = $1 AND idem_key = $2 AND state = 'in_progress'";

const PURGE: &str = "DELETE FROM idempotency WHERE expires_at_ms <= $1";

/// How often `begin` retries when the row it lost the claim to vanished before it was read
/// (abandoned in between); after that it answers `InProgress` and the caller polls.
const CLAIM_ATTEMPTS: usize = 3;

impl PostgresStore {
    async fn claim_idempotency(
        &self,
        user: &str,
        key: &str,
        fingerprint: &[u8; 32],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Begin, StoreError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let claimed = sqlx::query(CLAIM)
                .bind(user)
                .bind(key)
                .bind(&fingerprint[..])
                .bind(now_ms)
                .bind(now_ms.saturating_add(lease_ms))
                .execute(&self.pool)
                .await?;
            if claimed.rows_affected() == 1 {
                return Ok(Begin::Started);
            }
            let live: Option<LiveRow> = sqlx::query_as(SELECT_LIVE)
                .bind(user)
                .bind(key)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = live {
                return row.into_begin(fingerprint);
            }
        }
        Ok(Begin::InProgress)
    }
}

#[async_trait]
impl IdempotencyStore for PostgresStore {
    async fn begin(
        &self,
        user: &str,
        key: &str,
        fingerprint: &[u8; 32],
        now_ms: i64,
        lease_ms: i64,
    ) -> artgen_core::Result<Begin> {
        Ok(self
            .claim_idempotency(user, key, fingerprint, now_ms, lease_ms)
            .await?)
    }

    async fn complete(
        &self,
        user: &str,
        key: &str,
        response: &StoredResponse,
        expires_at_ms: i64,
    ) -> artgen_core::Result<()> {
        let images = if response.images.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&response.images).map_err(StoreError::from)?)
        };
        sqlx::query(COMPLETE)
            .bind(i32::from(response.status))
            .bind(&response.content_type)
            .bind(&response.body)
            .bind(images)
            .bind(response.created_at_ms)
            .bind(expires_at_ms)
            .bind(user)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn abandon(&self, user: &str, key: &str) -> artgen_core::Result<()> {
        sqlx::query(ABANDON)
            .bind(user)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn purge_expired(&self, before_ms: i64) -> artgen_core::Result<u64> {
        let purged = sqlx::query(PURGE)
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(purged.rows_affected())
    }
}
