//! In-memory fakes of the storage and auth ports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use sha2::{Digest as _, Sha256};

use crate::domain::budget::budget_tokens;
use crate::domain::{
    BudgetPeriod, BudgetRefusal, BudgetScope, BudgetStatus, ImageId, OutputFormat, Principal,
    RequestId, Reservation, ReserveOutcome, Role, Spend, UsageQuery, UsageRecord, UsageStatus,
    UsageSummary, UsageSummaryQuery,
};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{
    Authenticator, BlobRef, ImageBody, ImageCursor, ImageIndex, ImageMeta, ImageProvider,
    ImageStore, Ledger, NoTelemetry, SystemClock, Unlimited, UsageStore,
};
use crate::service::Ports;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Usage rows kept in memory, with the port's start / finish / discard / recover semantics,
/// and the image rows its finishes carry (it is also the [`ImageIndex`], as a SQL store is),
/// and the budget holds its finishes settle (it is also the [`Ledger`]).
#[derive(Debug, Default)]
pub struct InMemoryUsageStore(
    Mutex<Vec<UsageRecord>>,
    Mutex<HashMap<ImageId, ImageMeta>>,
    Mutex<HashMap<RequestId, Reservation>>,
);

impl InMemoryUsageStore {
    /// Every row, oldest first.
    pub fn rows(&self) -> Vec<UsageRecord> {
        lock(&self.0).clone()
    }

    /// Every image row, in no particular order.
    pub fn image_rows(&self) -> Vec<ImageMeta> {
        lock(&self.1).values().cloned().collect()
    }

