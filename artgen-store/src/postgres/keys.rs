//! API keys on Postgres: the [`KeyStore`] and the [`Authenticator`] that checks them, with the
//! rules of the SQLite store (hashes only, constant-time comparison, malformed keys refused
//! without a query, a key's use written at most once a minute, off the response path).

use std::sync::PoisonError;

use artgen_core::domain::{ApiKey, KeyEnv, Principal, Role};
use artgen_core::ports::{Authenticator, KeyInfo, KeyStore};
use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder};

use super::PostgresStore;
use crate::error::{from_db, StoreError};
use crate::keys::{
    generate_key, hash_key, invalid_key, verify, KeyInfoRow, KeyRow, ISSUE_ATTEMPTS, TOUCH_EVERY,
};

const TOUCH: &str =
    "UPDATE api_keys SET last_used_at_ms = greatest(coalesce(last_used_at_ms, 0), $1) \
    WHERE public_id = $2";

impl PostgresStore {
    async fn insert_key(&self, user: &str, role: Role, env: KeyEnv) -> Result<ApiKey, StoreError> {
        for _ in 0..ISSUE_ATTEMPTS {
            let key = generate_key(env).ok_or_else(|| StoreError::Corrupt {
                field: "generated key",
                reason: "random body was refused by the key format".to_owned(),
            })?;
            let inserted = sqlx::query(
                "INSERT INTO api_keys (public_id, user_id, role, key_hash, last_four, \
                 created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (public_id) DO NOTHING",
            )
            .bind(key.public_id())
            .bind(user)
            .bind(role.as_str())
            .bind(hash_key(&key).as_slice())
            .bind(key.last_four())
            .bind(self.clock.now_ms())
            .execute(&self.pool)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(key);
            }
        }
        Err(StoreError::KeyIdCollision)
    }

    async fn select_keys(&self, user: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT public_id, user_id, role, last_four, created_at_ms, revoked_at_ms, \
             last_used_at_ms FROM api_keys",
        );
        if let Some(user) = user {
            sql.push(" WHERE user_id = ").push_bind(user);
        }
        sql.push(" ORDER BY created_at_ms DESC, public_id");
        let rows: Vec<KeyInfoRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(KeyInfo::try_from).collect()
    }

    async fn find_key(&self, public_id: &str) -> Result<Option<KeyRow>, StoreError> {
        self.count_key_lookup();
        let row = sqlx::query_as(
            "SELECT user_id, role, key_hash, revoked_at_ms FROM api_keys WHERE public_id = $1",
        )
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Notes that the key was used: at most once per [`TOUCH_EVERY`] per key, written by a
    /// task of its own, so authentication never waits for a write (a failure is logged).
    fn touch_in_background(&self, public_id: &str) {
        let now_ms = self.clock.now_ms();
        {
            let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
            let every_ms = i64::try_from(TOUCH_EVERY.as_millis()).unwrap_or(i64::MAX);
            match touched.get(public_id) {
                Some(last) if now_ms.saturating_sub(*last) < every_ms => return,
                _ => {
                    touched.insert(public_id.to_owned(), now_ms);
                }
            }
        }
        let pool = self.pool.clone();
        let public_id = public_id.to_owned();
        tokio::spawn(async move {
            let touched = sqlx::query(TOUCH)
                .bind(now_ms)
                .bind(&public_id)
                .execute(&pool)
                .await;
            if let Err(err) = touched {
                tracing::debug!(error = %err, "a key's last use was not written");
            }
        });
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn create(&self, user: &str, role: Role, env: KeyEnv) -> artgen_core::Result<ApiKey> {
        Ok(self.insert_key(user, role, env).await?)
    }

    async fn list(&self, user: Option<&str>) -> artgen_core::Result<Vec<KeyInfo>> {
        Ok(self.select_keys(user).await?)
    }

    async fn revoke(&self, public_id: &str) -> artgen_core::Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE public_id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(self.clock.now_ms())
        .bind(public_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from)?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch(&self, public_id: &str, at_ms: i64) -> artgen_core::Result<()> {
        sqlx::query(TOUCH)
            .bind(at_ms)
            .bind(public_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn count(&self) -> artgen_core::Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(from_db(count, "key count")?)
    }
}

#[async_trait]
impl Authenticator for PostgresStore {
    async fn authenticate(&self, credential: &str) -> artgen_core::Result<Principal> {
        // Shape and checksum first: a malformed key never reaches the database.
        let Some(key) = ApiKey::parse(credential) else {
            return Err(invalid_key());
        };
        let row = self.find_key(key.public_id()).await?;
        let principal = verify(&key, row)?;
        self.touch_in_background(key.public_id());
        Ok(principal)
    }
}
