//! Budgets on the request path: refused before the upstream call, settled by the finish,
//! released when a request never reaches the upstream, the soft threshold and its policy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::*;
use crate::domain::{BudgetLimits, BudgetScope, PrincipalLimits, Role, UsageQuery};
use crate::testing::{InMemoryUsageStore, MockProvider, MockStep};

/// Counts the budget events the service reports.
#[derive(Default)]
struct Counted {
    crossed: AtomicU64,
    exceeded: AtomicU64,
    downgraded: AtomicU64,
}

impl Telemetry for Counted {
    fn budget_threshold_crossed(&self, _scope: &BudgetScope, _percent: u64) {
        self.crossed.fetch_add(1, Ordering::SeqCst);
    }
    fn budget_exceeded(&self, _scope: &str) {
        self.exceeded.fetch_add(1, Ordering::SeqCst);
    }
    fn quality_downgraded(&self, _model: &str) {
        self.downgraded.fetch_add(1, Ordering::SeqCst);
    }
}

struct Harness {
    service: ArtGen,
    store: Arc<InMemoryUsageStore>,
    mock: Arc<MockProvider>,
    telemetry: Arc<Counted>,
}

fn harness(policy: BudgetPolicy) -> Harness {
    let mock = Arc::new(MockProvider::new());
    let store = Arc::new(InMemoryUsageStore::default());
    let telemetry = Arc::new(Counted::default());
    let mut ports = Ports::in_memory(mock.clone());
    ports.usage = store.clone();
    ports.ledger = store.clone();
    ports.image_index = store.clone();
    ports.telemetry = telemetry.clone();
    Harness {
        service: ArtGen::new(Catalog::default(), ports).with_budget_policy(policy),
        store,
        mock,
        telemetry,
    }
}

fn usd(micros: u64) -> BudgetLimits {
    BudgetLimits {
        usd: Some(Money::from_micros(micros)),
        tokens: None,
    }
}

/// dall-e-2 at 256x256: $0.016 an image.
fn small() -> JobParams {
    JobParams::Generate(GenerateParams {
        model: "dall-e-2".into(),
        prompt: "a kite".into(),
        size: Some("256x256".into()),
        ..Default::default()
    })
}

fn ctx(principal: Principal) -> RequestContext {
    RequestContext::new(RequestId::generate(), principal)
}

fn ann() -> Principal {
    Principal::new("ann", Role::User)
}

