//! An in-memory [`IdempotencyStore`]: one map behind one lock, so every operation is atomic.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::error::Result;
use crate::ports::{Begin, IdempotencyStore, StoredResponse};

#[derive(Debug, Clone)]
struct Record {
    fingerprint: [u8; 32],
    answer: Option<StoredResponse>,
    expires_at_ms: i64,
}

/// Idempotency records kept in memory (tests, single-process demos).
#[derive(Debug, Default)]
pub struct InMemoryIdempotencyStore(Mutex<HashMap<(String, String), Record>>);

impl InMemoryIdempotencyStore {
    /// How many records (claims and answers, expired or not) are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Record>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn id(user: &str, key: &str) -> (String, String) {
    (user.to_owned(), key.to_owned())
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn begin(
        &self,
        user: &str,
        key: &str,
        fingerprint: &[u8; 32],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Begin> {
        let mut records = self.lock();
        let live = records
            .get(&id(user, key))
            .filter(|r| r.expires_at_ms > now_ms);
        let outcome = match live {
            None => {
                let claim = Record {
                    fingerprint: *fingerprint,
                    answer: None,
                    expires_at_ms: now_ms.saturating_add(lease_ms),
                };
                records.insert(id(user, key), claim);
                Begin::Started
            }
            Some(r) if r.fingerprint != *fingerprint => Begin::Mismatch,
            Some(Record {
                answer: Some(answer),
                ..
            }) => Begin::Replay(answer.clone()),
            Some(_) => Begin::InProgress,
        };
        Ok(outcome)
    }

    async fn complete(
        &self,
        user: &str,
        key: &str,
        response: &StoredResponse,
        expires_at_ms: i64,
    ) -> Result<()> {
        if let Some(record) = self.lock().get_mut(&id(user, key)) {
            if record.answer.is_none() {
                record.answer = Some(response.clone());
                record.expires_at_ms = expires_at_ms;
            }
        }
        Ok(())
    }

    async fn abandon(&self, user: &str, key: &str) -> Result<()> {
        let mut records = self.lock();
        if records
            .get(&id(user, key))
            .is_some_and(|r| r.answer.is_none())
        {
            records.remove(&id(user, key));
        }
        Ok(())
    }

    async fn purge_expired(&self, before_ms: i64) -> Result<u64> {
        let mut records = self.lock();
        let before = records.len();
        records.retain(|_, r| r.expires_at_ms > before_ms);
        Ok(u64::try_from(before - records.len()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: i64 = 1_000;
    const BODY: [u8; 32] = [1; 32];
    const OTHER_BODY: [u8; 32] = [2; 32];

    fn answer(at: i64) -> StoredResponse {
        StoredResponse {
            status: 200,
            content_type: "application/json".to_owned(),
            body: br#"{"n":1}"#.to_vec(),
            images: Vec::new(),
            created_at_ms: at,
        }
    }

    async fn begin(store: &InMemoryIdempotencyStore, user: &str, fp: &[u8; 32], now: i64) -> Begin {
        store
            .begin(user, "k1", fp, now, LEASE)
            .await
            .expect("the fake never fails")
    }

    #[tokio::test]
    async fn a_completed_request_is_replayed_to_a_retry() {
        let store = InMemoryIdempotencyStore::default();

        assert_eq!(begin(&store, "ann", &BODY, 0).await, Begin::Started);
        assert_eq!(begin(&store, "ann", &BODY, 1).await, Begin::InProgress);
        store
            .complete("ann", "k1", &answer(5), 10_000)
            .await
            .expect("completes");

        assert_eq!(
            begin(&store, "ann", &BODY, 9_999).await,
            Begin::Replay(answer(5))
        );
    }

    #[tokio::test]
    async fn a_different_request_under_the_same_key_is_a_mismatch() {
        let store = InMemoryIdempotencyStore::default();
        begin(&store, "ann", &BODY, 0).await;

        assert_eq!(begin(&store, "ann", &OTHER_BODY, 1).await, Begin::Mismatch);
        store
            .complete("ann", "k1", &answer(5), 10_000)
            .await
            .expect("completes");
        assert_eq!(begin(&store, "ann", &OTHER_BODY, 2).await, Begin::Mismatch);
    }

    #[tokio::test]
    async fn an_expired_answer_or_lapsed_claim_allows_a_new_start() {
        let store = InMemoryIdempotencyStore::default();
        begin(&store, "ann", &BODY, 0).await;

        assert_eq!(begin(&store, "ann", &BODY, LEASE).await, Begin::Started);
        store
            .complete("ann", "k1", &answer(5), 5_000)
            .await
            .expect("completes");
        assert_eq!(
            begin(&store, "ann", &OTHER_BODY, 5_000).await,
            Begin::Started
        );
    }

    #[tokio::test]
    async fn an_abandoned_claim_allows_a_restart_but_an_answer_is_kept() {
        let store = InMemoryIdempotencyStore::default();
        begin(&store, "ann", &BODY, 0).await;

        store.abandon("ann", "k1").await.expect("abandons");
        assert_eq!(begin(&store, "ann", &BODY, 1).await, Begin::Started);
        store
            .complete("ann", "k1", &answer(5), 10_000)
            .await
            .expect("completes");
        store.abandon("ann", "k1").await.expect("abandons");
        assert_eq!(
            begin(&store, "ann", &BODY, 2).await,
            Begin::Replay(answer(5))
        );
    }

    #[tokio::test]
    async fn keys_are_scoped_by_user() {
        let store = InMemoryIdempotencyStore::default();
        begin(&store, "ann", &BODY, 0).await;

        assert_eq!(begin(&store, "bob", &OTHER_BODY, 1).await, Begin::Started);
    }

    #[tokio::test]
    async fn purging_removes_only_expired_records() {
        let store = InMemoryIdempotencyStore::default();
        begin(&store, "ann", &BODY, 0).await;
        begin(&store, "bob", &BODY, 500).await;

        let purged = store.purge_expired(LEASE).await.expect("purges");

        assert_eq!(purged, 1);
        assert_eq!(store.len(), 1);
        assert_eq!(begin(&store, "bob", &BODY, LEASE).await, Begin::InProgress);
    }
}
