//! Usage summaries: counts and money per user, organisation, model or day over a period.

use serde::{Deserialize, Serialize};

use super::pricing::Money;

/// What a summary groups usage records by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageGroupBy {
    /// The user who made the request.
    User,
    /// The user's organisation (records without one form one group whose key is `None`).
    Org,
    /// The model id.
    Model,
    /// The UTC day of `created_at_ms`, as `YYYY-MM-DD`.
    Day,
}

impl UsageGroupBy {
    /// Every grouping.
    pub const ALL: [UsageGroupBy; 4] = [Self::User, Self::Org, Self::Model, Self::Day];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Org => "org",
            Self::Model => "model",
            Self::Day => "day",
        }
    }

    /// The grouping with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// Which records a summary covers and how it groups them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummaryQuery {
    /// The grouping.
    pub group_by: UsageGroupBy,
    /// Records at or after this time (Unix ms).
    pub from_ms: i64,
    /// Records before this time (Unix ms).
    pub to_ms: i64,
    /// Only this user's records.
    pub user: Option<String>,
}

/// The totals of one group, with the vocabulary of the daily roll-up: every record counts
/// once in `requests` and once in exactly one of `succeeded`, `failed` and `unfinished`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSummary {
    /// The group: a user, organisation, model id or `YYYY-MM-DD` day; `None` only for the
    /// records without an organisation when grouping by organisation.
    pub key: Option<String>,
    /// Records.
    pub requests: u64,
    /// Records with status `succeeded`.
    pub succeeded: u64,
    /// Records with status `failed`.
    pub failed: u64,
    /// Records still `started` or `unknown` (counted at their estimate).
    pub unfinished: u64,
    /// Images returned.
    pub images: u64,
    /// Input tokens (text, image and SVG authoring).
    pub input_tokens: u64,
    /// Output tokens (image, text and SVG authoring).
    pub output_tokens: u64,
    /// Sum of the estimates.
    pub estimated_cost: Money,
    /// Sum of the settled costs.
    pub cost: Money,
}
