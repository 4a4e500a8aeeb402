//! Backend-independent pieces of the user, organisation and audit rows: how each domain value
//! is stored and read back. Both SQL backends store the same columns.

use artgen_core::domain::{LimitsPatch, Money, OrgRecord, UserLimits, UserRecord};
use artgen_core::ports::AuditEntry;

use crate::error::{from_db, to_db, StoreError};

/// The columns of a user row, as a literal for `concat!` (SQL is never formatted at run time).
macro_rules! user_columns {
    () => {
        "id, org_id, budget_usd_micros, budget_tokens, rate_per_minute, rate_burst, disabled, \
         created_at_ms, updated_at_ms"
    };
}
pub(crate) use user_columns;

/// The columns of an organisation row, as a literal for `concat!`.
macro_rules! org_columns {
    () => {
        "id, budget_usd_micros, budget_tokens, updated_at_ms"
    };
}
pub(crate) use org_columns;

/// A stored user row.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    org_id: Option<String>,
    budget_usd_micros: Option<i64>,
    budget_tokens: Option<i64>,
    rate_per_minute: Option<i64>,
    rate_burst: Option<i64>,
    disabled: bool,
    created_at_ms: i64,
    updated_at_ms: i64,
}

/// A stored organisation row.
#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: String,
    budget_usd_micros: Option<i64>,
    budget_tokens: Option<i64>,
    updated_at_ms: i64,
}

fn optional_u64(value: Option<i64>, field: &'static str) -> Result<Option<u64>, StoreError> {
    value.map(|v| from_db(v, field)).transpose()
}

fn optional_u32(value: Option<i64>, field: &'static str) -> Result<Option<u32>, StoreError> {
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt {
                field,
                reason: format!("{v} is not a 32-bit count"),
            })
        })
        .transpose()
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(UserRecord {
            id: row.id,
            org: row.org_id,
            limits: UserLimits {
                budget_usd_per_month: optional_u64(row.budget_usd_micros, "user budget")?
                    .map(Money::from_micros),
                budget_tokens_per_month: optional_u64(row.budget_tokens, "user token budget")?,
                rate_limit_per_minute: optional_u32(row.rate_per_minute, "user rate")?,
                rate_limit_burst: optional_u32(row.rate_burst, "user burst")?,
            },
            disabled: row.disabled,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

impl TryFrom<OrgRow> for OrgRecord {
    type Error = StoreError;

    fn try_from(row: OrgRow) -> Result<Self, StoreError> {
        Ok(OrgRecord {
            id: row.id,
            limits: UserLimits {
                budget_usd_per_month: optional_u64(row.budget_usd_micros, "org budget")?
                    .map(Money::from_micros),
                budget_tokens_per_month: optional_u64(row.budget_tokens, "org token budget")?,
                rate_limit_per_minute: None,
                rate_limit_burst: None,
            },
            updated_at_ms: row.updated_at_ms,
        })
    }
}

/// One field of a patch as binds: whether to change it, and to what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldBind {
    /// Whether the patch names the field.
    pub(crate) set: bool,
    /// Its new value (`None`: cleared).
    pub(crate) value: Option<i64>,
}

fn field<T: Copy>(
    patch: Option<Option<T>>,
    to: impl Fn(T) -> u64,
    name: &'static str,
) -> Result<FieldBind, StoreError> {
    Ok(match patch {
        None => FieldBind {
            set: false,
            value: None,
        },
        Some(value) => FieldBind {
            set: true,
            value: value.map(|v| to_db(to(v), name)).transpose()?,
        },
    })
}

/// A patch's four fields as binds, in column order: money, tokens, rate, burst.
pub(crate) fn patch_binds(patch: &LimitsPatch) -> Result<[FieldBind; 4], StoreError> {
    Ok([
        field(
            patch.budget_usd_per_month,
            Money::micros,
            "budget_usd_per_month",
        )?,
        field(
            patch.budget_tokens_per_month,
            |t| t,
            "budget_tokens_per_month",
        )?,
        field(
            patch.rate_limit_per_minute,
            u64::from,
            "rate_limit_per_minute",
        )?,
        field(patch.rate_limit_burst, u64::from, "rate_limit_burst")?,
    ])
}

/// A stored audit entry (`detail` as JSON text).
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    at_ms: i64,
    actor: String,
    credential_id: Option<String>,
    action: String,
    target: String,
    detail: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            at_ms: row.at_ms,
            actor: row.actor,
            credential_id: row.credential_id,
            action: row.action,
            target: row.target,
            detail: serde_json::from_str(&row.detail)?,
        })
    }
}

