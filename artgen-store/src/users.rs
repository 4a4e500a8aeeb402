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
