//! Budgets: how much a user or an organisation may spend in a calendar month, and what a
//! request holds against that while it runs.
//!
//! Amounts are [`Money`] (micro-dollars) and tokens (the sum of every token kind of a
//! [`TokenUsage`](super::TokenUsage)). A limit of `None` is no limit.

use serde::{Deserialize, Serialize};

use super::ids::RequestId;
use super::pricing::Money;

/// What a budget limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum BudgetScope {
    /// One user's requests.
    User(String),
    /// All requests of one organisation's users.
    Org(String),
}

impl BudgetScope {
    /// `user` or `org`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Org(_) => "org",
        }
    }

    /// The user's or organisation's id.
    pub fn id(&self) -> &str {
        match self {
            Self::User(id) | Self::Org(id) => id,
        }
    }
}

/// A budget's limits for one period; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLimits {
    /// Most money per period.
    pub usd: Option<Money>,
    /// Most tokens per period.
    pub tokens: Option<u64>,
}

impl BudgetLimits {
    /// Whether neither money nor tokens are limited.
    pub const fn is_unlimited(&self) -> bool {
        self.usd.is_none() && self.tokens.is_none()
    }
}

/// The period a budget counts over: `[start_ms, end_ms)` in Unix ms, a calendar month in the
/// configured time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BudgetPeriod {
    /// The period's first instant.
    pub start_ms: i64,
    /// The next period's first instant (when this budget resets).
    pub end_ms: i64,
}

/// Money and tokens counted against a budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// Money.
    pub usd: Money,
    /// Tokens.
    pub tokens: u64,
}

/// One scope a reservation is checked against, with that scope's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCheck {
    /// Whose budget.
    pub scope: BudgetScope,
    /// Its limits this period.
    pub limits: BudgetLimits,
}

/// What a request asks to hold against its budgets before its upstream call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The request (the key of its usage row, which settles the reservation).
    pub request_id: RequestId,
    /// Every budget the request counts against (its user's, and its org's when it has one).
    /// All of them must have room, or none is charged.
    pub checks: Vec<BudgetCheck>,
    /// The period counted.
    pub period: BudgetPeriod,
    /// The estimate held.
    pub amount: Spend,
    /// When the hold lapses if nothing settles or releases it (Unix ms): a lease, for
    /// requests whose process died.
    pub expires_at_ms: i64,
}

/// Where a budget stands in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// Whose budget.
    pub scope: BudgetScope,
    /// The period.
    pub period: BudgetPeriod,
    /// Settled spend (finished requests, and unfinished ones at their estimate).
    pub spent: Spend,
    /// Held by requests still running.
    pub reserved: Spend,
}

impl BudgetStatus {
    /// Spent plus reserved: what a new request must fit beside.
    pub fn committed(&self) -> Spend {
        Spend {
            usd: Money::from_micros(
                self.spent
                    .usd
                    .micros()
                    .saturating_add(self.reserved.usd.micros()),
            ),
            tokens: self.spent.tokens.saturating_add(self.reserved.tokens),
        }
    }
}

/// Which limit a refused reservation would have crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetDimension {
    /// The money limit.
    Usd,
    /// The token limit.
    Tokens,
}

/// Why a reservation was refused: the first budget without room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRefusal {
    /// Whose budget.
    pub scope: BudgetScope,
    /// Which limit.
    pub dimension: BudgetDimension,
    /// The limit (micro-dollars for [`BudgetDimension::Usd`], tokens otherwise).
    pub limit: u64,
    /// Spent plus reserved before this request, in the same unit.
    pub committed: u64,
    /// What the request asked for, in the same unit.
    pub requested: u64,
    /// When the period ends and the budget resets (Unix ms).
    pub resets_at_ms: i64,
}

/// The answer to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Held against every budget checked.
    Reserved,
    /// Not held anywhere: a budget has no room.
    Refused(BudgetRefusal),
}