/// SQL written with `?` bind markers, as SQLite takes it.
pub(crate) fn question_marks(sql: &'static str) -> std::borrow::Cow<'static, str> {
    std::borrow::Cow::Borrowed(sql)
}

/// SQL written with `?` bind markers, numbered `$1`, `$2`, ... as Postgres takes them (the
/// statements here hold no `?` inside a literal).
pub(crate) fn numbered(sql: &'static str) -> std::borrow::Cow<'static, str> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The [`UserStore`](artgen_core::ports::UserStore) and
/// [`AuditLog`](artgen_core::ports::AuditLog) of one SQL backend. Both backends keep the same
/// tables and run the same statements, written with `?` and given to the backend by `$sql`
/// ([`question_marks`] or [`numbered`]); `$json` is the type `detail` is stored as. Invoked as
/// `sql_user_store!(Store, Database, Arguments, sql_fn, "json type")`. Admin changes are rare,
/// so they go through the pool, each in a transaction of its own (on SQLite, not through the
/// usage writer).
macro_rules! sql_user_store {
    ($store:ty, $db:ty, $args:ty, $sql:path, $json:literal) => {
        use artgen_core::domain::{LimitsPatch, OrgRecord, UserRecord};
        use artgen_core::ports::{AuditEntry, AuditLog, AuditQuery, UserStore};
        use async_trait::async_trait;
        use sqlx::QueryBuilder;

        use crate::error::StoreError;
        use crate::users::{org_columns, patch_binds, user_columns, AuditRow, OrgRow, UserRow};

        impl $store {
            async fn insert_user(
                &self,
                id: &str,
                org: Option<&str>,
            ) -> Result<(UserRecord, bool), StoreError> {
                let now = self.clock.now_ms();
                let insert = $sql(
                    "INSERT INTO users (id, org_id, created_at_ms, updated_at_ms) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                );
                let select = $sql(concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?"));
                let mut tx = self.pool.begin().await?;
                let inserted = sqlx::query(&insert)
                    .bind(id)
                    .bind(org)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let row: UserRow = sqlx::query_as(&select).bind(id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok((row.try_into()?, inserted.rows_affected() == 1))
            }

            async fn select_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
                let select = $sql(concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?"));
                let row: Option<UserRow> = sqlx::query_as(&select)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(UserRecord::try_from).transpose()
            }

            async fn select_users(&self) -> Result<Vec<UserRecord>, StoreError> {
                let rows: Vec<UserRow> =
                    sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users ORDER BY id"))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(UserRecord::try_from).collect()
            }

            /// Runs `update` (binds: its own, then `updated_at_ms` and the id) on user `id`'s
            /// row, made first when missing.
            async fn update_user<'q>(
                &self,
                id: &'q str,
                update: sqlx::query::QueryAs<'q, $db, UserRow, $args>,
            ) -> Result<UserRecord, StoreError> {
                let now = self.clock.now_ms();
                let insert = $sql(
                    "INSERT INTO users (id, created_at_ms, updated_at_ms) VALUES (?, ?, ?) \
                     ON CONFLICT (id) DO NOTHING",
                );
                let mut tx = self.pool.begin().await?;
                sqlx::query(&insert)
                    .bind(id)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let row = update.bind(now).bind(id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn patch_user(
                &self,
                id: &str,
                patch: &LimitsPatch,
            ) -> Result<UserRecord, StoreError> {
                let [usd, tokens, rate, burst] = patch_binds(patch)?;
                let sql = $sql(concat!(
                    "UPDATE users SET \
                     budget_usd_micros = CASE WHEN ? THEN ? ELSE budget_usd_micros END, \
                     budget_tokens = CASE WHEN ? THEN ? ELSE budget_tokens END, \
                     rate_per_minute = CASE WHEN ? THEN ? ELSE rate_per_minute END, \
                     rate_burst = CASE WHEN ? THEN ? ELSE rate_burst END, \
                     updated_at_ms = ? WHERE id = ? RETURNING ",
                    user_columns!()
                ));
                let update = sqlx::query_as(&sql)
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

            async fn disable_user(
                &self,
                id: &str,
                disabled: bool,
            ) -> Result<UserRecord, StoreError> {
                let sql = $sql(concat!(
                    "UPDATE users SET disabled = ?, updated_at_ms = ? WHERE id = ? RETURNING ",
                    user_columns!()
                ));
                self.update_user(id, sqlx::query_as(&sql).bind(disabled))
                    .await
            }

            async fn select_org(&self, id: &str) -> Result<Option<OrgRecord>, StoreError> {
                let select = $sql(concat!("SELECT ", org_columns!(), " FROM orgs WHERE id = ?"));
                let row: Option<OrgRow> = sqlx::query_as(&select)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(OrgRecord::try_from).transpose()
            }

            async fn patch_org(
                &self,
                id: &str,
                patch: &LimitsPatch,
            ) -> Result<OrgRecord, StoreError> {
                let [usd, tokens, _, _] = patch_binds(patch)?;
                let now = self.clock.now_ms();
                let insert = $sql(
                    "INSERT INTO orgs (id, updated_at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                );
                let update = $sql(concat!(
                    "UPDATE orgs SET \
                     budget_usd_micros = CASE WHEN ? THEN ? ELSE budget_usd_micros END, \
                     budget_tokens = CASE WHEN ? THEN ? ELSE budget_tokens END, \
                     updated_at_ms = ? WHERE id = ? RETURNING ",
                    org_columns!()
                ));
                let mut tx = self.pool.begin().await?;
                sqlx::query(&insert)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let row: OrgRow = sqlx::query_as(&update)
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

            async fn insert_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
                let insert = $sql(concat!(
                    "INSERT INTO audit_log (at_ms, actor, credential_id, action, target, detail) \
                     VALUES (?, ?, ?, ?, ?, CAST(? AS ",
                    $json,
                    "))"
                ));
                sqlx::query(&insert)
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
                let mut sql = QueryBuilder::<$db>::new(
                    "SELECT at_ms, actor, credential_id, action, target, \
                     CAST(detail AS TEXT) AS detail FROM audit_log WHERE 1 = 1",
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
        impl UserStore for $store {
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

            async fn set_user_disabled(
                &self,
                id: &str,
                disabled: bool,
            ) -> artgen_core::Result<UserRecord> {
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

        #[async_trait]
        impl AuditLog for $store {
            async fn append(&self, entry: &AuditEntry) -> artgen_core::Result<()> {
                Ok(self.insert_audit(entry).await?)
            }

            async fn list(&self, query: &AuditQuery) -> artgen_core::Result<Vec<AuditEntry>> {
                Ok(self.select_audit(query).await?)
            }
        }
    };
}

pub(crate) use sql_user_store;
