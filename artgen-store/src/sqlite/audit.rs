//! The audit trail on SQLite (the [`AuditLog`]): appended through the pool (admin actions are
//! rare), read newest first.

use artgen_core::ports::{AuditEntry, AuditLog, AuditQuery};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::error::StoreError;
use crate::users::AuditRow;

impl SqliteStore {
    async fn insert_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, credential_id, action, target, detail) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(entry.at_ms)
        .bind(&entry.actor)
        .bind(entry.credential_id.as_deref())
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(serde_json::to_string(&entry.detail)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn select_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT at_ms, actor, credential_id, action, target, detail FROM audit_log WHERE 1 = 1",
        );
        if let Some(from) = query.from_ms {
            sql.push(" AND at_ms >= ").push_bind(from);
        }
        if let Some(to) = query.to_ms {
            sql.push(" AND at_ms < ").push_bind(to);
        }
        if let Some(target) = &query.target {
            sql.push(" AND target = ").push_bind(target);
        }
        sql.push(" ORDER BY at_ms DESC, seq DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows: Vec<AuditRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append(&self, entry: &AuditEntry) -> artgen_core::Result<()> {
        Ok(self.insert_audit(entry).await?)
    }

    async fn list(&self, query: &AuditQuery) -> artgen_core::Result<Vec<AuditEntry>> {
        Ok(self.select_audit(query).await?)
    }
}
