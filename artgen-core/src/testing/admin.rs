//! In-memory fakes of the admin ports: user and organisation rows, and the audit trail.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::domain::{LimitsPatch, OrgRecord, UserLimits, UserRecord};
use crate::error::Result;
use crate::ports::{AuditEntry, AuditLog, AuditQuery, Clock, SystemClock, UserStore};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// User and organisation rows kept in memory, timestamped by a clock (the system's unless
/// [`InMemoryUserStore::with_clock`] says otherwise).
pub struct InMemoryUserStore {
    users: Mutex<BTreeMap<String, UserRecord>>,
    orgs: Mutex<BTreeMap<String, OrgRecord>>,
    clock: Arc<dyn Clock>,
}

impl Default for InMemoryUserStore {
    fn default() -> Self {
        Self {
            users: Mutex::default(),
            orgs: Mutex::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for InMemoryUserStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryUserStore")
            .field("users", &lock(&self.users).len())
            .finish_non_exhaustive()
    }
}

impl InMemoryUserStore {
    /// Uses `clock` for the rows' times.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Changes user `id`'s row (made when missing) with `change`, and returns it.
    fn change_user(&self, id: &str, change: impl FnOnce(&mut UserRecord)) -> UserRecord {
        let now = self.clock.now_ms();
        let mut users = lock(&self.users);
        let row = users.entry(id.to_owned()).or_insert_with(|| UserRecord {
            id: id.to_owned(),
            org: None,
            limits: UserLimits::default(),
            disabled: false,
            created_at_ms: now,
            updated_at_ms: now,
        });
        change(row);
        row.updated_at_ms = now;
        row.clone()
    }
}

#[async_trait]
impl UserStore for InMemoryUserStore {
    async fn create_user(&self, id: &str, org: Option<&str>) -> Result<(UserRecord, bool)> {
        if let Some(row) = lock(&self.users).get(id) {
            return Ok((row.clone(), false));
        }
        let row = self.change_user(id, |row| row.org = org.map(str::to_owned));
        Ok((row, true))
    }

    async fn get_user(&self, id: &str) -> Result<Option<UserRecord>> {
        Ok(lock(&self.users).get(id).cloned())
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        Ok(lock(&self.users).values().cloned().collect())
    }

    async fn set_user_limits(&self, id: &str, patch: &LimitsPatch) -> Result<UserRecord> {
        Ok(self.change_user(id, |row| row.limits = patch.apply(row.limits)))
    }

    async fn set_user_disabled(&self, id: &str, disabled: bool) -> Result<UserRecord> {
        Ok(self.change_user(id, |row| row.disabled = disabled))
    }

    async fn get_org(&self, id: &str) -> Result<Option<OrgRecord>> {
        Ok(lock(&self.orgs).get(id).cloned())
    }

    async fn set_org_limits(&self, id: &str, patch: &LimitsPatch) -> Result<OrgRecord> {
        let now = self.clock.now_ms();
        let mut orgs = lock(&self.orgs);
        let row = orgs.entry(id.to_owned()).or_insert_with(|| OrgRecord {
            id: id.to_owned(),
            limits: UserLimits::default(),
            updated_at_ms: now,
        });
        // Organisations have budgets only.
        let budget_only = LimitsPatch {
            rate_limit_per_minute: None,
            rate_limit_burst: None,
            ..*patch
        };
        row.limits = budget_only.apply(row.limits);
        row.updated_at_ms = now;
        Ok(row.clone())
    }
}

/// The audit trail kept in memory, in the order of appending.
#[derive(Debug, Default)]
pub struct InMemoryAuditLog(Mutex<Vec<AuditEntry>>);

impl InMemoryAuditLog {
    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<AuditEntry> {
        lock(&self.0).clone()
    }
}

#[async_trait]
impl AuditLog for InMemoryAuditLog {
    async fn append(&self, entry: &AuditEntry) -> Result<()> {
        lock(&self.0).push(entry.clone());
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let entries = lock(&self.0);
        let mut found: Vec<(usize, &AuditEntry)> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| query.from_ms.is_none_or(|from| e.at_ms >= from))
            .filter(|(_, e)| query.to_ms.is_none_or(|to| e.at_ms < to))
            .filter(|(_, e)| query.target.as_ref().is_none_or(|t| &e.target == t))
            .collect();
        // Newest first; entries of the same millisecond by the order they were appended.
        found.sort_by_key(|(seq, e)| std::cmp::Reverse((e.at_ms, *seq)));
        Ok(found
            .into_iter()
            .take(query.limit as usize)
            .map(|(_, e)| e.clone())
            .collect())
    }
}
