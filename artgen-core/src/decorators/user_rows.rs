//! An [`Authenticator`] decorator that applies the admin-managed user and organisation rows
//! to the principal a credential authenticated as.
//!
//! Rows are optional: a user without one keeps what the credential says and the server's
//! defaults. Place it *inside* [`CachingAuthenticator`](crate::ports::CachingAuthenticator),
//! so the enriched principal is cached with the credential: a change to a row then applies
//! within the key cache's TTL on every replica, and at once on the replica whose admin API
//! made it (the admin service clears the cache on every change).

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{BudgetLimits, Principal, UserLimits, UserRecord};
use crate::error::{Error, Result};
use crate::ports::{Authenticator, UserStore};

/// Refuses disabled users and fills the principal's limits and organisation from the rows.
pub struct UserRowsAuthenticator {
    inner: Arc<dyn Authenticator>,
    users: Arc<dyn UserStore>,
    refusal: fn() -> Error,
}

impl std::fmt::Debug for UserRowsAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRowsAuthenticator")
            .finish_non_exhaustive()
    }
}

impl UserRowsAuthenticator {
    /// Wraps `inner`, reading rows from `users`. A disabled user's credential is refused with
    /// `refusal()`, which MUST be the error `inner` gives for a bad credential, so that a
    /// caller cannot tell a disabled user from a wrong key.
    pub fn new(
        inner: Arc<dyn Authenticator>,
        users: Arc<dyn UserStore>,
        refusal: fn() -> Error,
    ) -> Self {
        Self {
            inner,
            users,
            refusal,
        }
    }
}

/// The budget part of a row's limits.
fn budget(limits: &UserLimits) -> BudgetLimits {
    BudgetLimits {
        usd: limits.budget_usd_per_month,
        tokens: limits.budget_tokens_per_month,
    }
}

/// `base` with every dimension `row` sets replaced.
fn overlay(base: BudgetLimits, row: BudgetLimits) -> BudgetLimits {
    BudgetLimits {
        usd: row.usd.or(base.usd),
        tokens: row.tokens.or(base.tokens),
    }
}

/// `principal` under the limits and organisation of the user's row: each limit the row sets
/// replaces the credential's, and the row's organisation applies when the credential names
/// none. (The row's `disabled` flag is the caller's to check.) Sessions that outlive their
/// credential check, like the web UI's, apply the row with this on each request.
pub fn apply_user_row(mut principal: Principal, row: &UserRecord) -> Principal {
    let mut limits = principal.limits;
    limits.rate_per_minute = row.limits.rate_limit_per_minute.or(limits.rate_per_minute);
    limits.rate_burst = row.limits.rate_limit_burst.or(limits.rate_burst);
    limits.budget = overlay(limits.budget, budget(&row.limits));
    principal = principal.with_limits(limits);
    if principal.org.is_none() {
        if let Some(org) = &row.org {
            principal = principal.with_org(org.clone());
        }
    }
    principal
}

#[async_trait]
impl Authenticator for UserRowsAuthenticator {
    /// # Errors
    /// What `inner` returns; `refusal()` for a disabled user; `internal_error` when a row
    /// cannot be read.
    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        let mut principal = self.inner.authenticate(credential).await?;
        if let Some(row) = self.users.get_user(&principal.user).await? {
            if row.disabled {
                return Err((self.refusal)());
            }
            principal = apply_user_row(principal, &row);
        }
        if let Some(org) = principal.org.clone() {
            if let Some(row) = self.users.get_org(&org).await? {
                let org_budget = overlay(principal.org_budget, budget(&row.limits));
                principal = principal.with_org_budget(org_budget);
            }
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LimitsPatch, Money, Role};
    use crate::error::ErrorCode;
    use crate::testing::{InMemoryUserStore, StaticAuthenticator};

    fn refused() -> Error {
        Error::new(ErrorCode::Unauthenticated, "invalid API key")
    }

    async fn setup() -> (Arc<InMemoryUserStore>, UserRowsAuthenticator) {
        let users = Arc::new(InMemoryUserStore::default());
        let inner = StaticAuthenticator::default().with_user("k-ann", "ann", Role::User);
        let auth = UserRowsAuthenticator::new(Arc::new(inner), users.clone(), refused);
        (users, auth)
    }

    #[tokio::test]
    async fn a_user_without_a_row_keeps_the_credentials_principal() {
        let (_, auth) = setup().await;

        let principal = auth.authenticate("k-ann").await.expect("passes");

        assert_eq!(principal, Principal::new("ann", Role::User));
    }

    #[tokio::test]
    async fn a_disabled_user_is_refused_like_a_bad_key() {
        let (users, auth) = setup().await;
        users.set_user_disabled("ann", true).await.expect("disable");

        let disabled = auth.authenticate("k-ann").await.expect_err("refused");
        let wrong = auth.authenticate("nope").await.expect_err("refused");

        assert_eq!(disabled.code(), ErrorCode::Unauthenticated);
        assert_eq!(disabled.message(), refused().message());
        assert_eq!(wrong.code(), disabled.code());
    }

    #[tokio::test]
    async fn the_rows_fill_limits_org_and_the_orgs_budget() {
        let (users, auth) = setup().await;
        users
            .create_user("ann", Some("acme"))
            .await
            .expect("create");
        let patch = LimitsPatch {
            budget_usd_per_month: Some(Some(Money::from_micros(5_000_000))),
            rate_limit_per_minute: Some(Some(3)),
            rate_limit_burst: Some(Some(2)),
            ..LimitsPatch::default()
        };
        users.set_user_limits("ann", &patch).await.expect("set");
        let org = LimitsPatch {
            budget_tokens_per_month: Some(Some(900)),
            ..LimitsPatch::default()
        };
        users.set_org_limits("acme", &org).await.expect("set");

        let principal = auth.authenticate("k-ann").await.expect("passes");

        assert_eq!(principal.org.as_deref(), Some("acme"));
        assert_eq!(principal.limits.rate_per_minute, Some(3));
        assert_eq!(principal.limits.rate_burst, Some(2));
        assert_eq!(
            principal.limits.budget.usd,
            Some(Money::from_micros(5_000_000))
        );
        assert_eq!(principal.limits.budget.tokens, None);
        assert_eq!(principal.org_budget.tokens, Some(900));
        assert_eq!(principal.org_budget.usd, None);
    }
}
