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
