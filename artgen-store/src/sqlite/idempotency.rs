//! [`IdempotencyStore`] on SQLite: one row per `(user_id, idem_key)`.
//!
//! A claim is one upsert that inserts an absent row or replaces an expired one and leaves a
//! live row alone; SQLite runs it atomically, so of two concurrent claims (from any number of
//! connections or processes sharing the file) exactly one changes a row and gets `Started`.

use artgen_core::ports::{Begin, IdempotencyStore, StoredResponse};
use async_trait::async_trait;

use super::SqliteStore;
use crate::error::StoreError;
use crate::idempotency::LiveRow;

const CLAIM: &str = "INSERT INTO idempotency \
    (user_id, idem_key, fingerprint, state, created_at_ms, expires_at_ms) \
    VALUES (?, ?, ?, 'in_progress', ?, ?) \
    ON CONFLICT (user_id, idem_key) DO UPDATE SET \
    fingerprint = excluded.fingerprint, state = 'in_progress', status = NULL, \
    content_type = NULL, body = NULL, images = NULL, completed_at_ms = NULL, \
    created_at_ms = excluded.created_at_ms, expires_at_ms = excluded.expires_at_ms \
    WHERE idempotency.expires_at_ms <= excluded.created_at_ms";

const SELECT_LIVE: &str = "SELECT fingerprint, state, status, content_type, body, images, \
    completed_at_ms FROM idempotency WHERE user_id = ? AND idem_key = ? AND expires_at_ms > ?";

const COMPLETE: &str = "UPDATE idempotency SET state = 'done', status = ?, content_type = ?, \
    body = ?, images = ?, completed_at_ms = ?, expires_at_ms = ? \
    WHERE user_id = ? AND idem_key = ? AND state = 'in_progress'";

const ABANDON: &str =
    "DELETE FROM idempotency WHERE user_id = ? AND idem_key = ? AND state = 'in_progress'";

const PURGE: &str = "DELETE FROM idempotency WHERE expires_at_ms <= ?";

/// How often `begin` retries when the row it lost the claim to vanished before it was read
/// (abandoned in between); after that it answers `InProgress` and the caller polls.
const CLAIM_ATTEMPTS: usize = 3;

impl SqliteStore {
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
impl IdempotencyStore for SqliteStore {
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
            .bind(i64::from(response.status))
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
