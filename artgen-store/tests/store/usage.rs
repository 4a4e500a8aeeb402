//! Usage rows: idempotent writes, filters, order, limits and exact money.

use artgen_core::domain::{
    Money, Operation, RequestId, TokenUsage, UsageQuery, UsageRecord, UsageStatus,
};
use artgen_core::ports::UsageStore;
use artgen_core::testing::InMemoryUsageStore;
use artgen_core::ErrorCode;
use artgen_store::SqliteStore;
use sqlx::SqlitePool;

fn record(user: &str, created_at_ms: i64) -> UsageRecord {
    UsageRecord {
        request_id: RequestId::generate(),
        user: user.to_owned(),
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

async fn store(pool: SqlitePool) -> SqliteStore {
    SqliteStore::from_pool(pool)
        .await
        .expect("migrations apply to a fresh database")
}

async fn list(store: &dyn UsageStore, query: UsageQuery) -> Vec<UsageRecord> {
    store.list(&query).await.expect("listing succeeds")
}

// Scenarios, written once for every backend.

async fn a_duplicate_request_id_is_stored_once(store: &dyn UsageStore) {
    let first = record("ann", 1_000);
    let mut retry = first.clone();
    retry.cost = Money::from_micros(1);

    store.record(&first).await.expect("first write succeeds");
    store.record(&retry).await.expect("retried write succeeds");

    let rows = list(store, UsageQuery::default()).await;
    assert_eq!(rows, vec![first], "one row, and the first write wins");
}

async fn listing_filters_by_user_and_time_newest_first(store: &dyn UsageStore) {
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
        limit: None,
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

async fn every_field_and_cost_round_trips_exactly(store: &dyn UsageStore) {
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

async fn values_beyond_the_storage_range_are_refused_without_panicking(store: &dyn UsageStore) {
    let mut huge = record("ann", 1);
    huge.cost = Money::from_micros(u64::MAX);

    let err = store
        .record(&huge)
        .await
        .expect_err("u64::MAX does not fit");

    assert_eq!(err.code(), ErrorCode::Internal);
    assert!(list(store, UsageQuery::default()).await.is_empty());
}

fn started(user: &str, created_at_ms: i64) -> UsageRecord {
    let mut row = record(user, created_at_ms);
    row.status = UsageStatus::Started;
    row.images = 0;
    row.tokens = TokenUsage::default();
    row.cost = row.estimated_cost;
    row
}

fn succeeded(start: &UsageRecord) -> UsageRecord {
    let mut row = record(&start.user, start.created_at_ms);
    row.request_id = start.request_id.clone();
    row
}

async fn a_started_row_is_finished_in_place_and_then_left_alone(store: &dyn UsageStore) {
    let start = started("ann", 1_000);
    store.start(&start).await.expect("start succeeds");
    assert_eq!(
        list(store, UsageQuery::default()).await,
        vec![start.clone()]
    );

    let done = succeeded(&start);
    store.finish(&done).await.expect("finish succeeds");
    let mut late = done.clone();
    late.status = UsageStatus::Failed;
    late.cost = Money::ZERO;
    store.finish(&late).await.expect("a second finish succeeds");
    store.start(&start).await.expect("a late start succeeds");

    assert_eq!(
        list(store, UsageQuery::default()).await,
        vec![done],
        "one row, finished by the first finish"
    );
}

async fn a_finish_without_a_start_inserts_its_row(store: &dyn UsageStore) {
    let done = succeeded(&started("ann", 1_000));

    store.finish(&done).await.expect("finish succeeds");

    assert_eq!(list(store, UsageQuery::default()).await, vec![done]);
}

async fn discarding_removes_only_a_started_row(store: &dyn UsageStore) {
    let refused = started("ann", 1_000);
    let finished = started("ann", 2_000);
    store.start(&refused).await.expect("start succeeds");
    store.start(&finished).await.expect("start succeeds");
    store
        .finish(&succeeded(&finished))
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

async fn recovery_marks_rows_started_before_the_cut_unknown_at_their_estimate(
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
        .finish(&succeeded(&finished))
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
        .finish(&succeeded(&interrupted))
        .await
        .expect("late finish succeeds");
    let rows = list(store, UsageQuery::default()).await;
    let settled = rows
        .iter()
        .find(|r| r.request_id == interrupted.request_id)
        .expect("row kept");
    assert_eq!(settled.status, UsageStatus::Succeeded);
}

// SQLite runs.

#[sqlx::test(migrations = false)]
async fn sqlite_finishes_a_started_row_in_place_and_then_leaves_it_alone(pool: SqlitePool) {
    a_started_row_is_finished_in_place_and_then_left_alone(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_inserts_a_finish_without_a_start(pool: SqlitePool) {
    a_finish_without_a_start_inserts_its_row(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_discards_only_a_started_row(pool: SqlitePool) {
    discarding_removes_only_a_started_row(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_recovery_marks_interrupted_rows_unknown_at_their_estimate(pool: SqlitePool) {
    recovery_marks_rows_started_before_the_cut_unknown_at_their_estimate(&store(pool).await).await;
}

// The in-memory fake the service tests use keeps the same contract.

#[tokio::test]
async fn the_fake_keeps_the_start_finish_discard_and_recovery_contract() {
    a_started_row_is_finished_in_place_and_then_left_alone(&InMemoryUsageStore::default()).await;
    a_finish_without_a_start_inserts_its_row(&InMemoryUsageStore::default()).await;
    discarding_removes_only_a_started_row(&InMemoryUsageStore::default()).await;
    recovery_marks_rows_started_before_the_cut_unknown_at_their_estimate(
        &InMemoryUsageStore::default(),
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_stores_a_duplicate_request_id_once(pool: SqlitePool) {
    a_duplicate_request_id_is_stored_once(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_lists_by_user_and_time_newest_first(pool: SqlitePool) {
    listing_filters_by_user_and_time_newest_first(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_round_trips_every_field_and_cost_exactly(pool: SqlitePool) {
    every_field_and_cost_round_trips_exactly(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_refuses_values_beyond_i64_without_panicking(pool: SqlitePool) {
    values_beyond_the_storage_range_are_refused_without_panicking(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_usage_table_has_the_user_time_index(pool: SqlitePool) {
    let store = store(pool).await;

    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT * FROM usage WHERE user_id = ? ORDER BY created_at_ms DESC",
    )
    .bind("ann")
    .fetch_all(store.pool())
    .await
    .expect("plan query runs");

    assert!(
        plan.iter()
            .any(|(.., detail)| detail.contains("usage_user_created_idx")),
        "{plan:?}"
    );
}
