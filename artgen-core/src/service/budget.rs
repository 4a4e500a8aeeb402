//! Budgets on the request path: the reservation a request holds before its upstream call,
//! the guard that gives it back when the request is dropped before that call, the soft
//! threshold, and where a caller's budget stands.

use std::sync::Arc;

use crate::domain::budget::{budget_tokens, rfc3339_utc};
use crate::domain::{
    BudgetCheck, BudgetDimension, BudgetLimits, BudgetRefusal, BudgetScope, BudgetStatus,
    BudgetView, ImageJob, Money, Principal, Quality, RequestId, Reservation, ReserveOutcome, Spend,
};
use crate::domain::{UsageGroupBy, UsageSummary, UsageSummaryQuery};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{Ledger, UsageStore};

use super::{ArtGen, RequestContext};

/// What admission decided about a request's budgets, for its answer.
#[derive(Debug, Clone, Default)]
pub(super) struct BudgetAdmission {
    /// Each money limit the request counts against, with what was spent or held before it.
    money: Vec<(Money, Money)>,
    /// The quality lowered past the soft threshold: before, after.
    pub(super) downgraded: Option<(Quality, Quality)>,
}

impl BudgetAdmission {
    /// The money left once this request is settled at `cost`: the least of its budgets with
    /// a money limit; `None` when none has one.
    pub(super) fn remaining_after(&self, cost: Money) -> Option<Money> {
        self.money
            .iter()
            .map(|(limit, before)| {
                Money::from_micros(
                    limit
                        .micros()
                        .saturating_sub(before.micros().saturating_add(cost.micros())),
                )
            })
            .min()
    }
}

/// Gives a request's reservation (and its `started` row) back when the request is dropped
/// before its upstream call was made, e.g. because the client went away. Disarmed just
/// before the call: from then on, the usage row's finish settles the reservation.
pub(super) struct ReleaseOnDrop {
    armed: Option<Armed>,
}

/// What a [`ReleaseOnDrop`] gives back, and where.
type Armed = (Arc<dyn Ledger>, Arc<dyn UsageStore>, RequestId);

impl ReleaseOnDrop {
    /// A guard for `request_id`.
    pub(super) fn new(ledger: Arc<dyn Ledger>, usage: Arc<dyn UsageStore>, id: RequestId) -> Self {
        Self {
            armed: Some((ledger, usage, id)),
        }
    }

    /// The upstream call starts: dropping the request no longer releases anything.
    pub(super) fn disarm(&mut self) {
        self.armed = None;
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some((ledger, usage, id)) = self.armed.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to release on: the lease lapses instead.
            return;
        };
        runtime.spawn(async move {
            // The request never reached the upstream: no row, no hold. A failure leaves the
            // row `started` and the hold until its lease ends, counted too much, never too
            // little.
            if let Err(err) = usage.discard(&id).await {
                tracing::warn!(request_id = %id, error = %err, "a dropped request's usage row stays");
            }
            if let Err(err) = ledger.release(&id).await {
                tracing::warn!(request_id = %id, error = %err, "a dropped request's budget hold stays until its lease ends");
            }
        });
    }
}

impl ArtGen {
    /// The budgets a request of `principal` counts against, with the limits in force: the
    /// user's, and the organisation's when the principal has one.
    fn budget_checks(&self, principal: &Principal) -> Vec<BudgetCheck> {
        let policy = &self.inner.budget;
        let mut checks = vec![BudgetCheck {
            scope: BudgetScope::User(principal.user.clone()),
            limits: principal.limits.budget.or(policy.user_defaults),
        }];
        if let Some(org) = &principal.org {
            checks.push(BudgetCheck {
                scope: BudgetScope::Org(org.clone()),
                limits: principal.org_budget.or(policy.org_defaults),
            });
        }
        checks
    }

