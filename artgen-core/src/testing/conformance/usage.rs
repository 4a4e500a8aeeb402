//! The [`UsageStore`] contract as scenarios, run against every adapter.

use std::future::Future;
use std::sync::Arc;

use crate::domain::{
    Money, Operation, RequestId, TokenUsage, UsageQuery, UsageRecord, UsageStatus,
};
use crate::ports::UsageStore;
use crate::ErrorCode;

/// Runs every scenario, each on a fresh, empty store from `new_store`.
///
/// # Panics
/// When the store breaks the contract.
pub async fn usage_store_suite<F, Fut>(mut new_store: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn UsageStore>>,
{
    a_duplicate_request_id_is_stored_once(new_store().await.as_ref()).await;
    listing_filters_by_user_and_time_newest_first(new_store().await.as_ref()).await;
    every_field_and_cost_round_trips_exactly(new_store().await.as_ref()).await;
    values_beyond_the_storage_range_are_refused_without_panicking(new_store().await.as_ref()).await;
    a_started_row_is_finished_in_place_and_then_left_alone(new_store().await.as_ref()).await;
    a_finish_without_a_start_inserts_its_row(new_store().await.as_ref()).await;
    discarding_removes_only_a_started_row(new_store().await.as_ref()).await;
    one_request_is_read_by_its_id_in_every_status(new_store().await.as_ref()).await;
    recovery_marks_rows_started_before_the_cut_unknown_at_their_estimate(
        new_store().await.as_ref(),
    )
    .await;
    super::usage_pages::pages_follow_the_cursor_without_repeats_or_gaps(new_store().await.as_ref())
        .await;
    super::usage_pages::a_page_is_stable_under_inserts_between_pages(new_store().await.as_ref())
        .await;
    super::usage_pages::summaries_group_exactly_over_the_period(new_store().await.as_ref()).await;
    super::usage_pages::a_summary_of_one_user_or_an_empty_period(new_store().await.as_ref()).await;
}

/// A succeeded row of `user` at `created_at_ms`, with a fresh request id.
pub fn record(user: &str, created_at_ms: i64) -> UsageRecord {
    UsageRecord {
        request_id: RequestId::generate(),
        user: user.to_owned(),
        org: None,
        operation: Operation::Generate,
        model: "gpt-image-1".to_owned(),
        provider: "openai".to_owned(),
        n: 2,
        size: "1024x1024".to_owned(),
        quality: "high".to_owned(),
        status: UsageStatus::Succeeded,
        error_code: None,
        images: 2,
        tokens: TokenUsage {
            input_text_tokens: 12,
            input_image_tokens: 0,
            output_image_tokens: 8_320,
            output_text_tokens: 0,
            svg_input_tokens: 0,
            svg_output_tokens: 0,
        },
        estimated_cost: Money::from_micros(334_000),
        cost: Money::from_micros(333_123),
        latency_ms: 20_500,
        upstream_latency_ms: 20_100,
        prompt: "a lighthouse in a storm".to_owned(),
        unpriced: false,
        forwarded_params: Vec::new(),
        created_at_ms,
    }
}

async fn list(store: &dyn UsageStore, query: UsageQuery) -> Vec<UsageRecord> {
    store.list(&query).await.expect("listing succeeds")
}

/// Scenario: a duplicate request id is stored once.
pub async fn a_duplicate_request_id_is_stored_once(store: &dyn UsageStore) {
    let first = record("ann", 1_000);
    let mut retry = first.clone();
    retry.cost = Money::from_micros(1);

    store.record(&first).await.expect("first write succeeds");
    store.record(&retry).await.expect("retried write succeeds");

    let rows = list(store, UsageQuery::default()).await;
    assert_eq!(rows, vec![first], "one row, and the first write wins");
}

/// Scenario: listing filters by user and time newest first.
pub async fn listing_filters_by_user_and_time_newest_first(store: &dyn UsageStore) {
    for (user, at) in [
        ("ann", 100),
        ("bob", 200),
        ("ann", 300),
        ("ann", 400),
        ("bob", 500),
    ] {
        store
            .record(&record(user, at))
            .await
            .expect("write succeeds");
    }
    let times = |rows: Vec<UsageRecord>| rows.iter().map(|r| r.created_at_ms).collect::<Vec<_>>();

    let all = list(store, UsageQuery::default()).await;
    assert_eq!(times(all), [500, 400, 300, 200, 100]);

    let ann = list(
        store,
        UsageQuery {
            user: Some("ann".into()),
            ..Default::default()
        },
    )
    .await;
    assert!(ann.iter().all(|r| r.user == "ann"));
    assert_eq!(times(ann), [400, 300, 100]);

    let recent_ann = UsageQuery {
        user: Some("ann".into()),
        since_ms: Some(300),
        ..Default::default()
    };
    assert_eq!(times(list(store, recent_ann).await), [400, 300]);

    let since = UsageQuery {
        since_ms: Some(250),
        ..Default::default()
    };
    assert_eq!(times(list(store, since).await), [500, 400, 300]);

    let page = UsageQuery {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(times(list(store, page).await), [500, 400]);

    let nobody = UsageQuery {
        user: Some("carl".into()),
        ..Default::default()
    };
    assert!(list(store, nobody).await.is_empty());
}

/// Scenario: every field and cost round trips exactly.
pub async fn every_field_and_cost_round_trips_exactly(store: &dyn UsageStore) {
    let mut failed = record("ann", -5);
    failed.operation = Operation::Edit;
    failed.status = UsageStatus::Failed;
    failed.error_code = Some("upstream_timeout".to_owned());
    failed.images = 0;
    let mut extreme = record("ann", i64::MAX);
    extreme.operation = Operation::Variation;
    extreme.n = u8::MAX;
    extreme.images = u32::MAX;
    let max = i64::MAX.unsigned_abs();
    extreme.cost = Money::from_micros(max);
    extreme.estimated_cost = Money::from_micros(max - 1);
    extreme.tokens = TokenUsage {
        input_text_tokens: max,
        input_image_tokens: 1,
        output_image_tokens: max - 7,
        output_text_tokens: 3,
        svg_input_tokens: 5,
        svg_output_tokens: max - 9,
    };
    extreme.unpriced = true;
    extreme.forwarded_params = vec!["future_knob".into(), "other".into()];
    extreme.latency_ms = max;
    extreme.upstream_latency_ms = 0;

    for r in [&failed, &extreme] {
        store.record(r).await.expect("write succeeds");
    }

    assert_eq!(
        list(store, UsageQuery::default()).await,
        vec![extreme, failed]
    );
}

/// Scenario: values beyond the storage range are refused without panicking.
pub async fn values_beyond_the_storage_range_are_refused_without_panicking(store: &dyn UsageStore) {
    let mut huge = record("ann", 1);
    huge.cost = Money::from_micros(u64::MAX);

    let err = store
        .record(&huge)
        .await
        .expect_err("u64::MAX does not fit");

    assert_eq!(err.code(), ErrorCode::Internal);
    assert!(list(store, UsageQuery::default()).await.is_empty());
}

/// A started row of `user` at `created_at_ms` (cost = the estimate).
pub fn started(user: &str, created_at_ms: i64) -> UsageRecord {
    let mut row = record(user, created_at_ms);
    row.status = UsageStatus::Started;
    row.images = 0;
    row.tokens = TokenUsage::default();
    row.cost = row.estimated_cost;
    row
}

/// The succeeded outcome of the request `start` began.
pub fn succeeded(start: &UsageRecord) -> UsageRecord {
    let mut row = record(&start.user, start.created_at_ms);
    row.request_id = start.request_id.clone();
    row
}

/// Scenario: one request's row is read by its id, as it stands after each write, and an id
/// without a row reads as `None`.
pub async fn one_request_is_read_by_its_id_in_every_status(store: &dyn UsageStore) {
    let start = started("ann", 1_000);
    let other = record("bo", 2_000);
    let discarded = started("ann", 3_000);
    store.start(&start).await.expect("start succeeds");
    store.record(&other).await.expect("write succeeds");
    store.start(&discarded).await.expect("start succeeds");
    store
        .discard(&discarded.request_id)
        .await
        .expect("discard succeeds");
    let get = |id: RequestId| async move { store.get(&id).await.expect("reading succeeds") };

    let in_flight = get(start.request_id.clone()).await;
    let done = succeeded(&start);
    store.finish(&done, &[]).await.expect("finish succeeds");
    let finished = get(start.request_id.clone()).await;

    assert_eq!(in_flight, Some(start), "the started row, at its estimate");
    assert_eq!(finished, Some(done), "the finished row, at its actual cost");
    assert_eq!(get(other.request_id.clone()).await, Some(other));
    assert_eq!(get(discarded.request_id.clone()).await, None, "discarded");
    assert_eq!(get(RequestId::generate()).await, None, "never written");
}

/// Scenario: a started row is finished in place and then left alone.
pub async fn a_started_row_is_finished_in_place_and_then_left_alone(store: &dyn UsageStore) {
    let start = started("ann", 1_000);
    store.start(&start).await.expect("start succeeds");
    assert_eq!(
        list(store, UsageQuery::default()).await,
        vec![start.clone()]
    );

    let done = succeeded(&start);
    store.finish(&done, &[]).await.expect("finish succeeds");
    let mut late = done.clone();
    late.status = UsageStatus::Failed;
    late.cost = Money::ZERO;
    store
        .finish(&late, &[])
        .await
        .expect("a second finish succeeds");
    store.start(&start).await.expect("a late start succeeds");

    assert_eq!(
        list(store, UsageQuery::default()).await,
        vec![done],
        "one row, finished by the first finish"
    );
}

/// Scenario: a finish without a start inserts its row.
pub async fn a_finish_without_a_start_inserts_its_row(store: &dyn UsageStore) {
    let done = succeeded(&started("ann", 1_000));

    store.finish(&done, &[]).await.expect("finish succeeds");

    assert_eq!(list(store, UsageQuery::default()).await, vec![done]);
}

/// Scenario: discarding removes only a started row.
pub async fn discarding_removes_only_a_started_row(store: &dyn UsageStore) {
    let refused = started("ann", 1_000);
    let finished = started("ann", 2_000);
    store.start(&refused).await.expect("start succeeds");
    store.start(&finished).await.expect("start succeeds");
    store
        .finish(&succeeded(&finished), &[])
        .await
        .expect("finish succeeds");

    store
        .discard(&refused.request_id)
        .await
        .expect("discard succeeds");
    store
        .discard(&finished.request_id)
        .await
        .expect("discarding a finished row succeeds");
    store
        .discard(&RequestId::generate())
        .await
        .expect("discarding a missing row succeeds");

    let rows = list(store, UsageQuery::default()).await;
    assert_eq!(rows, vec![succeeded(&finished)]);
}

/// Scenario: recovery marks rows started before the cut unknown at their estimate.
pub async fn recovery_marks_rows_started_before_the_cut_unknown_at_their_estimate(
    store: &dyn UsageStore,
) {
    let interrupted = started("ann", 1_000);
    let mut cheap = started("bob", 1_500);
    cheap.estimated_cost = Money::from_micros(40_000);
    cheap.cost = Money::from_micros(40_000);
    let in_flight = started("ann", 5_000);
    let finished = started("ann", 500);
    for row in [&interrupted, &cheap, &in_flight, &finished] {
        store.start(row).await.expect("start succeeds");
    }
    store
        .finish(&succeeded(&finished), &[])
        .await
        .expect("finish succeeds");

    let marked = store
        .recover_unfinished(2_000)
        .await
        .expect("recovery runs");
    let again = store
        .recover_unfinished(2_000)
        .await
        .expect("recovery runs again");

    assert_eq!((marked, again), (2, 0));
    let rows = list(store, UsageQuery::default()).await;
    let status = |id: &RequestId| {
        let row = rows.iter().find(|r| &r.request_id == id).expect("row kept");
        (row.status, row.cost)
    };
    assert_eq!(
        status(&interrupted.request_id),
        (UsageStatus::Unknown, interrupted.estimated_cost)
    );
    assert_eq!(
        status(&cheap.request_id),
        (UsageStatus::Unknown, Money::from_micros(40_000))
    );
    assert_eq!(
        status(&in_flight.request_id),
        (UsageStatus::Started, in_flight.estimated_cost),
        "started after the cut: still in flight"
    );
    assert_eq!(status(&finished.request_id).0, UsageStatus::Succeeded);

    // A finish that arrives after recovery still settles the row.
    store
        .finish(&succeeded(&interrupted), &[])
        .await
        .expect("late finish succeeds");
    let rows = list(store, UsageQuery::default()).await;
    let settled = rows
        .iter()
        .find(|r| r.request_id == interrupted.request_id)
        .expect("row kept");
    assert_eq!(settled.status, UsageStatus::Succeeded);
}
