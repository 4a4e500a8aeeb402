//! The [`Ledger`] contract as scenarios, run against every adapter, together with the
//! [`UsageStore`] of the same backend (whose finish settles a hold and whose discard
//! releases it).
//!
//! Every amount the ledger reports is checked against the usage rows themselves, so an
//! adapter that keeps running totals must keep them equal to the rows.

use std::future::Future;
use std::sync::Arc;

use crate::domain::{
    BudgetCheck, BudgetDimension, BudgetLimits, BudgetPeriod, BudgetScope, BudgetStatus, Money,
    RequestId, Reservation, ReserveOutcome, Spend, TokenUsage, UsageRecord, UsageStatus,
};
use crate::ports::{Ledger, UsageStore};

use super::usage::{record, started};

/// A ledger and the usage store of the same backend.
#[derive(Clone)]
pub struct LedgerBackend {
    /// The ledger.
    pub ledger: Arc<dyn Ledger>,
    /// Its backend's usage store.
    pub usage: Arc<dyn UsageStore>,
}

/// 2026-12-15T12:00:00Z: the instant the scenarios happen at.
pub const NOW_MS: i64 = 1_797_336_000_000;

/// The period the scenarios count over (December 2026, UTC).
pub fn period() -> BudgetPeriod {
    BudgetPeriod::utc_month(NOW_MS)
}