    /// Holds the job's estimate against the caller's budgets (lowering its quality first
    /// when the policy asks and a budget is past its soft threshold). Nothing is held when
    /// no budget has a limit: a request without a hold counts at its estimate through its
    /// `started` row anyway.
    pub(super) async fn reserve_budget(
        &self,
        ctx: &RequestContext,
        job: &mut ImageJob,
    ) -> Result<(BudgetAdmission, bool)> {
        let checks = self.budget_checks(&ctx.principal);
        let mut admission = BudgetAdmission::default();
        if checks.iter().all(|c| c.limits.is_unlimited()) {
            return Ok((admission, false));
        }
        let ports = &self.inner.ports;
        let policy = &self.inner.budget;
        let now_ms = ports.clock.now_ms();
        let period = policy.calendar.period_at(now_ms);
        if policy.downgrade_quality && job.effective_quality() == Quality::High {
            for check in checks.iter().filter(|c| !c.limits.is_unlimited()) {
                let status = ports
                    .ledger
                    .status(&check.scope, period)
                    .await
                    .map_err(ledger_unavailable)?;
                if policy.past_threshold(&check.limits, status.committed()) {
                    admission.downgraded = job.downgrade_quality();
                    if admission.downgraded.is_some() {
                        ports.telemetry.quality_downgraded(&job.model().id);
                    }
                    break;
                }
            }
        }
        let (usage, cost) = job.estimate();
        let amount = Spend {
            usd: cost,
            tokens: usage.as_ref().map_or(0, budget_tokens),
        };
        let reservation = Reservation {
            request_id: ctx.request_id.clone(),
            checks: checks.clone(),
            period,
            amount,
            expires_at_ms: now_ms.saturating_add(policy.lease_ms),
        };
        match ports.ledger.reserve(&reservation).await {
            Err(err) => Err(ledger_unavailable(err)),
            Ok(ReserveOutcome::Refused(refusal)) => {
                ports.telemetry.budget_exceeded(refusal.scope.kind());
                tracing::info!(
                    request_id = %ctx.request_id,
                    scope = refusal.scope.kind(),
                    limit = refusal.limit,
                    committed = refusal.committed,
                    requested = refusal.requested,
                    "a request is refused: its budget has no room"
                );
                Err(budget_exceeded(refusal))
            }
            Ok(ReserveOutcome::Reserved(before)) => {
                for status in &before {
                    let Some(check) = checks.iter().find(|c| c.scope == status.scope) else {
                        continue;
                    };
                    self.report_threshold(check, status, amount);
                    if let Some(limit) = check.limits.usd {
                        admission.money.push((limit, status.committed().usd));
                    }
                }
                Ok((admission, true))
            }
        }
    }

    /// Logs and counts a budget that this request takes past its soft threshold.
    fn report_threshold(&self, check: &BudgetCheck, before: &BudgetStatus, amount: Spend) {
        let policy = &self.inner.budget;
        let committed = before.committed();
        let after = committed.plus(amount);
        if policy.past_threshold(&check.limits, committed)
            || !policy.past_threshold(&check.limits, after)
        {
            return;
        }
        let percent = percent_of(&check.limits, after);
        tracing::warn!(
            event = "budget_threshold_crossed",
            scope = check.scope.kind(),
            id = check.scope.id(),
            percent,
            threshold = policy.soft_threshold_percent,
            "budget_threshold_crossed"
        );
        self.inner
            .ports
            .telemetry
            .budget_threshold_crossed(&check.scope, percent);
    }

    /// Where `principal`'s own budget stands this period, under the limits in force (theirs,
    /// else the server's defaults).
    ///
    /// # Errors
    /// `storage_unavailable` when the ledger cannot be read.
    pub async fn budget(&self, principal: &Principal) -> Result<BudgetView> {
        let limits = principal.limits.budget.or(self.inner.budget.user_defaults);
        self.budget_view(BudgetScope::User(principal.user.clone()), limits)
            .await
    }

    /// Where the budget of any user or organisation stands this period, under `own` limits
    /// (theirs, as an admin set them) with the server's defaults for unset dimensions. For
    /// admin routes: it checks no permission.
    ///
    /// # Errors
    /// `storage_unavailable` when the ledger cannot be read.
    pub async fn budget_of(&self, scope: BudgetScope, own: BudgetLimits) -> Result<BudgetView> {
        let policy = &self.inner.budget;
        let limits = match scope {
            BudgetScope::User(_) => own.or(policy.user_defaults),
            BudgetScope::Org(_) => own.or(policy.org_defaults),
        };
        self.budget_view(scope, limits).await
    }

