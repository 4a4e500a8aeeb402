//! The [`IdempotencyStore`] contract as scenarios, run against every adapter.

use std::future::Future;
use std::sync::Arc;

use crate::domain::ImageId;
use crate::ports::{Begin, IdempotencyStore, StoredImage, StoredResponse};

/// Runs every scenario, each on a fresh, empty store from `new_store`.
///
/// # Panics
/// When the store breaks the contract.
pub async fn idempotency_store_suite<F, Fut>(mut new_store: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn IdempotencyStore>>,
{
    a_completed_answer_is_replayed_byte_for_byte(new_store().await.as_ref()).await;
    an_answer_keeps_its_image_references_not_their_bytes(new_store().await.as_ref()).await;
    a_different_request_under_a_used_key_is_a_mismatch(new_store().await.as_ref()).await;
    expired_answers_and_lapsed_claims_start_afresh(new_store().await.as_ref()).await;
    abandoning_frees_a_claim_but_keeps_an_answer(new_store().await.as_ref()).await;
    completing_a_lost_claim_writes_nothing(new_store().await.as_ref()).await;
    keys_are_scoped_by_user(new_store().await.as_ref()).await;
    purging_deletes_only_expired_records(new_store().await.as_ref()).await;
    concurrent_claims_have_exactly_one_winner(new_store().await).await;
}

/// The lease of every claim in the scenarios, ms.
pub const LEASE: i64 = 1_000;
/// A request's fingerprint.
pub const BODY: [u8; 32] = [0xab; 32];
/// Another request's fingerprint.
pub const OTHER_BODY: [u8; 32] = [0xcd; 32];

/// A kept answer with status `status`, produced at `created_at_ms`.
pub fn answer(status: u16, created_at_ms: i64) -> StoredResponse {
    StoredResponse {
        status,
        content_type: "application/json".to_owned(),
        // Not UTF-8 on purpose: bodies are stored as bytes.
        body: vec![b'{', 0xff, 0x00, b'}'],
        images: Vec::new(),
        created_at_ms,
    }
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

/// Scenario: a completed answer is replayed byte for byte.
pub async fn a_completed_answer_is_replayed_byte_for_byte(store: &dyn IdempotencyStore) {
    assert_eq!(begin(store, "ann", &BODY, 0).await, Begin::Started);
    assert_eq!(begin(store, "ann", &BODY, 10).await, Begin::InProgress);

    complete(store, "ann", &answer(201, 20), 100_000).await;

    let replay = begin(store, "ann", &BODY, 99_999).await;
    assert_eq!(replay, Begin::Replay(answer(201, 20)));
}

/// Scenario: an answer keeps its image references not their bytes.
pub async fn an_answer_keeps_its_image_references_not_their_bytes(store: &dyn IdempotencyStore) {
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

/// Scenario: a different request under a used key is a mismatch.
pub async fn a_different_request_under_a_used_key_is_a_mismatch(store: &dyn IdempotencyStore) {
    begin(store, "ann", &BODY, 0).await;
    assert_eq!(begin(store, "ann", &OTHER_BODY, 1).await, Begin::Mismatch);

    complete(store, "ann", &answer(200, 2), 100_000).await;
    assert_eq!(begin(store, "ann", &OTHER_BODY, 3).await, Begin::Mismatch);
}

/// Scenario: expired answers and lapsed claims start afresh.
pub async fn expired_answers_and_lapsed_claims_start_afresh(store: &dyn IdempotencyStore) {
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

/// Scenario: abandoning frees a claim but keeps an answer.
pub async fn abandoning_frees_a_claim_but_keeps_an_answer(store: &dyn IdempotencyStore) {
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

/// Scenario: completing a lost claim writes nothing.
pub async fn completing_a_lost_claim_writes_nothing(store: &dyn IdempotencyStore) {
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

/// Scenario: keys are scoped by user.
pub async fn keys_are_scoped_by_user(store: &dyn IdempotencyStore) {
    begin(store, "ann", &BODY, 0).await;

    assert_eq!(begin(store, "bob", &OTHER_BODY, 1).await, Begin::Started);
    complete(store, "bob", &answer(202, 2), 100_000).await;
    assert_eq!(begin(store, "ann", &BODY, 3).await, Begin::InProgress);
}

/// Scenario: purging deletes only expired records.
pub async fn purging_deletes_only_expired_records(store: &dyn IdempotencyStore) {
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

/// Scenario: concurrent claims have exactly one winner.
pub async fn concurrent_claims_have_exactly_one_winner(store: Arc<dyn IdempotencyStore>) {
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
