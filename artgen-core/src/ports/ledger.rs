//! The port to budgets: reserve before the upstream call, settle with the usage row, release
//! on a local refusal.
//!
//! # The life of a reservation
//!
//! 1. [`Ledger::reserve`] holds the request's estimate against each budget it counts
//!    against, atomically: either every budget has room (`spent + reserved + amount <= limit`
//!    for money and for tokens) and all are charged, or none is. Concurrent reservations, in
//!    one process or across replicas sharing the backend, can never together exceed a limit.
//! 2. The hold is *settled* by [`UsageStore::finish`](crate::ports::UsageStore::finish) of the
//!    same backend, in the same transaction that writes the usage row: the reservation goes,
//!    and the row's actual cost (zero for a failure) counts as spent. An adapter that
//!    implements both ports keeps them consistent; a request without a reservation settles
//!    nothing.
//! 3. A request refused before the upstream call (a full queue, a client gone before the
//!    call) has its hold dropped with [`Ledger::release`].
//! 4. A hold neither settled nor released (its process died) lapses at `expires_at_ms`:
//!    [`Ledger::sweep`] removes it. Its usage row, if any, still counts: recovery marks it
//!    `unknown` at its estimate, so spend is never under-counted.
//!
//! Spent amounts are those of usage rows in the period (rows still `started` or `unknown`
//! count at their estimate, as in the usage summaries).

use async_trait::async_trait;

use crate::domain::{
    BudgetPeriod, BudgetScope, BudgetStatus, RequestId, Reservation, ReserveOutcome,
};
use crate::error::Result;

/// Holds and reports budget reservations.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Holds `reservation.amount` against every budget in `reservation.checks`, or against
    /// none when one of them has no room (the first such, in the order given, is returned).
    /// A scope whose limits are unlimited in a dimension is not checked in it. Reserving a
    /// request id that already holds a reservation MUST succeed without holding it twice.
    ///
    /// # Errors
    /// `storage_unavailable` when the backend cannot be reached (the caller refuses the
    /// request before spending); `internal_error` for any other failure.
    async fn reserve(&self, reservation: &Reservation) -> Result<ReserveOutcome>;

    /// Drops the hold of `request_id` without spending. An unknown or already settled id
    /// changes nothing and succeeds.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn release(&self, request_id: &RequestId) -> Result<()>;

    /// Where `scope`'s budget stands in `period`.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn status(&self, scope: &BudgetScope, period: BudgetPeriod) -> Result<BudgetStatus>;

    /// Drops every hold whose lease ended before `now_ms`, and returns how many.
    ///
    /// # Errors
    /// `internal_error` when the backend fails.
    async fn sweep(&self, now_ms: i64) -> Result<u64>;
}
