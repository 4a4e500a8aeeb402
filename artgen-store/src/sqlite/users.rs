//! User and organisation rows on SQLite (the [`UserStore`]). Admin changes are rare, so they
//! are written through the pool, each in a transaction of its own, not through the usage
//! writer.

use artgen_core::domain::{LimitsPatch, OrgRecord, UserRecord};
use artgen_core::ports::UserStore;
use async_trait::async_trait;

use super::SqliteStore;
use crate::error::StoreError;
use crate::users::{org_columns, patch_binds, user_columns, OrgRow, UserRow};

impl SqliteStore {
    async fn insert_user(
        &self,
        id: &str,
        org: Option<&str>,
    ) -> Result<(UserRecord, bool), StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, org_id, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(org)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row: UserRow = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = ?"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((row.try_into()?, inserted.rows_affected() == 1))
    }

    async fn select_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn select_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    /// Runs `update` (binds: its own, then `updated_at_ms` and the id) on user `id`'s row,
    /// made first when missing.
    async fn update_user<'q>(
        &self,
        id: &'q str,
        update: sqlx::query::QueryAs<'q, sqlx::Sqlite, UserRow, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<UserRecord, StoreError> {
        let now = self.clock.now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, created_at_ms, updated_at_ms) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = update.bind(now).bind(id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn patch_user(&self, id: &str, patch: &LimitsPatch) -> Result<UserRecord, StoreError> {
        let [usd, tokens, rate, burst] = patch_binds(patch)?;
        let sql = concat!(
            "UPDATE users SET \
             budget_usd_micros = CASE WHEN ? THEN ? ELSE budget_usd_micros END, \
             budget_tokens = CASE WHEN ? THEN ? ELSE budget_tokens END, \
             rate_per_minute = CASE WHEN ? THEN ? ELSE rate_per_minute END, \
             rate_burst = CASE WHEN ? THEN ? ELSE rate_burst END, \
             updated_at_ms = ? WHERE id = ? RETURNING ",
            user_columns!()
        );
        let update = sqlx::query_as(sql)
            .bind(usd.set)
            .bind(usd.value)
            .bind(tokens.set)
            .bind(tokens.value)
            .bind(rate.set)
            .bind(rate.value)
            .bind(burst.set)
            .bind(burst.value);
        self.update_user(id, update).await
    }

    async fn disable_user(&self, id: &str, disabled: bool) -> Result<UserRecord, StoreError> {
        let sql = concat!(
            "UPDATE users SET disabled = ?, updated_at_ms = ? WHERE id = ? RETURNING ",
            user_columns!()
        );
        self.update_user(id, sqlx::query_as(sql).bind(disabled))
            .await
    }

    async fn select_org(&self, id: &str) -> Result<Option<OrgRecord>, StoreError> {
        let row: Option<OrgRow> = sqlx::query_as(concat!(
            "SELECT ",
            org_columns!(),
            " FROM orgs WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(OrgRecord::try_from).transpose()
    }

    async fn patch_org(&self, id: &str, patch: &LimitsPatch) -> Result<OrgRecord, StoreError> {
        let [usd, tokens, _, _] = patch_binds(patch)?;
        let now = self.clock.now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO orgs (id, updated_at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row: OrgRow = sqlx::query_as(concat!(
            "UPDATE orgs SET \
             budget_usd_micros = CASE WHEN ? THEN ? ELSE budget_usd_micros END, \
             budget_tokens = CASE WHEN ? THEN ? ELSE budget_tokens END, \
             updated_at_ms = ? WHERE id = ? RETURNING ",
            org_columns!()
        ))
        .bind(usd.set)
        .bind(usd.value)
        .bind(tokens.set)
        .bind(tokens.value)
        .bind(now)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(
        &self,
        id: &str,
        org: Option<&str>,
    ) -> artgen_core::Result<(UserRecord, bool)> {
        Ok(self.insert_user(id, org).await?)
    }

    async fn get_user(&self, id: &str) -> artgen_core::Result<Option<UserRecord>> {
        Ok(self.select_user(id).await?)
    }

    async fn list_users(&self) -> artgen_core::Result<Vec<UserRecord>> {
        Ok(self.select_users().await?)
    }

    async fn set_user_limits(
        &self,
        id: &str,
        patch: &LimitsPatch,
    ) -> artgen_core::Result<UserRecord> {
        Ok(self.patch_user(id, patch).await?)
    }

    async fn set_user_disabled(&self, id: &str, disabled: bool) -> artgen_core::Result<UserRecord> {
        Ok(self.disable_user(id, disabled).await?)
    }

    async fn get_org(&self, id: &str) -> artgen_core::Result<Option<OrgRecord>> {
        Ok(self.select_org(id).await?)
    }

    async fn set_org_limits(
        &self,
        id: &str,
        patch: &LimitsPatch,
    ) -> artgen_core::Result<OrgRecord> {
        Ok(self.patch_org(id, patch).await?)
    }
}
