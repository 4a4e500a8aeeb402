//! Budgets: how much a user or an organisation may spend in a calendar month, and what a
//! request holds against that while it runs.
//!
//! Amounts are [`Money`] (micro-dollars) and tokens (the sum of every token kind of a
//! [`TokenUsage`], see [`budget_tokens`]). A limit of `None` is no limit.

use serde::{Deserialize, Serialize};

use super::ids::RequestId;
use super::pricing::{Money, TokenUsage};

/// The tokens a budget counts of a request's usage: every kind, SVG authoring included.
pub const fn budget_tokens(usage: &TokenUsage) -> u64 {
    usage.total_tokens().saturating_add(usage.svg_tokens())
}

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

    /// These limits, each unset dimension taken from `defaults`.
    #[must_use]
    pub fn or(self, defaults: BudgetLimits) -> Self {
        Self {
            usd: self.usd.or(defaults.usd),
            tokens: self.tokens.or(defaults.tokens),
        }
    }

    /// The first dimension in which `committed + amount` would exceed these limits, with
    /// the limit and the committed amount in that dimension's unit.
    pub fn refusal(
        &self,
        committed: Spend,
        amount: Spend,
    ) -> Option<(BudgetDimension, u64, u64, u64)> {
        if let Some(limit) = self.usd {
            let (limit, used, asked) =
                (limit.micros(), committed.usd.micros(), amount.usd.micros());
            if used.saturating_add(asked) > limit {
                return Some((BudgetDimension::Usd, limit, used, asked));
            }
        }
        if let Some(limit) = self.tokens {
            if committed.tokens.saturating_add(amount.tokens) > limit {
                return Some((
                    BudgetDimension::Tokens,
                    limit,
                    committed.tokens,
                    amount.tokens,
                ));
            }
        }
        None
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

impl Spend {
    /// Both dimensions added, saturating.
    #[must_use]
    pub fn plus(self, other: Spend) -> Spend {
        Spend {
            usd: self.usd + other.usd,
            tokens: self.tokens.saturating_add(other.tokens),
        }
    }
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
    /// Held against every budget checked. Carries where each checked budget with a limit
    /// stood just before this hold (in the order of the checks; a check unlimited in both
    /// dimensions is left out), so the caller can tell a soft threshold crossed without a
    /// second read. A repeated reservation of a request already holding one carries none.
    Reserved(Vec<BudgetStatus>),
    /// Not held anywhere: a budget has no room.
    Refused(BudgetRefusal),
}

impl ReserveOutcome {
    /// Whether the amount is held.
    pub const fn is_reserved(&self) -> bool {
        matches!(self, Self::Reserved(_))
    }
}

impl BudgetPeriod {
    /// The calendar month holding `now_ms`, in UTC (no time zone data needed).
    pub fn utc_month(now_ms: i64) -> Self {
        let days = now_ms.div_euclid(DAY_MS);
        let (year, month, _) = civil_from_days(days);
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Self {
            start_ms: days_from_civil(year, month, 1) * DAY_MS,
            end_ms: days_from_civil(next_year, next_month, 1) * DAY_MS,
        }
    }

    /// Whether `at_ms` falls in the period.
    pub const fn contains(&self, at_ms: i64) -> bool {
        self.start_ms <= at_ms && at_ms < self.end_ms
    }
}

const DAY_MS: i64 = 86_400_000;

/// `at_ms` as an RFC 3339 UTC timestamp to the second (`2027-01-01T00:00:00Z`), for messages
/// and answers.
pub fn rfc3339_utc(at_ms: i64) -> String {
    let days = at_ms.div_euclid(DAY_MS);
    let secs = at_ms.rem_euclid(DAY_MS) / 1000;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// The day count since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Which period a budget counts over at a given instant: the calendar month in the
/// operator's time zone. The core knows only UTC ([`UtcMonths`]); the server supplies one
/// for named time zones.
pub trait BudgetCalendar: Send + Sync + std::fmt::Debug {
    /// The period holding `now_ms` (Unix ms).
    fn period_at(&self, now_ms: i64) -> BudgetPeriod;
}

/// Calendar months in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcMonths;

impl BudgetCalendar for UtcMonths {
    fn period_at(&self, now_ms: i64) -> BudgetPeriod {
        BudgetPeriod::utc_month(now_ms)
    }
}

/// How the service applies budgets: the default limits, the soft threshold and its policy,
/// the lease of a reservation and the calendar.
#[derive(Debug, Clone)]
pub struct BudgetPolicy {
    /// A user's limits where the principal sets none (per dimension).
    pub user_defaults: BudgetLimits,
    /// An organisation's limits where the principal sets none (per dimension).
    pub org_defaults: BudgetLimits,
    /// Percent of a limit past which a request is reported (and, with
    /// `downgrade_quality`, made at `medium` instead of `high`); 1..=100.
    pub soft_threshold_percent: u8,
    /// Past the soft threshold, make `quality: high` requests at `medium`.
    pub downgrade_quality: bool,
    /// How long a reservation holds when nothing settles or releases it, ms.
    pub lease_ms: i64,
    /// The period budgets count over.
    pub calendar: std::sync::Arc<dyn BudgetCalendar>,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        Self {
            user_defaults: BudgetLimits::default(),
            org_defaults: BudgetLimits::default(),
            soft_threshold_percent: 80,
            downgrade_quality: false,
            lease_ms: 15 * 60 * 1000,
            calendar: std::sync::Arc::new(UtcMonths),
        }
    }
}

impl BudgetPolicy {
    /// Whether `committed` has reached the soft threshold of `limits` in either dimension.
    pub fn past_threshold(&self, limits: &BudgetLimits, committed: Spend) -> bool {
        let threshold = u128::from(self.soft_threshold_percent);
        let past = |used: u64, limit: u64| u128::from(used) * 100 >= u128::from(limit) * threshold;
        limits
            .usd
            .is_some_and(|l| past(committed.usd.micros(), l.micros()))
            || limits.tokens.is_some_and(|l| past(committed.tokens, l))
    }
}

/// Where one budget stands for a caller: its effective limits and what remains this period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetView {
    /// Whose budget.
    pub scope: BudgetScope,
    /// The limits in force (the scope's own, else the server's defaults).
    pub limits: BudgetLimits,
    /// The period.
    pub period: BudgetPeriod,
    /// Settled spend.
    pub spent: Spend,
    /// Held by requests still running.
    pub reserved: Spend,
    /// Money left (`None`: no money limit).
    pub remaining_usd: Option<Money>,
    /// Tokens left (`None`: no token limit).
    pub remaining_tokens: Option<u64>,
}