/// Runs every scenario, each on a fresh, empty backend from `new_backend`.
///
/// # Panics
/// When the backend breaks the contract.
pub async fn ledger_suite<F, Fut>(mut new_backend: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = LedgerBackend>,
{
    reserves_within_the_limit_and_refuses_beyond_it(new_backend().await).await;
    a_user_and_an_org_are_charged_together_or_not_at_all(new_backend().await).await;
    reserving_the_same_request_twice_holds_it_once(new_backend().await).await;
    a_finish_settles_at_the_actual_cost_and_frees_the_rest(new_backend().await).await;
    release_and_discard_drop_the_hold(new_backend().await).await;
    sweep_drops_only_expired_holds_and_their_rows_then_count(new_backend().await).await;
    concurrent_reservations_never_exceed_the_limit(new_backend().await).await;
    tokens_are_a_limit_of_their_own(new_backend().await).await;
    spent_is_the_sum_of_the_periods_rows(new_backend().await).await;
}

fn money(micros: u64) -> Money {
    Money::from_micros(micros)
}

fn usd_limit(micros: u64) -> BudgetLimits {
    BudgetLimits {
        usd: Some(money(micros)),
        tokens: None,
    }
}

fn user(id: &str, limits: BudgetLimits) -> BudgetCheck {
    BudgetCheck {
        scope: BudgetScope::User(id.to_owned()),
        limits,
    }
}

fn org(id: &str, limits: BudgetLimits) -> BudgetCheck {
    BudgetCheck {
        scope: BudgetScope::Org(id.to_owned()),
        limits,
    }
}

/// A hold of `usd` micro-dollars and `tokens` for a fresh request, leased for a minute.
pub fn hold(checks: Vec<BudgetCheck>, usd: u64, tokens: u64) -> Reservation {
    Reservation {
        request_id: RequestId::generate(),
        checks,
        period: period(),
        amount: Spend {
            usd: money(usd),
            tokens,
        },
        expires_at_ms: NOW_MS + 60_000,
    }
}

/// The `started` row of `reservation`'s request by `user` (in `org`), at its estimate.
fn started_row(reservation: &Reservation, user: &str, org: Option<&str>) -> UsageRecord {
    let mut row = started(user, NOW_MS);
    row.request_id = reservation.request_id.clone();
    row.org = org.map(str::to_owned);
    row.estimated_cost = reservation.amount.usd;
    row.cost = reservation.amount.usd;
    row.tokens = TokenUsage {
        output_image_tokens: reservation.amount.tokens,
        ..TokenUsage::default()
    };
    row
}

/// The succeeded finish of `start` at `cost` micro-dollars and `tokens` output tokens.
fn finished(start: &UsageRecord, cost: u64, tokens: u64) -> UsageRecord {
    let mut row = start.clone();
    row.status = UsageStatus::Succeeded;
    row.images = 1;
    row.cost = money(cost);
    row.tokens = TokenUsage {
        output_image_tokens: tokens,
        ..TokenUsage::default()
    };
    row
}

async fn reserve(backend: &LedgerBackend, reservation: &Reservation) -> ReserveOutcome {
    backend
        .ledger
        .reserve(reservation)
        .await
        .expect("the backend answers")
}

async fn status(backend: &LedgerBackend, scope: BudgetScope) -> BudgetStatus {
    backend
        .ledger
        .status(&scope, period())
        .await
        .expect("the backend answers")
}

async fn user_status(backend: &LedgerBackend, id: &str) -> BudgetStatus {
    status(backend, BudgetScope::User(id.to_owned())).await
}

fn spend(usd: u64, tokens: u64) -> Spend {
    Spend {
        usd: money(usd),
        tokens,
    }
}

/// Scenario: holds are taken while they fit (exactly full fits), and a refusal names the
/// budget, the limit, what is committed, what was asked and when the period ends.
pub async fn reserves_within_the_limit_and_refuses_beyond_it(backend: LedgerBackend) {
    let limits = usd_limit(1_000_000);
    let first = hold(vec![user("ann", limits)], 600_000, 0);
    let too_much = hold(vec![user("ann", limits)], 500_000, 0);
    let exactly = hold(vec![user("ann", limits)], 400_000, 0);

    let ReserveOutcome::Reserved(before) = reserve(&backend, &first).await else {
        panic!("600k of 1M fits");
    };
    let refused = reserve(&backend, &too_much).await;
    let fits = reserve(&backend, &exactly).await;
    let other = reserve(&backend, &hold(vec![user("bob", limits)], 900_000, 0)).await;

    assert_eq!(before.len(), 1, "the one limited budget is reported");
    assert_eq!(before[0].committed(), Spend::default(), "nothing before");
    let ReserveOutcome::Refused(refusal) = refused else {
        panic!("600k + 500k exceeds 1M: {refused:?}");
    };
    assert_eq!(refusal.scope, BudgetScope::User("ann".into()));
    assert_eq!(refusal.dimension, BudgetDimension::Usd);
    assert_eq!(
        (refusal.limit, refusal.committed, refusal.requested),
        (1_000_000, 600_000, 500_000)
    );
    assert_eq!(refusal.resets_at_ms, period().end_ms);
    assert!(fits.is_reserved(), "600k + 400k is exactly the limit");
    assert!(other.is_reserved(), "another user's budget is their own");
    let ann = user_status(&backend, "ann").await;
    assert_eq!(ann.reserved, spend(1_000_000, 0));
    assert_eq!(ann.spent, Spend::default());
}

/// Scenario: a request counts against its user and its organisation; when one has no room
/// neither is charged, and the organisation's budget is shared by its members.
pub async fn a_user_and_an_org_are_charged_together_or_not_at_all(backend: LedgerBackend) {
    let roomy = usd_limit(10_000_000);
    let org_limit = usd_limit(1_000_000);
    let ann = hold(vec![user("ann", roomy), org("acme", org_limit)], 700_000, 0);
    let bob = hold(vec![user("bob", roomy), org("acme", org_limit)], 400_000, 0);
    let unlimited_org = hold(
        vec![user("carl", roomy), org("acme", BudgetLimits::default())],
        400_000,
        0,
    );

    assert!(reserve(&backend, &ann).await.is_reserved());
    let refused = reserve(&backend, &bob).await;
    let unchecked = reserve(&backend, &unlimited_org).await;

    let ReserveOutcome::Refused(refusal) = refused else {
        panic!("the org has 300k left, bob asks 400k: {refused:?}");
    };
    assert_eq!(refusal.scope, BudgetScope::Org("acme".into()));
    assert_eq!(refusal.committed, 700_000);
    assert_eq!(
        user_status(&backend, "bob").await.committed(),
        Spend::default(),
        "bob's own budget is not charged when the org refuses"
    );
    assert!(
        unchecked.is_reserved(),
        "a check without limits is not checked"
    );
    let acme = status(&backend, BudgetScope::Org("acme".into())).await;
    assert_eq!(acme.reserved, spend(1_100_000, 0), "ann's and carl's holds");
}

/// Scenario: reserving a request id that holds a reservation succeeds and holds nothing
/// more.
pub async fn reserving_the_same_request_twice_holds_it_once(backend: LedgerBackend) {
    let limits = usd_limit(1_000_000);
    let once = hold(vec![user("ann", limits)], 700_000, 0);

    assert!(reserve(&backend, &once).await.is_reserved());
    let again = reserve(&backend, &once).await;

    assert!(again.is_reserved(), "a repeated reservation succeeds");
    assert_eq!(
        user_status(&backend, "ann").await.reserved,
        spend(700_000, 0)
    );
}

/// Scenario: the usage row's finish settles the hold: the actual cost is spent, the rest
/// of the estimate is free again, and a late finish changes nothing.
pub async fn a_finish_settles_at_the_actual_cost_and_frees_the_rest(backend: LedgerBackend) {
    let limits = usd_limit(1_000_000);
    let estimate = hold(vec![user("ann", limits)], 500_000, 0);
    let row = started_row(&estimate, "ann", None);

    assert!(reserve(&backend, &estimate).await.is_reserved());
    backend.usage.start(&row).await.expect("start succeeds");
    let running = user_status(&backend, "ann").await;
    backend
        .usage
        .finish(&finished(&row, 200_000, 0), &[])
        .await
        .expect("finish succeeds");
    let settled = user_status(&backend, "ann").await;
    let rest = reserve(&backend, &hold(vec![user("ann", limits)], 800_000, 0)).await;
    let beyond = reserve(&backend, &hold(vec![user("ann", limits)], 1, 0)).await;

    assert_eq!(
        running.committed(),
        spend(500_000, 0),
        "a running request counts once, at its estimate"
    );
    assert_eq!(settled.spent, spend(200_000, 0));
    assert_eq!(settled.reserved, Spend::default());
    assert!(
        rest.is_reserved(),
        "the 300k the estimate overstated is free"
    );
    assert!(!beyond.is_reserved(), "and nothing more");
}

/// Scenario: a released hold frees its amount; a discarded row releases its hold with it.
pub async fn release_and_discard_drop_the_hold(backend: LedgerBackend) {
    let limits = usd_limit(1_000_000);
    let released = hold(vec![user("ann", limits)], 600_000, 0);
    let discarded = hold(vec![user("ann", limits)], 400_000, 0);
    let row = started_row(&discarded, "ann", None);

    assert!(reserve(&backend, &released).await.is_reserved());
    assert!(reserve(&backend, &discarded).await.is_reserved());
    backend.usage.start(&row).await.expect("start succeeds");
    backend
        .ledger
        .release(&released.request_id)
        .await
        .expect("release succeeds");
    backend
        .ledger
        .release(&RequestId::generate())
        .await
        .expect("releasing an unknown id succeeds");
    let after_release = user_status(&backend, "ann").await;
    backend
        .usage
        .discard(&row.request_id)
        .await
        .expect("discard succeeds");
    let after_discard = user_status(&backend, "ann").await;

    assert_eq!(after_release.reserved, spend(400_000, 0));
    assert_eq!(after_release.spent, Spend::default());
    assert_eq!(
        after_discard.committed(),
        Spend::default(),
        "row and hold are gone"
    );
}

/// Scenario: a sweep drops the holds whose lease ended (and no others); the `started` row
/// of a swept hold then counts at its estimate.
pub async fn sweep_drops_only_expired_holds_and_their_rows_then_count(backend: LedgerBackend) {
    let limits = usd_limit(1_000_000);
    let mut short = hold(vec![user("ann", limits)], 300_000, 0);
    short.expires_at_ms = NOW_MS + 1_000;
    let long = hold(vec![user("ann", limits)], 200_000, 0);
    let row = started_row(&short, "ann", None);

    assert!(reserve(&backend, &short).await.is_reserved());
    assert!(reserve(&backend, &long).await.is_reserved());
    backend.usage.start(&row).await.expect("start succeeds");
    let early = backend.ledger.sweep(NOW_MS + 500).await.expect("sweeps");
    let late = backend.ledger.sweep(NOW_MS + 2_000).await.expect("sweeps");
    let again = backend.ledger.sweep(NOW_MS + 2_000).await.expect("sweeps");
    let after = user_status(&backend, "ann").await;

    assert_eq!((early, late, again), (0, 1, 0));
    assert_eq!(after.reserved, spend(200_000, 0), "the long lease holds");
    assert_eq!(
        after.spent,
        spend(300_000, 0),
        "the swept request's started row counts at its estimate"
    );
}

/// Scenario: 200 concurrent reservations against a limit that fits 20 admit exactly 20.
pub async fn concurrent_reservations_never_exceed_the_limit(backend: LedgerBackend) {
    let limits = usd_limit(1_000_000);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let ledger = backend.ledger.clone();
        let reservation = hold(vec![user("ann", limits)], 50_000, 0);
        tasks.push(tokio::spawn(
            async move { ledger.reserve(&reservation).await },
        ));
    }
    let mut admitted = 0;
    for task in tasks {
        let outcome = task
            .await
            .expect("the task ran")
            .expect("the backend answers");
        admitted += usize::from(outcome.is_reserved());
    }

    assert_eq!(admitted, 20, "50k each against 1M");
    assert_eq!(
        user_status(&backend, "ann").await.reserved,
        spend(1_000_000, 0)
    );
}

