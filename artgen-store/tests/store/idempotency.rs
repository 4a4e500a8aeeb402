//! Idempotency records: claim, replay, mismatch, expiry, abandon, purge, and one winner among
//! concurrent claims.

use std::sync::Arc;

use artgen_core::domain::ImageId;
use artgen_core::ports::{Begin, IdempotencyStore, StoredImage, StoredResponse};
use artgen_store::SqliteStore;
use sqlx::SqlitePool;

const LEASE: i64 = 1_000;
const BODY: [u8; 32] = [0xab; 32];
const OTHER_BODY: [u8; 32] = [0xcd; 32];

fn answer(status: u16, created_at_ms: i64) -> StoredResponse {
    StoredResponse {
        status,
        content_type: "application/json".to_owned(),
        // Not UTF-8 on purpose: bodies are stored as bytes.
        body: vec![b'{', 0xff, 0x00, b'}'],
        images: Vec::new(),
        created_at_ms,
    }
}

async fn store(pool: SqlitePool) -> SqliteStore {
    SqliteStore::from_pool(pool)
        .await
        .expect("migrations apply to a fresh database")
}

async fn begin(store: &dyn IdempotencyStore, user: &str, fp: &[u8; 32], now: i64) -> Begin {
    store
        .begin(user, "key-1", fp, now, LEASE)
        .await
        .expect("begin succeeds")
}

async fn complete(store: &dyn IdempotencyStore, user: &str, response: &StoredResponse, exp: i64) {
    store
        .complete(user, "key-1", response, exp)
        .await
        .expect("complete succeeds");
}

// Scenarios, written once for every backend.

async fn a_completed_answer_is_replayed_byte_for_byte(store: &dyn IdempotencyStore) {
    assert_eq!(begin(store, "ann", &BODY, 0).await, Begin::Started);
    assert_eq!(begin(store, "ann", &BODY, 10).await, Begin::InProgress);

    complete(store, "ann", &answer(201, 20), 100_000).await;

    let replay = begin(store, "ann", &BODY, 99_999).await;
    assert_eq!(replay, Begin::Replay(answer(201, 20)));
}

async fn an_answer_keeps_its_image_references_not_their_bytes(store: &dyn IdempotencyStore) {
    let mut with_images = answer(200, 20);
    with_images.body = br#"{"images":[{"b64_json":""},{"b64_json":""}]}"#.to_vec();
    with_images.images = vec![
        StoredImage {
            offset: 24,
            image_id: ImageId::generate(),
        },
        StoredImage {
            offset: 42,
            image_id: ImageId::generate(),
        },
    ];
    begin(store, "ann", &BODY, 0).await;

    complete(store, "ann", &with_images, 100_000).await;

    assert_eq!(
        begin(store, "ann", &BODY, 30).await,
        Begin::Replay(with_images)
    );
}

async fn a_different_request_under_a_used_key_is_a_mismatch(store: &dyn IdempotencyStore) {
    begin(store, "ann", &BODY, 0).await;
    assert_eq!(begin(store, "ann", &OTHER_BODY, 1).await, Begin::Mismatch);

    complete(store, "ann", &answer(200, 2), 100_000).await;
    assert_eq!(begin(store, "ann", &OTHER_BODY, 3).await, Begin::Mismatch);
}

async fn expired_answers_and_lapsed_claims_start_afresh(store: &dyn IdempotencyStore) {
    begin(store, "ann", &BODY, 0).await;
    assert_eq!(
        begin(store, "ann", &BODY, LEASE - 1).await,
        Begin::InProgress
    );
    assert_eq!(begin(store, "ann", &BODY, LEASE).await, Begin::Started);

    complete(store, "ann", &answer(200, LEASE), 5_000).await;
    assert!(matches!(
        begin(store, "ann", &BODY, 4_999).await,
        Begin::Replay(_)
    ));
    assert_eq!(
        begin(store, "ann", &OTHER_BODY, 5_000).await,
        Begin::Started
    );
    assert_eq!(
        begin(store, "ann", &OTHER_BODY, 5_001).await,
        Begin::InProgress
    );
}

async fn abandoning_frees_a_claim_but_keeps_an_answer(store: &dyn IdempotencyStore) {
    begin(store, "ann", &BODY, 0).await;
    store
        .abandon("ann", "key-1")
        .await
        .expect("abandon succeeds");
    assert_eq!(begin(store, "ann", &OTHER_BODY, 1).await, Begin::Started);

    complete(store, "ann", &answer(400, 2), 100_000).await;
    store
        .abandon("ann", "key-1")
        .await
        .expect("abandon succeeds");
    store
        .abandon("nobody", "key-1")
        .await
        .expect("abandoning nothing succeeds");
    assert_eq!(
        begin(store, "ann", &OTHER_BODY, 3).await,
        Begin::Replay(answer(400, 2))
    );
}

async fn completing_a_lost_claim_writes_nothing(store: &dyn IdempotencyStore) {
    complete(store, "ann", &answer(200, 1), 100_000).await;
    assert_eq!(begin(store, "ann", &BODY, 2).await, Begin::Started);

    complete(store, "ann", &answer(200, 3), 100_000).await;
    complete(store, "ann", &answer(500, 4), 100_000).await;
    assert_eq!(
        begin(store, "ann", &BODY, 5).await,
        Begin::Replay(answer(200, 3)),
        "the first answer wins"
    );
}

async fn keys_are_scoped_by_user(store: &dyn IdempotencyStore) {
    begin(store, "ann", &BODY, 0).await;

    assert_eq!(begin(store, "bob", &OTHER_BODY, 1).await, Begin::Started);
    complete(store, "bob", &answer(202, 2), 100_000).await;
    assert_eq!(begin(store, "ann", &BODY, 3).await, Begin::InProgress);
}

async fn purging_deletes_only_expired_records(store: &dyn IdempotencyStore) {
    begin(store, "ann", &BODY, 0).await; // claim expires at LEASE
    begin(store, "bob", &BODY, 0).await;
    complete(store, "bob", &answer(200, 1), 10_000).await;
    begin(store, "cat", &BODY, 500).await; // claim expires at 1500

    let purged = store.purge_expired(LEASE).await.expect("purge succeeds");

    assert_eq!(purged, 1);
    assert_eq!(
        begin(store, "bob", &BODY, LEASE).await,
        Begin::Replay(answer(200, 1))
    );
    assert_eq!(begin(store, "cat", &BODY, LEASE).await, Begin::InProgress);
    assert_eq!(store.purge_expired(i64::MAX).await.expect("purges"), 2);
}

async fn concurrent_claims_have_exactly_one_winner(store: Arc<dyn IdempotencyStore>) {
    let claims = (0..8).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .begin("ann", "key-1", &BODY, i, LEASE)
                .await
                .expect("begin succeeds")
        })
    });
    let mut outcomes = Vec::new();
    for claim in claims.collect::<Vec<_>>() {
        outcomes.push(claim.await.expect("task finishes"));
    }

    let started = outcomes.iter().filter(|o| **o == Begin::Started).count();
    assert_eq!(started, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Begin::Started | Begin::InProgress)));
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