impl BudgetView {
    /// The view of `status` under `limits`.
    pub fn new(status: BudgetStatus, limits: BudgetLimits) -> Self {
        let committed = status.committed();
        Self {
            remaining_usd: limits
                .usd
                .map(|l| Money::from_micros(l.micros().saturating_sub(committed.usd.micros()))),
            remaining_tokens: limits.tokens.map(|l| l.saturating_sub(committed.tokens)),
            scope: status.scope,
            limits,
            period: status.period,
            spent: status.spent,
            reserved: status.reserved,
        }
    }

    /// When the budget resets (Unix ms): the period's end.
    pub const fn resets_at_ms(&self) -> i64 {
        self.period.end_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utc_month_runs_from_its_first_midnight_to_the_next_months() {
        // 2026-12-01T15:32:28Z
        let period = BudgetPeriod::utc_month(1_796_139_148_000);
        assert_eq!(period.start_ms, 1_796_083_200_000, "2026-12-01T00:00Z");
        assert_eq!(period.end_ms, 1_798_761_600_000, "2027-01-01T00:00Z");
        let feb = BudgetPeriod::utc_month(1_709_164_800_000); // 2024-02-29
        assert_eq!(feb.start_ms, 1_706_745_600_000, "2024-02-01");
        assert_eq!(feb.end_ms, 1_709_251_200_000, "2024-03-01");
        assert!(feb.contains(feb.start_ms) && !feb.contains(feb.end_ms));
        assert_eq!(rfc3339_utc(1_796_139_148_000), "2026-12-01T15:32:28Z");
        assert_eq!(rfc3339_utc(feb.end_ms), "2024-03-01T00:00:00Z");
    }

    #[test]
    fn the_first_dimension_without_room_is_named() {
        let limits = BudgetLimits {
            usd: Some(Money::from_micros(100)),
            tokens: Some(10),
        };
        let spend = |usd, tokens| Spend {
            usd: Money::from_micros(usd),
            tokens,
        };
        assert_eq!(
            limits.refusal(spend(60, 0), spend(40, 10)),
            None,
            "exactly full fits"
        );
        assert_eq!(
            limits.refusal(spend(61, 0), spend(40, 0)),
            Some((BudgetDimension::Usd, 100, 61, 40))
        );
        assert_eq!(
            limits.refusal(spend(0, 5), spend(0, 6)),
            Some((BudgetDimension::Tokens, 10, 5, 6))
        );
        assert_eq!(
            BudgetLimits::default().refusal(spend(u64::MAX, 0), spend(1, 1)),
            None
        );
    }

    #[test]
    fn the_soft_threshold_is_reached_at_its_percent_of_either_limit() {
        let policy = BudgetPolicy::default();
        let limits = BudgetLimits {
            usd: Some(Money::from_micros(1000)),
            tokens: None,
        };
        let at = |usd| Spend {
            usd: Money::from_micros(usd),
            tokens: 0,
        };
        assert!(!policy.past_threshold(&limits, at(799)));
        assert!(policy.past_threshold(&limits, at(800)));
        assert!(!policy.past_threshold(&BudgetLimits::default(), at(u64::MAX)));
    }
}
