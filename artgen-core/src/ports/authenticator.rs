//! The port that turns a presented credential into a principal.

use async_trait::async_trait;

use crate::domain::Principal;
use crate::error::Result;

/// Verifies credentials (API keys, tokens).
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// Verifies a bearer credential.
    ///
    /// # Errors
    /// - malformed, unknown, expired or revoked → `unauthenticated`, and the error MUST be the
    ///   same in every one of these cases (message included) so callers cannot tell them apart;
    /// - a malformed credential SHOULD be refused without a backend lookup;
    /// - the backend fails → `internal_error`.
    async fn authenticate(&self, credential: &str) -> Result<Principal>;
}

/// Remembers the principals of credentials that passed for a short while, so a client's
/// requests do not each cost a backend lookup (a database round trip on the request path).
///
/// - Only successes are kept; every refused credential goes to the backend again, so an
///   attacker spraying keys neither fills the cache nor learns anything from its timing.
/// - Credentials are kept as their SHA-256, never as text.
/// - A revoked key keeps working for at most `ttl` on a replica that cached it: the price of
///   the saved lookup (see `docs/decisions.md`). A `ttl` of zero turns the cache off.
/// - At most `capacity` entries: when full, expired entries are dropped, and if none has
///   expired the whole cache is cleared (a burst of new keys costs lookups, never memory).
pub struct CachingAuthenticator {
    inner: std::sync::Arc<dyn Authenticator>,
    ttl: std::time::Duration,
    capacity: usize,
    entries:
        std::sync::Mutex<std::collections::HashMap<[u8; 32], (Principal, tokio::time::Instant)>>,
}

impl std::fmt::Debug for CachingAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingAuthenticator")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl CachingAuthenticator {
    /// Wraps `inner`, keeping each passed credential's principal for `ttl`, at most
    /// `capacity` of them.
    pub fn new(
        inner: std::sync::Arc<dyn Authenticator>,
        ttl: std::time::Duration,
        capacity: usize,
    ) -> Self {
        Self {
            inner,
            ttl,
            capacity: capacity.max(1),
            entries: std::sync::Mutex::default(),
        }
    }

    /// Forgets every cached principal, so the next request of each credential is looked up
    /// again (after an admin changed a user's limits or disabled them).
    pub fn clear(&self) {
        self.entries().clear();
    }

    fn entries(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<[u8; 32], (Principal, tokio::time::Instant)>,
    > {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Authenticator for CachingAuthenticator {
    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        if self.ttl.is_zero() {
            return self.inner.authenticate(credential).await;
        }
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(credential.as_bytes()).into();
        let now = tokio::time::Instant::now();
        if let Some((principal, expires)) = self.entries().get(&digest) {
            if *expires > now {
                return Ok(principal.clone());
            }
        }
        let principal = self.inner.authenticate(credential).await?;
        let mut entries = self.entries();
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(digest, (principal.clone(), now + self.ttl));
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::domain::Role;
    use crate::error::{Error, ErrorCode};

    /// Accepts `good`, refuses everything else, counting lookups.
    struct Counting {
        lookups: AtomicUsize,
    }

    #[async_trait]
    impl Authenticator for Counting {
        async fn authenticate(&self, credential: &str) -> Result<Principal> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            if credential.starts_with("good") {
                Ok(Principal::new(credential, Role::User))
            } else {
                Err(Error::new(ErrorCode::Unauthenticated, "invalid API key"))
            }
        }
    }

    fn cached(ttl_ms: u64, capacity: usize) -> (Arc<Counting>, CachingAuthenticator) {
        let inner = Arc::new(Counting {
            lookups: AtomicUsize::new(0),
        });
        let cache =
            CachingAuthenticator::new(inner.clone(), Duration::from_millis(ttl_ms), capacity);
        (inner, cache)
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_credential_is_looked_up_once_per_ttl() {
        let (inner, cache) = cached(5_000, 16);
        for _ in 0..3 {
            let principal = cache.authenticate("good-1").await.expect("passes");
            assert_eq!(principal.user, "good-1");
        }
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(5_001)).await;
        cache.authenticate("good-1").await.expect("passes");
        assert_eq!(
            inner.lookups.load(Ordering::SeqCst),
            2,
            "expired entries are looked up again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cleared_cache_looks_every_credential_up_again() {
        let (inner, cache) = cached(60_000, 16);
        cache.authenticate("good-1").await.expect("passes");
        cache.authenticate("good-1").await.expect("passes");
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 1);

        cache.clear();
        cache.authenticate("good-1").await.expect("passes");

        assert_eq!(inner.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_credentials_are_never_cached() {
        let (inner, cache) = cached(5_000, 16);
        for _ in 0..3 {
            let err = cache.authenticate("bad").await.expect_err("refused");
            assert_eq!(err.code(), ErrorCode::Unauthenticated);
        }
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_turns_the_cache_off() {
        let (inner, cache) = cached(0, 16);
        cache.authenticate("good-1").await.expect("passes");
        cache.authenticate("good-1").await.expect("passes");
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_never_holds_more_than_its_capacity() {
        let (inner, cache) = cached(60_000, 4);
        for i in 0..10 {
            cache
                .authenticate(&format!("good-{i}"))
                .await
                .expect("passes");
            assert!(cache.entries().len() <= 4);
        }
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 10);
        // The newest one is still cached.
        cache.authenticate("good-9").await.expect("passes");
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 10);
    }
}