    /// The caller's own usage this budget period (the calendar month in the configured time
    /// zone): their requests, images, tokens and cost, and where their budget stands.
    ///
    /// # Errors
    /// `storage_unavailable` when the ledger cannot be read; `internal_error` when the usage
    /// cannot.
    pub async fn own_usage(&self, principal: &Principal) -> Result<OwnUsage> {
        let budget = self.budget(principal).await?;
        let query = UsageSummaryQuery {
            group_by: UsageGroupBy::User,
            from_ms: budget.period.start_ms,
            to_ms: budget.period.end_ms,
            user: Some(principal.user.clone()),
        };
        let summary = self
            .usage_summary(principal, query)
            .await?
            .into_iter()
            .find(|s| s.key.as_deref() == Some(principal.user.as_str()));
        Ok(OwnUsage {
            user: principal.user.clone(),
            summary,
            budget,
        })
    }

    async fn budget_view(&self, scope: BudgetScope, limits: BudgetLimits) -> Result<BudgetView> {
        let ports = &self.inner.ports;
        let period = self.inner.budget.calendar.period_at(ports.clock.now_ms());
        let status = ports
            .ledger
            .status(&scope, period)
            .await
            .map_err(ledger_unavailable)?;
        Ok(BudgetView::new(status, limits))
    }
}

/// A caller's own usage in the current budget period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnUsage {
    /// The caller.
    pub user: String,
    /// Their totals this period (`None`: no request yet).
    pub summary: Option<UsageSummary>,
    /// Where their budget stands.
    pub budget: BudgetView,
}

/// The highest share of a limit `committed` stands at, in percent.
fn percent_of(limits: &BudgetLimits, committed: Spend) -> u64 {
    let share = |used: u64, limit: u64| -> u64 {
        if limit == 0 {
            return 100;
        }
        u64::try_from(u128::from(used) * 100 / u128::from(limit)).unwrap_or(u64::MAX)
    };
    let usd = limits
        .usd
        .map_or(0, |l| share(committed.usd.micros(), l.micros()));
    let tokens = limits.tokens.map_or(0, |l| share(committed.tokens, l));
    usd.max(tokens)
}

/// A ledger that cannot answer: the request is refused before anything is spent.
fn ledger_unavailable(err: Error) -> Error {
    tracing::error!(
        error = &err as &dyn std::error::Error,
        "the budget ledger cannot be reached; the request is refused before the upstream call"
    );
    if err.code() == ErrorCode::StorageUnavailable {
        return err;
    }
    Error::new(
        ErrorCode::StorageUnavailable,
        "budgets cannot be checked right now, so the request was not sent; retry shortly",
    )
    .with_retry_after(std::time::Duration::from_secs(1))
    .with_source(err)
}

/// The refusal of a request its budget has no room for: names the limit, the spend and the
/// reset time, and carries them as data.
pub(super) fn budget_exceeded(refusal: BudgetRefusal) -> Error {
    let whose = match refusal.scope {
        BudgetScope::User(_) => "your",
        BudgetScope::Org(_) => "your organisation's",
    };
    let resets = rfc3339_utc(refusal.resets_at_ms);
    let message = match refusal.dimension {
        BudgetDimension::Usd => format!(
            "this request would exceed {whose} monthly budget of {}: {} is spent or held and \
             this request is estimated at {}; the budget resets at {resets}",
            Money::from_micros(refusal.limit),
            Money::from_micros(refusal.committed),
            Money::from_micros(refusal.requested),
        ),
        BudgetDimension::Tokens => format!(
            "this request would exceed {whose} monthly budget of {} tokens: {} are spent or \
             held and this request is estimated at {}; the budget resets at {resets}",
            refusal.limit, refusal.committed, refusal.requested,
        ),
    };
    Error::new(ErrorCode::BudgetExceeded, message).with_budget_refusal(refusal)
}
