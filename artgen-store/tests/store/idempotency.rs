//! Idempotency records: claim, replay, mismatch, expiry, abandon, purge, and one winner among
//! concurrent claims.

use std::sync::Arc;

use artgen_core::ports::{Begin, IdempotencyStore};
use artgen_core::testing::conformance::idempotency::*;
use artgen_store::SqliteStore;
use sqlx::SqlitePool;

async fn store(pool: SqlitePool) -> SqliteStore {
    SqliteStore::from_pool(pool)
        .await
        .expect("migrations apply to a fresh database")
}

// SQLite.

#[sqlx::test(migrations = false)]
async fn sqlite_replays_a_completed_answer_byte_for_byte(pool: SqlitePool) {
    a_completed_answer_is_replayed_byte_for_byte(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_keeps_image_references_of_an_answer(pool: SqlitePool) {
    an_answer_keeps_its_image_references_not_their_bytes(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_reports_a_mismatch_for_a_different_request(pool: SqlitePool) {
    a_different_request_under_a_used_key_is_a_mismatch(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_starts_afresh_after_expiry(pool: SqlitePool) {
    expired_answers_and_lapsed_claims_start_afresh(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_abandon_frees_a_claim_but_keeps_an_answer(pool: SqlitePool) {
    abandoning_frees_a_claim_but_keeps_an_answer(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_completing_a_lost_claim_writes_nothing(pool: SqlitePool) {
    completing_a_lost_claim_writes_nothing(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_scopes_keys_by_user(pool: SqlitePool) {
    keys_are_scoped_by_user(&store(pool).await).await;
}

#[sqlx::test(migrations = false)]
async fn sqlite_purges_only_expired_records(pool: SqlitePool) {
    purging_deletes_only_expired_records(&store(pool).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_claims_on_a_file_database_have_one_winner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("artgen.db"))
        .await
        .expect("database opens");

    concurrent_claims_have_exactly_one_winner(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_processes_sharing_a_file_cannot_both_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    let first = SqliteStore::open(&path).await.expect("database opens");
    let second = SqliteStore::open(&path)
        .await
        .expect("database opens twice");

    let (a, b) = tokio::join!(
        first.begin("ann", "key-1", &BODY, 0, LEASE),
        second.begin("ann", "key-1", &BODY, 0, LEASE),
    );

    let mut outcomes = [a.expect("begin succeeds"), b.expect("begin succeeds")];
    outcomes.sort_by_key(|o| *o != Begin::Started);
    assert_eq!(outcomes, [Begin::Started, Begin::InProgress]);
}
