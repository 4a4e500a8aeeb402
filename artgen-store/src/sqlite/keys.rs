//! API keys on SQLite: issue, revoke, list (the [`KeyStore`]), and the [`Authenticator`] that
//! checks them.

use artgen_core::domain::{ApiKey, KeyEnv, Principal, Role};
use artgen_core::ports::{Authenticator, KeyStore};
use std::sync::PoisonError;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::writer::Op;
use super::SqliteStore;
use crate::error::{from_db, StoreError};
use crate::keys::{
    generate_key, hash_key, invalid_key, verify, KeyInfo, KeyInfoRow, KeyRow, ISSUE_ATTEMPTS,
    TOUCH_EVERY,
};

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl SqliteStore {
    /// Issues a new API key for `user` with `role`.
    ///
    /// The key body is 40 base62 characters from the operating system's CSPRNG; only the
    /// SHA-256 of the full key is stored. The returned key is the only time its secret is
    /// available: show it once.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the insert fails, [`StoreError::KeyIdCollision`] when
    /// every attempt drew a public id that is already taken.
    pub async fn create_key(
        &self,
        user: &str,
        role: Role,
        env: KeyEnv,
    ) -> Result<ApiKey, StoreError> {
        for _ in 0..ISSUE_ATTEMPTS {
            let key = generate_key(env).ok_or_else(|| StoreError::Corrupt {
                field: "generated key",
                reason: "random body was refused by the key format".to_owned(),
            })?;
            let inserted = sqlx::query(
                "INSERT INTO api_keys (public_id, user_id, role, key_hash, last_four, \
                 created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(key.public_id())
            .bind(user)
            .bind(role.as_str())
            .bind(hash_key(&key).as_slice())
            .bind(key.last_four())
            .bind(self.clock.now_ms())
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => return Ok(key),
                Err(err) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::KeyIdCollision)
    }

    /// Revokes the key with this public id. Returns `true` when a live key was revoked and
    /// `false` when there is no such key or it was already revoked.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the update fails.
    pub async fn revoke_key(&self, public_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = ? \
             WHERE public_id = ? AND revoked_at_ms IS NULL",
        )
        .bind(self.clock.now_ms())
        .bind(public_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Lists keys (revoked ones included), newest first, optionally only `user`'s. Never
    /// returns key material beyond the public id and the last four characters.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the query fails, [`StoreError::Corrupt`] for a row that
    /// cannot be read back.
    pub async fn list_keys(&self, user: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
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

    /// How many keys exist (revoked ones included); lets a server decide whether to bootstrap
    /// an admin key.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the query fails.
    pub async fn count_keys(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
            .fetch_one(&self.pool)
            .await?;
        from_db(count, "key count")
    }

    /// Sets a key's `last_used_at_ms` now (through the pool), never moving it back.
    async fn touch_now(&self, public_id: &str, at_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        touch(&mut conn, public_id, at_ms).await?;
        Ok(())
    }

    async fn find_key(&self, public_id: &str) -> Result<Option<KeyRow>, StoreError> {
        self.count_key_lookup();
        let row = sqlx::query_as(
            "SELECT user_id, role, key_hash, revoked_at_ms FROM api_keys WHERE public_id = ?",
        )
        .bind(public_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Notes that the key was used: at most once per [`TOUCH_EVERY`] per key, queued to the
    /// writer without waiting (it joins the next batch), so authentication never waits for a
    /// write.
    fn touch_key(&self, public_id: &str) {
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
        self.writer.send_and_forget(Op::Touch {
            public_id: public_id.to_owned(),
            at_ms: now_ms,
        });
    }
}

/// Sets a key's `last_used_at_ms`, never moving it back.
const TOUCH: &str = "UPDATE api_keys SET last_used_at_ms = max(coalesce(last_used_at_ms, 0), ?) \
    WHERE public_id = ?";

/// Sets a key's `last_used_at_ms` (see [`TOUCH`]) on a pool connection; the rows changed.
pub(super) async fn touch(
    conn: &mut SqliteConnection,
    public_id: &str,
    at_ms: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(TOUCH)
        .bind(at_ms)
        .bind(public_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Sets a key's `last_used_at_ms` (see [`TOUCH`]) on the usage writer's connection; the rows
/// changed.
pub(super) fn write_touch(
    conn: &rusqlite::Connection,
    public_id: &str,
    at_ms: i64,
) -> Result<u64, StoreError> {
    let changed = conn
        .prepare_cached(TOUCH)?
        .execute(rusqlite::params![at_ms, public_id])?;
    Ok(super::writer::rows(changed))
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create(&self, user: &str, role: Role, env: KeyEnv) -> artgen_core::Result<ApiKey> {
        Ok(self.create_key(user, role, env).await?)
    }

    async fn list(&self, user: Option<&str>) -> artgen_core::Result<Vec<KeyInfo>> {
        Ok(self.list_keys(user).await?)
    }

    async fn revoke(&self, public_id: &str) -> artgen_core::Result<bool> {
        Ok(self.revoke_key(public_id).await?)
    }

    async fn touch(&self, public_id: &str, at_ms: i64) -> artgen_core::Result<()> {
        Ok(self.touch_now(public_id, at_ms).await?)
    }

    async fn count(&self) -> artgen_core::Result<u64> {
        Ok(self.count_keys().await?)
    }
}

#[async_trait]
impl Authenticator for SqliteStore {
    async fn authenticate(&self, credential: &str) -> artgen_core::Result<Principal> {
        // Shape and checksum first: a malformed key never reaches the database.
        let Some(key) = ApiKey::parse(credential) else {
            return Err(invalid_key());
        };
        let row = self.find_key(key.public_id()).await?;
        let principal = verify(&key, row)?;
        self.touch_key(key.public_id());
        Ok(principal)
    }
}
