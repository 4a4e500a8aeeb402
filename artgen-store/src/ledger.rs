//! Backend-independent rules of the [`Ledger`](artgen_core::ports::Ledger) adapters: where a
//! budget stands, computed from the rows themselves, and the check of a reservation.
//!
//! A budget's spend is the sum of its period's `usage` rows at `cost_micros` (a row still
//! `started` or `unknown` has its estimate there) and their tokens, except rows whose request
//! still holds a reservation: those count once, through `budget_reservations`, until the
//! usage row's finish deletes the hold in its own transaction. No running total is kept, so
//! there is nothing to drift from the rows.

use artgen_core::domain::{
    BudgetPeriod, BudgetRefusal, BudgetScope, BudgetStatus, Money, Reservation, Spend,
};

use crate::error::{from_db, to_db, StoreError};

/// The tokens of a usage row, every kind.
const ROW_TOKENS: &str = "u.input_text_tokens + u.input_image_tokens + u.output_image_tokens \
    + u.output_text_tokens + u.svg_input_tokens + u.svg_output_tokens";

/// The column of `usage` (and of `budget_reservations`) naming a scope.
fn scope_column(scope: &BudgetScope) -> &'static str {
    match scope {
        BudgetScope::User(_) => "user_id",
        BudgetScope::Org(_) => "org",
    }
}

/// Where a budget stands, as a database returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct StandingRow {
    spent_micros: i64,
    spent_tokens: i64,
    reserved_micros: i64,
    reserved_tokens: i64,
}

impl StandingRow {
    /// The row of the four columns [`push_standing`] selects, in their order.
    pub(crate) fn of_columns(columns: [i64; 4]) -> Self {
        let [spent_micros, spent_tokens, reserved_micros, reserved_tokens] = columns;
        Self {
            spent_micros,
            spent_tokens,
            reserved_micros,
            reserved_tokens,
        }
    }

    /// The status of `scope` in `period` this row describes.
    pub(crate) fn into_status(
        self,
        scope: &BudgetScope,
        period: BudgetPeriod,
    ) -> Result<BudgetStatus, StoreError> {
        Ok(BudgetStatus {
            scope: scope.clone(),
            period,
            spent: Spend {
                usd: Money::from_micros(from_db(self.spent_micros, "spent_micros")?),
                tokens: from_db(self.spent_tokens, "spent_tokens")?,
            },
            reserved: Spend {
                usd: Money::from_micros(from_db(self.reserved_micros, "reserved_micros")?),
                tokens: from_db(self.reserved_tokens, "reserved_tokens")?,
            },
        })
    }
}

/// One statement (so one snapshot) reading where `scope` stands in `period`: the rows not
/// held by a reservation, and the reservations. Both SQL backends run it as it is.
pub(crate) fn push_standing<'q, DB>(
    sql: &mut sqlx::QueryBuilder<'q, DB>,
    scope: &'q BudgetScope,
    period: BudgetPeriod,
) where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let column = scope_column(scope);
    sql.push(
        "SELECT CAST(COALESCE(s.m, 0) AS BIGINT) AS spent_micros, \
         CAST(COALESCE(s.t, 0) AS BIGINT) AS spent_tokens, \
         CAST(COALESCE(h.m, 0) AS BIGINT) AS reserved_micros, \
         CAST(COALESCE(h.t, 0) AS BIGINT) AS reserved_tokens \
         FROM (SELECT SUM(u.cost_micros) AS m, SUM(",
    )
    .push(ROW_TOKENS)
    .push(") AS t FROM usage u WHERE u.")
    .push(column)
    .push(" = ")
    .push_bind(scope.id())
    .push(" AND u.created_at_ms >= ")
    .push_bind(period.start_ms)
    .push(" AND u.created_at_ms < ")
    .push_bind(period.end_ms)
    .push(
        " AND NOT EXISTS (SELECT 1 FROM budget_reservations r \
         WHERE r.request_id = u.request_id)) s, \
         (SELECT SUM(amount_micros) AS m, SUM(amount_tokens) AS t \
         FROM budget_reservations WHERE ",
    )
    .push(column)
    .push(" = ")
    .push_bind(scope.id())
    .push(" AND period_start_ms = ")
    .push_bind(period.start_ms)
    .push(") h");
}

/// The first budget of `reservation` without room, given where each stands.
pub(crate) fn refusal(
    reservation: &Reservation,
    scope: &BudgetScope,
    status: &BudgetStatus,
) -> Option<BudgetRefusal> {
    let check = reservation.checks.iter().find(|c| &c.scope == scope)?;
    let (dimension, limit, committed, requested) = check
        .limits
        .refusal(status.committed(), reservation.amount)?;
    Some(BudgetRefusal {
        scope: scope.clone(),
        dimension,
        limit,
        committed,
        requested,
        resets_at_ms: reservation.period.end_ms,
    })
}

/// The columns of a reservation's row, bound in [`INSERT_RESERVATION`]'s order.
pub(crate) struct ReservationRow<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) org: Option<&'a str>,
    pub(crate) period_start_ms: i64,
    pub(crate) amount_micros: i64,
    pub(crate) amount_tokens: i64,
    pub(crate) expires_at_ms: i64,
}

impl<'a> ReservationRow<'a> {
    /// The row of `reservation`: its user's and its organisation's scopes (a reservation
    /// counts against the scopes it names).
    pub(crate) fn of(reservation: &'a Reservation) -> Result<Self, StoreError> {
        let named = |kind: &str| {
            reservation
                .checks
                .iter()
                .find(|c| c.scope.kind() == kind)
                .map(|c| c.scope.id())
        };
        Ok(Self {
            request_id: reservation.request_id.as_str(),
            user_id: named("user"),
            org: named("org"),
            period_start_ms: reservation.period.start_ms,
            amount_micros: to_db(reservation.amount.usd.micros(), "amount_micros")?,
            amount_tokens: to_db(reservation.amount.tokens, "amount_tokens")?,
            expires_at_ms: reservation.expires_at_ms,
        })
    }
}