#[tokio::test]
async fn a_request_over_budget_is_refused_before_the_upstream_with_the_limit_and_reset() {
    let h = harness(BudgetPolicy {
        user_defaults: usd(20_000),
        ..BudgetPolicy::default()
    });

    let first = h.service.execute(&ctx(ann()), small()).await;
    let second = h.service.execute(&ctx(ann()), small()).await;

    let generation = first.expect("$0.016 of $0.02 fits");
    assert_eq!(generation.budget_remaining, Some(Money::from_micros(4_000)));
    let err = second.expect_err("another $0.016 does not");
    assert_eq!(err.code(), ErrorCode::BudgetExceeded);
    let refusal = err
        .budget_refusal()
        .expect("the refusal's figures travel with it");
    assert_eq!(
        (refusal.limit, refusal.committed, refusal.requested),
        (20_000, 16_000, 16_000)
    );
    assert!(err.message().contains("$0.020000"), "{}", err.message());
    assert!(err.message().contains("resets at"), "{}", err.message());
    assert_eq!(
        h.mock.calls(),
        1,
        "no upstream call for the refused request"
    );
    assert_eq!(
        h.store.rows().len(),
        1,
        "no usage row for the refused request"
    );
    assert_eq!(h.telemetry.exceeded.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_principals_own_limit_wins_over_the_default_per_dimension() {
    let h = harness(BudgetPolicy {
        user_defaults: usd(1),
        ..BudgetPolicy::default()
    });
    let roomy = ann().with_limits(PrincipalLimits::default().with_budget(usd(1_000_000)));

    let generation = h
        .service
        .execute(&ctx(roomy.clone()), small())
        .await
        .expect("their own $1 applies, not the default");
    let view = h.service.budget(&roomy).await.expect("reads");

    assert_eq!(
        generation.budget_remaining,
        Some(Money::from_micros(984_000))
    );
    assert_eq!(view.limits, usd(1_000_000));
    assert_eq!(view.spent.usd, Money::from_micros(16_000));
    assert_eq!(view.remaining_usd, Some(Money::from_micros(984_000)));
    assert_eq!(view.reserved.usd, Money::ZERO, "settled by the finish");
}

#[tokio::test]
async fn an_organisations_budget_refuses_its_members_together() {
    let h = harness(BudgetPolicy {
        org_defaults: usd(20_000),
        ..BudgetPolicy::default()
    });
    let ann = ann().with_org("acme");
    let bob = Principal::new("bob", Role::User).with_org("acme");

    h.service
        .execute(&ctx(ann), small())
        .await
        .expect("the org has room");
    let err = h
        .service
        .execute(&ctx(bob.clone()), small())
        .await
        .expect_err("the org is spent");
    let org = h
        .service
        .budget_of(BudgetScope::Org("acme".into()), BudgetLimits::default())
        .await
        .expect("reads");

    assert_eq!(err.code(), ErrorCode::BudgetExceeded);
    assert!(err.message().contains("organisation"), "{}", err.message());
    assert_eq!(org.spent.usd, Money::from_micros(16_000));
    assert_eq!(
        h.service.budget(&bob).await.expect("reads").spent.usd,
        Money::ZERO
    );
}

#[tokio::test]
async fn a_failed_call_spends_nothing_and_a_local_refusal_releases_the_hold() {
    let h = harness(BudgetPolicy {
        user_defaults: usd(20_000),
        ..BudgetPolicy::default()
    });
    h.mock.push(MockStep::server_error());
    h.mock.push(MockStep::Fail(Error::new(
        ErrorCode::UpstreamBusy,
        "the queue is full",
    )));

    let failed = h.service.execute(&ctx(ann()), small()).await;
    let busy = h.service.execute(&ctx(ann()), small()).await;
    let view = h.service.budget(&ann()).await.expect("reads");

    assert!(failed.is_err() && busy.is_err());
    assert_eq!(
        view.spent.usd + view.reserved.usd,
        Money::ZERO,
        "neither counts"
    );
    h.service
        .execute(&ctx(ann()), small())
        .await
        .expect("the whole budget is still there");
}

#[tokio::test]
async fn a_request_dropped_before_its_upstream_call_releases_at_once() {
    let h = harness(BudgetPolicy {
        user_defaults: usd(20_000),
        ..BudgetPolicy::default()
    });
    // A request's hold and its guard, dropped before the call (as a dropped future drops
    // it) without being disarmed.
    let reservation_ctx = ctx(ann());
    let mut job = small().validate(&Catalog::default()).expect("valid");
    let (_, held) = h
        .service
        .reserve_budget(&reservation_ctx, &mut job)
        .await
        .expect("reserves");
    assert!(held);
    assert_eq!(
        h.service.budget(&ann()).await.expect("reads").reserved.usd,
        Money::from_micros(16_000)
    );

    drop(ReleaseOnDrop::new(
        h.store.clone(),
        h.store.clone(),
        reservation_ctx.request_id.clone(),
    ));
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    assert_eq!(
        h.service.budget(&ann()).await.expect("reads").reserved.usd,
        Money::ZERO,
        "the hold is gone"
    );
}

#[tokio::test]
async fn past_the_soft_threshold_high_quality_is_made_at_medium_and_said_so() {
    // gpt-image-1 high 1024x1024 is $0.167; medium $0.042.
    let h = harness(BudgetPolicy {
        user_defaults: usd(250_000),
        downgrade_quality: true,
        ..BudgetPolicy::default()
    });
    let at = |quality| {
        JobParams::Generate(GenerateParams {
            model: "gpt-image-1".into(),
            prompt: "a lighthouse".into(),
            size: Some("1024x1024".into()),
            quality: Some(quality),
            ..Default::default()
        })
    };
    let mut earlier = crate::testing::conformance::usage::record("ann", h.service.clock().now_ms());
    earlier.cost = Money::from_micros(160_000);
    h.store.record(&earlier).await.expect("records");

    let first = h
        .service
        .execute(&ctx(ann()), at(crate::domain::Quality::Medium))
        .await
        .expect("64% + a medium image fits and crosses 80%");
    let second = h
        .service
        .execute(&ctx(ann()), at(crate::domain::Quality::High))
        .await
        .expect("fits at medium, not at high");

    assert_eq!(first.quality_downgraded, None, "below the threshold before");
    assert_eq!(
        second.quality_downgraded,
        Some((crate::domain::Quality::High, crate::domain::Quality::Medium))
    );
    assert!(
        second.warnings.iter().any(|w| w.contains("high to medium")),
        "{:?}",
        second.warnings
    );
    let rows = h.store.list(&UsageQuery::default()).await.expect("lists");
    assert!(rows.iter().any(|r| r.quality == "medium"), "made at medium");
    assert_eq!(
        h.telemetry.crossed.load(Ordering::SeqCst),
        1,
        "crossed once"
    );
    assert_eq!(h.telemetry.downgraded.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_any_limit_nothing_is_held() {
    let h = harness(BudgetPolicy::default());

    let generation = h.service.execute(&ctx(ann()), small()).await.expect("runs");
    let view = h.service.budget(&ann()).await.expect("reads");

    assert_eq!(generation.budget_remaining, None);
    assert_eq!(view.remaining_usd, None);
    assert_eq!(
        view.spent.usd,
        Money::from_micros(16_000),
        "spend still counts"
    );
}

#[tokio::test]
async fn a_stream_holds_its_estimate_and_its_finish_settles_it() {
    let h = harness(BudgetPolicy {
        user_defaults: usd(200_000),
        ..BudgetPolicy::default()
    });
    let stream = || {
        JobParams::Generate(GenerateParams {
            model: "gpt-image-1".into(),
            prompt: "a lighthouse".into(),
            size: Some("1024x1024".into()),
            quality: Some(crate::domain::Quality::Low),
            stream: Some(true),
            ..Default::default()
        })
    };
    let too_big = JobParams::Generate(GenerateParams {
        model: "gpt-image-1".into(),
        prompt: "a lighthouse".into(),
        size: Some("1024x1024".into()),
        quality: Some(crate::domain::Quality::High),
        n: Some(2),
        stream: Some(true),
        ..Default::default()
    });

    let refused = h
        .service
        .open_stream(&ctx(ann()), too_big)
        .await
        .expect_err("two high images exceed $0.20");
    let open = h
        .service
        .open_stream(&ctx(ann()), stream())
        .await
        .expect("a low image fits");
    let held = h.service.budget(&ann()).await.expect("reads");
    let remaining = open.budget_remaining();
    let mut sink = Collect::default();
    let generation = open.pump(&mut sink).await.expect("streams");
    let settled = h.service.budget(&ann()).await.expect("reads");

    assert_eq!(refused.code(), ErrorCode::BudgetExceeded);
    assert!(held.reserved.usd > Money::ZERO, "held while it runs");
    assert!(remaining.is_some_and(|left| left < Money::from_micros(200_000)));
    assert_eq!(settled.reserved.usd, Money::ZERO);
    assert_eq!(settled.spent.usd, generation.cost);
    assert!(generation.budget_remaining.is_some());
}

/// Keeps every event.
#[derive(Default)]
struct Collect(Vec<ServiceEvent>);

#[async_trait::async_trait]
impl EventSink for Collect {
    async fn send(&mut self, event: ServiceEvent) -> bool {
        self.0.push(event);
        true
    }
}