    fn insert_images(&self, images: &[ImageMeta]) -> u64 {
        let mut rows = lock(&self.1);
        let mut new = 0;
        for image in images {
            if !rows.contains_key(&image.id) {
                rows.insert(image.id.clone(), image.clone());
                new += 1;
            }
        }
        new
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

    async fn finish(&self, record: &UsageRecord, images: &[ImageMeta]) -> Result<()> {
        self.insert_images(images);
        let mut rows = lock(&self.0);
        // Settled with the row: the hold goes as the actual cost lands.
        lock(&self.2).remove(&record.request_id);
        match rows.iter_mut().find(|r| r.request_id == record.request_id) {
            Some(row) if row.status.is_final() => {}
            Some(row) => *row = record.clone(),
            None => rows.push(record.clone()),
        }
        Ok(())
    }

    async fn discard(&self, request_id: &RequestId) -> Result<()> {
        let mut rows = lock(&self.0);
        rows.retain(|r| !(&r.request_id == request_id && r.status == UsageStatus::Started));
        lock(&self.2).remove(request_id);
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

    async fn forget_prompts(&self, before_ms: i64) -> Result<u64> {
        let mut changed = 0;
        for row in lock(&self.0).iter_mut() {
            if row.created_at_ms < before_ms && !row.prompt.is_empty() {
                row.prompt.clear();
                changed += 1;
            }
        }
        Ok(changed)
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

    async fn get(&self, request_id: &RequestId) -> Result<Option<UsageRecord>> {
        Ok(lock(&self.0)
            .iter()
            .find(|r| &r.request_id == request_id)
            .cloned())
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

#[async_trait]
impl ImageIndex for InMemoryUsageStore {
    async fn get_image(&self, id: &ImageId) -> Result<Option<ImageMeta>> {
        Ok(lock(&self.1).get(id).cloned())
    }

    async fn list_images(
        &self,
        owner: &str,
        after: Option<&ImageCursor>,
        limit: u32,
    ) -> Result<Vec<ImageMeta>> {
        let mut rows: Vec<ImageMeta> = lock(&self.1)
            .values()
            .filter(|m| m.owner == owner)
            .filter(|m| after.is_none_or(|c| c.precedes(m)))
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            (b.created_at_ms, b.id.as_str()).cmp(&(a.created_at_ms, a.id.as_str()))
        });
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn delete_image(&self, id: &ImageId) -> Result<bool> {
        Ok(lock(&self.1).remove(id).is_some())
    }

    async fn blob_in_use(&self, sha256: &str) -> Result<bool> {
        Ok(lock(&self.1).values().any(|m| m.sha256 == sha256))
    }

    async fn list_expired(&self, before_ms: i64, limit: u32) -> Result<Vec<ImageMeta>> {
        let mut rows: Vec<ImageMeta> = lock(&self.1)
            .values()
            .filter(|m| m.created_at_ms < before_ms)
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            (a.created_at_ms, a.id.as_str()).cmp(&(b.created_at_ms, b.id.as_str()))
        });
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn import_images(&self, images: &[ImageMeta]) -> Result<u64> {
        Ok(self.insert_images(images))
    }
}

impl InMemoryUsageStore {
    /// Where `scope` stands in `period`, from the rows and holds as they are (both locks
    /// held by the caller).
    fn standing(
        rows: &[UsageRecord],
        holds: &HashMap<RequestId, Reservation>,
        scope: &BudgetScope,
        period: BudgetPeriod,
    ) -> BudgetStatus {
        let mut spent = Spend::default();
        for row in rows.iter().filter(|r| {
            period.contains(r.created_at_ms)
                && scope_matches(scope, &r.user, r.org.as_deref())
                && !holds.contains_key(&r.request_id)
        }) {
            spent = spent.plus(Spend {
                usd: row.cost,
                tokens: budget_tokens(&row.tokens),
            });
        }
        let mut reserved = Spend::default();
        for hold in holds
            .values()
            .filter(|h| h.period.start_ms == period.start_ms)
            .filter(|h| h.checks.iter().any(|c| &c.scope == scope))
        {
            reserved = reserved.plus(hold.amount);
        }
        BudgetStatus {
            scope: scope.clone(),
            period,
            spent,
            reserved,
        }
    }
}

/// Whether a row of `user` (in `org`) counts against `scope`.
fn scope_matches(scope: &BudgetScope, user: &str, org: Option<&str>) -> bool {
    match scope {
        BudgetScope::User(id) => id == user,
        BudgetScope::Org(id) => org == Some(id.as_str()),
    }
}

#[async_trait]
impl Ledger for InMemoryUsageStore {
    async fn reserve(&self, reservation: &Reservation) -> Result<ReserveOutcome> {
        let rows = lock(&self.0);
        let mut holds = lock(&self.2);
        if holds.contains_key(&reservation.request_id) {
            return Ok(ReserveOutcome::Reserved(Vec::new()));
        }
        let mut before = Vec::new();
        for check in reservation
            .checks
            .iter()
            .filter(|c| !c.limits.is_unlimited())
        {
            let status = Self::standing(&rows, &holds, &check.scope, reservation.period);
            if let Some((dimension, limit, committed, requested)) =
                check.limits.refusal(status.committed(), reservation.amount)
            {
                return Ok(ReserveOutcome::Refused(BudgetRefusal {
                    scope: check.scope.clone(),
                    dimension,
                    limit,
                    committed,
                    requested,
                    resets_at_ms: reservation.period.end_ms,
                }));
            }
            before.push(status);
        }
        holds.insert(reservation.request_id.clone(), reservation.clone());
        Ok(ReserveOutcome::Reserved(before))
    }

    async fn release(&self, request_id: &RequestId) -> Result<()> {
        lock(&self.2).remove(request_id);
        Ok(())
    }

    async fn status(&self, scope: &BudgetScope, period: BudgetPeriod) -> Result<BudgetStatus> {
        let rows = lock(&self.0);
        let holds = lock(&self.2);
        Ok(Self::standing(&rows, &holds, scope, period))
    }

    async fn sweep(&self, now_ms: i64) -> Result<u64> {
        let mut holds = lock(&self.2);
        let before = holds.len();
        holds.retain(|_, h| h.expires_at_ms >= now_ms);
        Ok((before - holds.len()) as u64)
    }
}

/// Image bytes kept in memory, by their SHA-256.
#[derive(Debug, Default)]
pub struct InMemoryImageStore(Mutex<HashMap<String, Bytes>>);

impl InMemoryImageStore {
    /// How many distinct blobs are stored.
    pub fn blob_count(&self) -> usize {
        lock(&self.0).len()
    }
}

/// Lower-case hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[async_trait]
impl ImageStore for InMemoryImageStore {
    async fn put(&self, format: OutputFormat, bytes: Bytes) -> Result<BlobRef> {
        let blob = BlobRef {
            sha256: sha256_hex(&bytes),
            len: bytes.len() as u64,
            format,
        };
        lock(&self.0).entry(blob.sha256.clone()).or_insert(bytes);
        Ok(blob)
    }

    async fn open(&self, blob: &BlobRef) -> Result<Option<ImageBody>> {
        let Some(bytes) = lock(&self.0).get(&blob.sha256).cloned() else {
            return Ok(None);
        };
        // The check the real stores make as they stream: a ref of another length fails.
        let check = (bytes.len() as u64 != blob.len)
            .then(|| Error::internal("the blob does not match its reference"));
        Ok(Some(Box::pin(OneChunk(Some(bytes), check))))
    }

    async fn delete(&self, blob: &BlobRef) -> Result<()> {
        lock(&self.0).remove(&blob.sha256);
        Ok(())
    }
}

/// A body of one chunk, then an error when the check failed.
struct OneChunk(Option<Bytes>, Option<Error>);

impl futures_core::Stream for OneChunk {
    type Item = Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = match self.0.take() {
            Some(bytes) => Some(Ok(bytes)),
            None => self.1.take().map(Err),
        };
        std::task::Poll::Ready(next)
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
        let usage = Arc::new(InMemoryUsageStore::default());
        Self {
            provider,
            rate_limiter: Arc::new(Unlimited),
            usage: usage.clone(),
            ledger: usage.clone(),
            image_index: usage,
            authenticator: Arc::new(StaticAuthenticator::default()),
            images: Arc::new(InMemoryImageStore::default()),
            clock: Arc::new(SystemClock),
            telemetry: Arc::new(NoTelemetry),
        }
    }
}
