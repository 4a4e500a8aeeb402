//! Users as the admin API manages them: organisation, limits, whether they may sign in.
//!
//! A user exists implicitly when a credential names them (an API key's owner, an OIDC
//! subject); a row is only needed to give them limits of their own or to disable them.

use serde::{Deserialize, Serialize};

use super::pricing::Money;

/// A user's own limits; each `None` falls back to the organisation's or the server's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLimits {
    /// Most money per calendar month.
    pub budget_usd_per_month: Option<Money>,
    /// Most tokens per calendar month.
    pub budget_tokens_per_month: Option<u64>,
    /// Rate-limit units per minute.
    pub rate_limit_per_minute: Option<u32>,
    /// Rate-limit units at once.
    pub rate_limit_burst: Option<u32>,
}

/// A change to a user's (or an organisation's) limits: each field absent keeps the value,
/// `Some(None)` clears it back to the default, `Some(Some(v))` sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsPatch {
    /// Most money per calendar month.
    pub budget_usd_per_month: Option<Option<Money>>,
    /// Most tokens per calendar month.
    pub budget_tokens_per_month: Option<Option<u64>>,
    /// Rate-limit units per minute.
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// Rate-limit units at once.
    pub rate_limit_burst: Option<Option<u32>>,
}

impl LimitsPatch {
    /// `limits` with this patch applied.
    #[must_use]
    pub fn apply(&self, mut limits: UserLimits) -> UserLimits {
        if let Some(v) = self.budget_usd_per_month {
            limits.budget_usd_per_month = v;
        }
        if let Some(v) = self.budget_tokens_per_month {
            limits.budget_tokens_per_month = v;
        }
        if let Some(v) = self.rate_limit_per_minute {
            limits.rate_limit_per_minute = v;
        }
        if let Some(v) = self.rate_limit_burst {
            limits.rate_limit_burst = v;
        }
        limits
    }
}

/// A user's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's id (what credentials name).
    pub id: String,
    /// The organisation, if set by an admin (a credential's own org claim wins when present).
    pub org: Option<String>,
    /// The user's own limits.
    pub limits: UserLimits,
    /// A disabled user's credentials are refused.
    pub disabled: bool,
    /// When the row was created (Unix ms).
    pub created_at_ms: i64,
    /// When the row last changed (Unix ms).
    pub updated_at_ms: i64,
}

/// An organisation's own limits (its members' shared budget).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// The organisation's id.
    pub id: String,
    /// Its limits (rate-limit fields are unused for organisations).
    pub limits: UserLimits,
    /// When the row last changed (Unix ms).
    pub updated_at_ms: i64,
}
