//! Usage rows: idempotent writes, filters, order, limits and exact money.

use artgen_core::testing::conformance::usage::*;
use artgen_core::testing::conformance::usage_pages::*;
use artgen_core::testing::InMemoryUsageStore;
use artgen_store::SqliteStore;
use sqlx::SqlitePool;

async fn store(pool: SqlitePool) -> SqliteStore {
    SqliteStore::from_pool(pool)
        .await
        .expect("migrations apply to a fresh database")
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
async fn sqlite_reads_one_request_by_its_id_in_every_status(pool: SqlitePool) {
    one_request_is_read_by_its_id_in_every_status(&store(pool).await).await;
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
    one_request_is_read_by_its_id_in_every_status(&InMemoryUsageStore::default()).await;
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
async fn sqlite_pages_follow_the_cursor_without_repeats_or_gaps(pool: SqlitePool) {
    pages_follow_the_cursor_without_repeats_or_gaps(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_pages_are_stable_under_inserts_between_pages(pool: SqlitePool) {
    a_page_is_stable_under_inserts_between_pages(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_summaries_group_exactly_over_the_period(pool: SqlitePool) {
    summaries_group_exactly_over_the_period(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_summarizes_one_user_or_an_empty_period(pool: SqlitePool) {
    a_summary_of_one_user_or_an_empty_period(&store(pool).await).await;
}

#[tokio::test]
async fn the_fake_keeps_the_page_and_summary_contract() {
    pages_follow_the_cursor_without_repeats_or_gaps(&InMemoryUsageStore::default()).await;
    a_page_is_stable_under_inserts_between_pages(&InMemoryUsageStore::default()).await;
    summaries_group_exactly_over_the_period(&InMemoryUsageStore::default()).await;
    a_summary_of_one_user_or_an_empty_period(&InMemoryUsageStore::default()).await;
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
