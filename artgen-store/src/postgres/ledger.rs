//! [`Ledger`] on Postgres, shared by every replica.
//!
//! A reservation runs in one transaction that first takes a transaction-scoped advisory lock
//! per budget it checks (in a fixed order, so two requests of one user and one organisation
//! never wait on each other in a cycle), then reads where each budget stands from the rows in
//! one statement, and inserts the hold only when all have room. Reservations of one scope are
//! therefore serialised across replicas; those of other scopes do not wait. A usage row's
//! finish deletes its hold in the same statement that writes the row (see `usage.rs`), so a
//! reader sees either the hold or the settled row, never both or neither.
//!
//! Within one process, reservations of one scope first queue on a local lock (one of a fixed
//! set, by the scope's hash), so that a burst of one user's requests holds one pool
//! connection waiting for the advisory lock instead of every connection of the pool, and
//! the finishes of requests already running still get one.

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

/// Local queues of reservations, by scope hash.
#[derive(Debug)]
pub(super) struct ReserveQueues(Vec<tokio::sync::Mutex<()>>);

/// How many local queues: scopes that share one only wait for each other locally.
const QUEUES: usize = 64;

impl Default for ReserveQueues {
    fn default() -> Self {
        Self((0..QUEUES).map(|_| tokio::sync::Mutex::new(())).collect())
    }
}

impl ReserveQueues {
    /// The queues of `scopes`, in a fixed order and each once.
    fn of(&self, scopes: &[&BudgetScope]) -> Vec<&tokio::sync::Mutex<()>> {
        use std::hash::{Hash as _, Hasher as _};
        let mut indexes: Vec<usize> = scopes
            .iter()
            .map(|scope| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                scope.hash(&mut hasher);
                usize::try_from(hasher.finish() % QUEUES as u64).unwrap_or(0)
            })
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        indexes.into_iter().map(|i| &self.0[i]).collect()
    }
}

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
        let mut scopes: Vec<&BudgetScope> = r
            .checks
            .iter()
            .filter(|c| !c.limits.is_unlimited())
            .map(|c| &c.scope)
            .collect();
        scopes.sort();
        scopes.dedup();
        let mut queued = Vec::new();
        for queue in self.reserve_queues.of(&scopes) {
            queued.push(queue.lock().await);
        }
        let mut tx = self.pool.begin().await?;
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
