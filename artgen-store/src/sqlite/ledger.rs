//! [`Ledger`] on SQLite. Reservations are written by the usage writer (see `writer/`), whose
//! one connection (on its own thread) serialises every write of the process, and whose `BEGIN IMMEDIATE`
//! transactions hold the database's write lock, so no other process can slip a write
//! between a reservation's check and its insert. A reservation joins the batch of writes
//! waiting with it (group commit). The finish of a usage row deletes its hold in the same
//! transaction; a discard deletes it with the row.

use std::sync::{Arc, Mutex, PoisonError};

use artgen_core::domain::{BudgetPeriod, BudgetScope, BudgetStatus, Reservation, ReserveOutcome};
use artgen_core::ports::Ledger;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::started::Owner;
use super::writer::{rows, Op, Written};
use super::SqliteStore;
use crate::error::StoreError;
use crate::ledger::{push_standing, refusal, ReservationRow, StandingRow};

const INSERT: &str = "INSERT INTO budget_reservations (request_id, user_id, org, \
    period_start_ms, amount_micros, amount_tokens, expires_at_ms) \
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(request_id) DO NOTHING";

const HELD: &str = "SELECT 1 FROM budget_reservations WHERE request_id = ?";

const DELETE: &str = "DELETE FROM budget_reservations WHERE request_id = ?";

const SWEEP: &str = "DELETE FROM budget_reservations WHERE expires_at_ms < ?";

/// Where `scope` stands in `period`, read on a pool connection.
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

/// Where `scope` stands in `period`, read on the writer's connection (inside its transaction,
/// it sees the batch's earlier writes): the statement [`push_standing`] builds, whose five
/// binds are the scope's id, the period's start and end, the scope's id, the period's start.
fn standing_for_writer(
    conn: &Connection,
    scope: &BudgetScope,
    period: BudgetPeriod,
) -> Result<BudgetStatus, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new("");
    push_standing(&mut sql, scope, period);
    let mut statement = conn.prepare_cached(sql.sql())?;
    let binds = statement.parameter_count();
    if binds != 5 {
        return Err(StoreError::Unavailable(format!(
            "the budget standing statement takes {binds} values, not the 5 the writer binds"
        )));
    }
    let id = scope.id();
    let columns = statement.query_row(
        rusqlite::params![id, period.start_ms, period.end_ms, id, period.start_ms],
        |row| Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?]),
    )?;
    StandingRow::of_columns(columns).into_status(scope, period)
}

/// Whether a request of `owner` counts against the budget of `scope`.
fn counts(scope: &BudgetScope, owner: Owner<'_>) -> bool {
    match scope {
        BudgetScope::User(user) => owner.user == user,
        BudgetScope::Org(org) => owner.org == Some(org.as_str()),
    }
}

/// Checks every limited budget of `r` and holds it when all have room; on the writer's
/// connection, inside its transaction.
pub(super) fn reserve(conn: &Connection, r: &Reservation) -> Result<ReserveOutcome, StoreError> {
    let held = conn
        .prepare_cached(HELD)?
        .query_row([r.request_id.as_str()], |_| Ok(()))
        .optional()?;
    if held.is_some() {
        return Ok(ReserveOutcome::Reserved(Vec::new()));
    }
    let mut before = Vec::new();
    for check in r.checks.iter().filter(|c| !c.limits.is_unlimited()) {
        let status = standing_for_writer(conn, &check.scope, r.period)?;
        if let Some(refused) = refusal(r, &check.scope, &status) {
            return Ok(ReserveOutcome::Refused(refused));
        }
        before.push(status);
    }
    let row = ReservationRow::of(r)?;
    conn.prepare_cached(INSERT)?.execute(rusqlite::params![
        row.request_id,
        row.user_id,
        row.org,
        row.period_start_ms,
        row.amount_micros,
        row.amount_tokens,
        row.expires_at_ms,
    ])?;
    Ok(ReserveOutcome::Reserved(before))
}

/// Deletes the hold of `request_id` (a settle, a discard or a release); the rows removed.
pub(super) fn delete(conn: &Connection, request_id: &str) -> Result<u64, StoreError> {
    Ok(rows(conn.prepare_cached(DELETE)?.execute([request_id])?))
}

/// Deletes the holds whose lease ended before `now_ms`; how many.
pub(super) fn sweep(conn: &Connection, now_ms: i64) -> Result<u64, StoreError> {
    Ok(rows(conn.prepare_cached(SWEEP)?.execute([now_ms])?))
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
        // The standing counts the started rows of the budgets' requests in flight.
        let limited: Vec<&BudgetScope> = reservation
            .checks
            .iter()
            .filter(|check| !check.limits.is_unlimited())
            .map(|check| &check.scope)
            .collect();
        self.fold_started(|row| limited.iter().any(|scope| counts(scope, row)), false)
            .await?;
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
        self.fold_started(|row| counts(scope, row), false).await?;
        let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
        Ok(standing(&mut conn, scope, period).await?)
    }

    async fn sweep(&self, now_ms: i64) -> artgen_core::Result<u64> {
        // A request whose hold ends counts by its started row from then on: the rows of the
        // requests in flight are written to the table first.
        self.fold_in_flight().await?;
        match self.writer.submit(Op::Sweep { now_ms }).await? {
            Written::Committed(swept) => Ok(swept),
            Written::Spooled => Ok(0),
        }
    }
}