/// Scenario: a token limit is checked on its own, and settles to the actual tokens.
pub async fn tokens_are_a_limit_of_their_own(backend: LedgerBackend) {
    let limits = BudgetLimits {
        usd: None,
        tokens: Some(1_000),
    };
    let first = hold(vec![user("ann", limits)], 5_000_000, 600);
    let row = started_row(&first, "ann", None);

    assert!(
        reserve(&backend, &first).await.is_reserved(),
        "money is not limited"
    );
    backend.usage.start(&row).await.expect("start succeeds");
    let refused = reserve(&backend, &hold(vec![user("ann", limits)], 0, 500)).await;
    backend
        .usage
        .finish(&finished(&row, 5_000_000, 100), &[])
        .await
        .expect("finish succeeds");
    let fits = reserve(&backend, &hold(vec![user("ann", limits)], 0, 900)).await;
    let settled = user_status(&backend, "ann").await;

    let ReserveOutcome::Refused(refusal) = refused else {
        panic!("600 + 500 tokens exceed 1000: {refused:?}");
    };
    assert_eq!(refusal.dimension, BudgetDimension::Tokens);
    assert_eq!(
        (refusal.limit, refusal.committed, refusal.requested),
        (1_000, 600, 500)
    );
    assert!(fits.is_reserved(), "100 spent + 900 is exactly the limit");
    assert_eq!(settled.spent, spend(5_000_000, 100));
    assert_eq!(settled.reserved, spend(0, 900));
}

