//! In-memory fakes of the storage and auth ports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::{
    ImageId, Principal, RequestId, Role, UsageQuery, UsageRecord, UsageStatus, UsageSummary,
    UsageSummaryQuery,
};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{
    Authenticator, ImageHead, ImageMeta, ImageProvider, ImageReader, ImageStore, NoTelemetry,
    SystemClock, Unlimited, UsageStore,
};
use crate::service::Ports;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Usage rows kept in memory, with the port's start / finish / discard / recover semantics.
#[derive(Debug, Default)]
pub struct InMemoryUsageStore(Mutex<Vec<UsageRecord>>);

impl InMemoryUsageStore {
    /// Every row, oldest first.
    pub fn rows(&self) -> Vec<UsageRecord> {
        lock(&self.0).clone()
    }

    fn insert_absent(&self, record: &UsageRecord) {
        let mut rows = lock(&self.0);
        if !rows.iter().any(|r| r.request_id == record.request_id) {
            rows.push(record.clone());
        }
    }
}

#[async_trait]
impl UsageStore for InMemoryUsageStore {
    async fn record(&self, record: &UsageRecord) -> Result<()> {
        self.insert_absent(record);
        Ok(())
    }

    async fn start(&self, record: &UsageRecord) -> Result<()> {
        self.insert_absent(record);
        Ok(())
    }

    async fn finish(&self, record: &UsageRecord) -> Result<()> {
        let mut rows = lock(&self.0);
        match rows.iter_mut().find(|r| r.request_id == record.request_id) {
            Some(row) if row.status.is_final() => {}
            Some(row) => *row = record.clone(),
            None => rows.push(record.clone()),
        }
        Ok(())
    }

    async fn discard(&self, request_id: &RequestId) -> Result<()> {
        lock(&self.0)
            .retain(|r| !(&r.request_id == request_id && r.status == UsageStatus::Started));
        Ok(())
    }

    async fn recover_unfinished(&self, before_ms: i64) -> Result<u64> {
        let mut marked = 0;
        for row in lock(&self.0).iter_mut() {
            if row.status == UsageStatus::Started && row.created_at_ms < before_ms {
                row.status = UsageStatus::Unknown;
                row.cost = row.estimated_cost;
                marked += 1;
            }
        }
        Ok(marked)
    }

    async fn list(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>> {
        let mut rows: Vec<UsageRecord> = lock(&self.0)
            .iter()
            .filter(|r| query.user.as_ref().is_none_or(|u| &r.user == u))
            .filter(|r| query.since_ms.is_none_or(|t| r.created_at_ms >= t))
            .filter(|r| query.after.as_ref().is_none_or(|c| c.precedes(r)))
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            (b.created_at_ms, b.request_id.as_str()).cmp(&(a.created_at_ms, a.request_id.as_str()))
        });
        rows.truncate(query.limit.unwrap_or(100) as usize);
        Ok(rows)
    }

    async fn summarize(&self, query: &UsageSummaryQuery) -> Result<Vec<UsageSummary>> {
        let rows = lock(&self.0);
        let selected = rows.iter().filter(|r| {
            r.created_at_ms >= query.from_ms
                && r.created_at_ms < query.to_ms
                && query.user.as_ref().is_none_or(|u| &r.user == u)
        });
        Ok(crate::testing::summary::summarize(selected, query.group_by))
    }
}

/// Images kept in memory.
#[derive(Debug, Default)]
pub struct InMemoryImageStore(Mutex<HashMap<ImageId, (ImageMeta, Bytes)>>);

#[async_trait]
impl ImageStore for InMemoryImageStore {
    async fn put(&self, meta: &ImageMeta, bytes: Bytes) -> Result<()> {
        lock(&self.0)
            .entry(meta.id.clone())
            .or_insert_with(|| (meta.clone(), bytes));
        Ok(())
    }

    async fn get(&self, id: &ImageId) -> Result<Option<(ImageMeta, Bytes)>> {
        Ok(lock(&self.0).get(id).cloned())
    }

    async fn head(&self, id: &ImageId) -> Result<Option<ImageHead>> {
        Ok(lock(&self.0).get(id).map(|(meta, bytes)| ImageHead {
            meta: meta.clone(),
            len: bytes.len() as u64,
        }))
    }

    async fn open(&self, id: &ImageId) -> Result<Option<ImageReader>> {
        Ok(lock(&self.0).get(id).map(|(meta, bytes)| ImageReader {
            head: ImageHead {
                meta: meta.clone(),
                len: bytes.len() as u64,
            },
            body: Box::pin(OneChunk(Some(bytes.clone()))),
        }))
    }

    async fn delete(&self, id: &ImageId) -> Result<()> {
        lock(&self.0).remove(id);
        Ok(())
    }
}

/// A body of one chunk.
struct OneChunk(Option<Bytes>);

impl futures_core::Stream for OneChunk {
    type Item = Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.take().map(Ok))
    }
}

/// Accepts a fixed set of tokens.
#[derive(Debug, Default)]
pub struct StaticAuthenticator(HashMap<String, Principal>);

impl StaticAuthenticator {
    /// Adds a token for a user.
    #[must_use]
    pub fn with_user(mut self, token: &str, user: &str, role: Role) -> Self {
        self.0.insert(token.to_owned(), Principal::new(user, role));
        self
    }
}

#[async_trait]
impl Authenticator for StaticAuthenticator {
    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        self.0
            .get(credential)
            .cloned()
            .ok_or_else(|| Error::new(ErrorCode::Unauthenticated, "invalid credentials"))
    }
}

impl Ports {
    /// Every port faked in memory around the given provider, with no rate limit and an
    /// authenticator that knows no tokens.
    pub fn in_memory(provider: Arc<dyn ImageProvider>) -> Self {
        Self {
            provider,
            rate_limiter: Arc::new(Unlimited),
            usage: Arc::new(InMemoryUsageStore::default()),
            authenticator: Arc::new(StaticAuthenticator::default()),
            images: Arc::new(InMemoryImageStore::default()),
            clock: Arc::new(SystemClock),
            telemetry: Arc::new(NoTelemetry),
        }
    }
}
