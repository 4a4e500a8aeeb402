//! [`Ledger`] on SQLite. Reservations are written by the usage writer (see `writer/`), whose
//! one connection serialises every write of the process, and whose `BEGIN IMMEDIATE`
//! transactions hold the database's write lock, so no other process can slip a write
//! between a reservation's check and its insert. A reservation joins the batch of writes
//! waiting with it (group commit). The finish of a usage row deletes its hold in the same
//! transaction; a discard deletes it with the row.

use std::sync::{Arc, Mutex, PoisonError};

use artgen_core::domain::{BudgetPeriod, BudgetScope, BudgetStatus, Reservation, ReserveOutcome};
use artgen_core::ports::Ledger;
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::writer::{Op, Written};
use super::SqliteStore;
use crate::error::StoreError;
use crate::ledger::{push_standing, refusal, ReservationRow, StandingRow};

const INSERT: &str = "INSERT INTO budget_reservations (request_id, user_id, org, \
    period_start_ms, amount_micros, amount_tokens, expires_at_ms) \
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(request_id) DO NOTHING";

const HELD: &str = "SELECT 1 FROM budget_reservations WHERE request_id = ?";

const DELETE: &str = "DELETE FROM budget_reservations WHERE request_id = ?";

const SWEEP: &str = "DELETE FROM budget_reservations WHERE expires_at_ms < ?";

/// Where `scope` stands in `period`, read on `conn` (inside the writer's transaction, it
/// sees the batch's earlier writes).
async fn standing(
    conn: &mut SqliteConnection,
    scope: &BudgetScope,
    period: BudgetPeriod,
) -> Result<BudgetStatus, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new("");
    push_standing(&mut sql, scope, period);
    let row: StandingRow = sql.build_query_as().fetch_one(conn).await?;
    row.into_status(scope, period)
}

/// Checks every limited budget of `r` and holds it when all have room; on `conn`, inside
/// the writer's transaction.
pub(super) async fn reserve(
    conn: &mut SqliteConnection,
    r: &Reservation,
) -> Result<ReserveOutcome, StoreError> {
    let held: Option<(i64,)> = sqlx::query_as(HELD)
        .bind(r.request_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if held.is_some() {
        return Ok(ReserveOutcome::Reserved(Vec::new()));
    }
    let mut before = Vec::new();
    for check in r.checks.iter().filter(|c| !c.limits.is_unlimited()) {
        let status = standing(conn, &check.scope, r.period).await?;
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
        .execute(conn)
        .await?;
    Ok(ReserveOutcome::Reserved(before))
}

/// Deletes the hold of `request_id` (a settle, a discard or a release); the rows removed.
pub(super) async fn delete(
    conn: &mut SqliteConnection,
    request_id: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query(DELETE).bind(request_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Deletes the holds whose lease ended before `now_ms`; how many.
pub(super) async fn sweep(conn: &mut SqliteConnection, now_ms: i64) -> Result<u64, StoreError> {
    let done = sqlx::query(SWEEP).bind(now_ms).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Where the writer leaves a reservation's outcome.
pub(super) type Outcome = Arc<Mutex<Option<ReserveOutcome>>>;

/// Takes the outcome the writer left.
fn take(outcome: &Outcome) -> Option<ReserveOutcome> {
    outcome
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

#[async_trait]
impl Ledger for SqliteStore {
    async fn reserve(&self, reservation: &Reservation) -> artgen_core::Result<ReserveOutcome> {
        let outcome = Outcome::default();
        let op = Op::Reserve(reservation.clone(), outcome.clone());
        match self.writer.submit(op).await? {
            Written::Committed(_) => take(&outcome)
                .ok_or_else(|| StoreError::Unavailable("the reservation was not made".into()))
                .map_err(Into::into),
            Written::Spooled => {
                Err(StoreError::Unavailable("a reservation cannot wait in the spool".into()).into())
            }
        }
    }

    async fn release(
        &self,
        request_id: &artgen_core::domain::RequestId,
    ) -> artgen_core::Result<()> {
        self.writer.submit(Op::Release(request_id.clone())).await?;
        Ok(())
    }

    async fn status(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
    ) -> artgen_core::Result<BudgetStatus> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
        Ok(standing(&mut conn, scope, period).await?)
    }

    async fn sweep(&self, now_ms: i64) -> artgen_core::Result<u64> {
        match self.writer.submit(Op::Sweep { now_ms }).await? {
            Written::Committed(swept) => Ok(swept),
            Written::Spooled => Ok(0),
        }
    }
}