/// Scenario: what is spent is the sum of the period's rows of the scope: finished rows at
/// their cost, rows still `started` or `unknown` at their estimate; rows of other users,
/// other organisations and other periods do not count.
pub async fn spent_is_the_sum_of_the_periods_rows(backend: LedgerBackend) {
    let p = period();
    let mut rows = Vec::new();
    let mut ok = record("ann", p.start_ms);
    ok.org = Some("acme".into());
    rows.push(ok);
    let mut failed = record("ann", NOW_MS);
    failed.status = UsageStatus::Failed;
    failed.cost = Money::ZERO;
    failed.tokens = TokenUsage::default();
    rows.push(failed);
    let mut unknown = started("ann", NOW_MS);
    unknown.status = UsageStatus::Unknown;
    rows.push(unknown);
    rows.push(record("ann", p.start_ms - 1));
    rows.push(record("ann", p.end_ms));
    let mut bobs = record("bob", NOW_MS);
    bobs.org = Some("acme".into());
    rows.push(bobs);
    let mut elsewhere = record("ann", NOW_MS);
    elsewhere.org = Some("other".into());
    rows.push(elsewhere);
    for row in &rows {
        backend.usage.record(row).await.expect("write succeeds");
    }
    let running = started("ann", NOW_MS + 1);
    backend.usage.start(&running).await.expect("start succeeds");

    let sum = |pick: &dyn Fn(&UsageRecord) -> bool| {
        let mut total = Spend::default();
        for row in rows.iter().chain([&running]).filter(|r| pick(r)) {
            total = total.plus(Spend {
                usd: row.cost,
                tokens: crate::domain::budget::budget_tokens(&row.tokens),
            });
        }
        total
    };
    let in_period = |r: &UsageRecord| p.contains(r.created_at_ms);
    let ann = user_status(&backend, "ann").await;
    let acme = status(&backend, BudgetScope::Org("acme".into())).await;

    assert_eq!(ann.spent, sum(&|r| r.user == "ann" && in_period(r)));
    assert_eq!(
        acme.spent,
        sum(&|r| r.org.as_deref() == Some("acme") && in_period(r))
    );
    assert_eq!(ann.reserved, Spend::default());
    assert_eq!(ann.period, p);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryUsageStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_in_memory_ledger_keeps_the_contract() {
        ledger_suite(|| async {
            let store = Arc::new(InMemoryUsageStore::default());
            LedgerBackend {
                ledger: store.clone(),
                usage: store,
            }
        })
        .await;
    }
}
