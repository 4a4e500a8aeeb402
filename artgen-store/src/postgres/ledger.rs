//! [`Ledger`] on Postgres, shared by every replica.
//!
//! A reservation runs in one transaction that first takes a transaction-scoped advisory lock
//! per budget it checks (in a fixed order, so two requests of one user and one organisation
//! never wait on each other in a cycle), then reads where each budget stands from the rows in
//! one statement, and inserts the hold only when all have room. Reservations of one scope are
//! therefore serialised across replicas; those of other scopes do not wait. A usage row's
//! finish deletes its hold in the same statement that writes the row (see `usage.rs`), so a
//! reader sees either the hold or the settled row, never both or neither.

use artgen_core::domain::{
    BudgetPeriod, BudgetScope, BudgetStatus, RequestId, Reservation, ReserveOutcome,
};
use artgen_core::ports::Ledger;
use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::{is_unreachable, PostgresStore};
use crate::error::StoreError;
use crate::ledger::{push_standing, refusal, ReservationRow, StandingRow};

const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

const HELD: &str = "SELECT 1 FROM budget_reservations WHERE request_id = $1";

const INSERT: &str = "INSERT INTO budget_reservations (request_id, user_id, org, \
    period_start_ms, amount_micros, amount_tokens, expires_at_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO NOTHING";

const DELETE: &str = "DELETE FROM budget_reservations WHERE request_id = $1";

const SWEEP: &str = "DELETE FROM budget_reservations WHERE expires_at_ms < $1";

/// The advisory lock key of a scope's budget.
fn lock_key(scope: &BudgetScope) -> String {
    format!("artgen:budget:{}:{}", scope.kind(), scope.id())
}

async fn standing(
    conn: &mut PgConnection,
    scope: &BudgetScope,
    period: BudgetPeriod,
) -> Result<BudgetStatus, StoreError> {
    let mut sql = QueryBuilder::<Postgres>::new("");
    push_standing(&mut sql, scope, period);
    let row: StandingRow = sql.build_query_as().fetch_one(conn).await?;
    row.into_status(scope, period)
}

/// A database error that says the database could not be reached, as such (the request is
/// then refused with `storage_unavailable`).
fn unreachable(err: StoreError) -> StoreError {
    if !is_unreachable(&err) {
        return err;
    }
    match err {
        StoreError::Database(source) => StoreError::Unreachable(source),
        other => other,
    }
}

impl PostgresStore {
    async fn reserve_now(&self, r: &Reservation) -> Result<ReserveOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut scopes: Vec<&BudgetScope> = r
            .checks
            .iter()
            .filter(|c| !c.limits.is_unlimited())
            .map(|c| &c.scope)
            .collect();
        scopes.sort();
        scopes.dedup();
        for scope in &scopes {
            sqlx::query(LOCK)
                .bind(lock_key(scope))
                .execute(&mut *tx)
                .await?;
        }
        let held: Option<(i32,)> = sqlx::query_as(HELD)
            .bind(r.request_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if held.is_some() {
            return Ok(ReserveOutcome::Reserved(Vec::new()));
        }
        let mut before = Vec::new();
        for check in r.checks.iter().filter(|c| !c.limits.is_unlimited()) {
            let status = standing(&mut tx, &check.scope, r.period).await?;
            if let Some(refused) = refusal(r, &check.scope, &status) {
                return Ok(ReserveOutcome::Refused(refused));
            }
            before.push(status);
        }
        let row = ReservationRow::of(r)?;
        sqlx::query(INSERT)
            .bind(row.request_id)
            .bind(row.user_id)
            .bind(row.org)
            .bind(row.period_start_ms)
            .bind(row.amount_micros)
            .bind(row.amount_tokens)
            .bind(row.expires_at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ReserveOutcome::Reserved(before))
    }
}

#[async_trait]
impl Ledger for PostgresStore {
    async fn reserve(&self, reservation: &Reservation) -> artgen_core::Result<ReserveOutcome> {
        Ok(self.reserve_now(reservation).await.map_err(unreachable)?)
    }

    async fn release(&self, request_id: &RequestId) -> artgen_core::Result<()> {
        sqlx::query(DELETE)
            .bind(request_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn status(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
    ) -> artgen_core::Result<BudgetStatus> {
        let read = async {
            let mut conn = self.pool.acquire().await?;
            standing(&mut conn, scope, period).await
        };
        Ok(read.await.map_err(unreachable)?)
    }

    async fn sweep(&self, now_ms: i64) -> artgen_core::Result<u64> {
        let done = sqlx::query(SWEEP)
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected())
    }
}
