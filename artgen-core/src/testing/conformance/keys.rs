//! The [`KeyStore`] and [`Authenticator`] contract as scenarios, run against every adapter
//! that implements both over one table.

use std::future::Future;
use std::sync::Arc;

use crate::domain::{ApiKey, KeyEnv, Role};
use crate::ports::{Authenticator, KeyStore};
use crate::ErrorCode;

/// A key store and the authenticator that checks its keys (usually the same adapter).
#[derive(Clone)]
pub struct KeyBackend {
    /// Issues, lists, revokes.
    pub keys: Arc<dyn KeyStore>,
    /// Verifies what `keys` issued.
    pub authenticator: Arc<dyn Authenticator>,
}

/// Runs every scenario, each on a fresh, empty backend from `new_backend`.
///
/// # Panics
/// When the backend breaks the contract.
pub async fn key_store_suite<F, Fut>(mut new_backend: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = KeyBackend>,
{
    an_issued_key_authenticates_as_its_owner(&new_backend().await).await;
    listing_is_newest_first_and_shows_no_secret(&new_backend().await).await;
    revoking_refuses_the_key_and_reports_whether_it_was_live(&new_backend().await).await;
    unknown_and_malformed_keys_fail_like_revoked_ones(&new_backend().await).await;
    touching_never_moves_the_last_use_back(&new_backend().await).await;
}

async fn issue(backend: &KeyBackend, user: &str, role: Role) -> ApiKey {
    backend
        .keys
        .create(user, role, KeyEnv::Test)
        .await
        .expect("key issued")
}

/// Scenario: an issued key authenticates as its owner, with its role and public id.
pub async fn an_issued_key_authenticates_as_its_owner(backend: &KeyBackend) {
    assert_eq!(backend.keys.count().await.expect("count"), 0);
    let key = issue(backend, "ann", Role::Admin).await;

    let principal = backend
        .authenticator
        .authenticate(key.expose_secret())
        .await
        .expect("a fresh key is valid");

    assert_eq!(principal.user, "ann");
    assert_eq!(principal.role, Role::Admin);
    assert_eq!(principal.credential_id.as_deref(), Some(key.public_id()));
    assert_eq!(backend.keys.count().await.expect("count"), 1);
}

/// Scenario: listing is newest first, filters by user and shows only the public id and the
/// last four characters.
pub async fn listing_is_newest_first_and_shows_no_secret(backend: &KeyBackend) {
    let ann = issue(backend, "ann", Role::User).await;
    let bob = issue(backend, "bob", Role::User).await;
    let ann2 = issue(backend, "ann", Role::User).await;

    let all = backend.keys.list(None).await.expect("listing");
    let anns = backend.keys.list(Some("ann")).await.expect("listing");

    assert_eq!(all.len(), 3);
    for pair in all.windows(2) {
        assert!(
            (pair[0].created_at_ms, &pair[1].public_id)
                >= (pair[1].created_at_ms, &pair[0].public_id),
            "newest first: {all:?}"
        );
    }
    let mut ids: Vec<_> = anns.iter().map(|k| k.public_id.clone()).collect();
    ids.sort();
    let mut expected = vec![ann.public_id().to_owned(), ann2.public_id().to_owned()];
    expected.sort();
    assert_eq!(ids, expected);
    let listed_bob = all
        .iter()
        .find(|k| k.public_id == bob.public_id())
        .expect("bob listed");
    assert_eq!(listed_bob.last_four, bob.last_four());
    assert_eq!(listed_bob.revoked_at_ms, None);
    let text = format!("{all:?}");
    for key in [&ann, &bob, &ann2] {
        assert!(
            !text.contains(key.expose_secret()),
            "no secret in a listing"
        );
    }
}

/// Scenario: a revoked key is refused; revoking reports whether a live key was revoked, and
/// revoked keys still count.
pub async fn revoking_refuses_the_key_and_reports_whether_it_was_live(backend: &KeyBackend) {
    let key = issue(backend, "ann", Role::User).await;

    assert!(backend.keys.revoke(key.public_id()).await.expect("revoke"));
    assert!(!backend.keys.revoke(key.public_id()).await.expect("revoke"));
    assert!(!backend
        .keys
        .revoke("ag_test_nosuchid")
        .await
        .expect("revoke"));

    let err = backend
        .authenticator
        .authenticate(key.expose_secret())
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    let listed = backend.keys.list(None).await.expect("listing");
    assert!(listed[0].revoked_at_ms.is_some());
    assert_eq!(backend.keys.count().await.expect("count"), 1);
}

/// Scenario: unknown, malformed and revoked keys get the same error, message included.
pub async fn unknown_and_malformed_keys_fail_like_revoked_ones(backend: &KeyBackend) {
    let revoked = issue(backend, "ann", Role::User).await;
    backend
        .keys
        .revoke(revoked.public_id())
        .await
        .expect("revoke");
    let body = "Zz99Yy88ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    let unknown = ApiKey::assemble(KeyEnv::Test, body).expect("a well-formed key");

    let mut errors = Vec::new();
    for credential in [
        revoked.expose_secret(),
        unknown.expose_secret(),
        "ag_test_short",
        "",
    ] {
        let err = backend
            .authenticator
            .authenticate(credential)
            .await
            .expect_err("refused");
        errors.push((err.code(), err.message().to_owned(), err.to_string()));
    }

    assert!(errors.windows(2).all(|w| w[0] == w[1]), "{errors:?}");
    assert_eq!(errors[0].0, ErrorCode::Unauthenticated);
}

/// Scenario: touching sets the last use and never moves it back; an unknown id is no error.
pub async fn touching_never_moves_the_last_use_back(backend: &KeyBackend) {
    let key = issue(backend, "ann", Role::User).await;
    let last_use = |b: &KeyBackend| {
        let keys = b.keys.clone();
        async move { keys.list(None).await.expect("listing")[0].last_used_at_ms }
    };

    backend
        .keys
        .touch(key.public_id(), i64::MAX / 2)
        .await
        .expect("touch");
    backend.keys.touch(key.public_id(), 5).await.expect("touch");
    backend
        .keys
        .touch("ag_test_nosuchid", 5)
        .await
        .expect("touch of nothing");

    assert_eq!(last_use(backend).await, Some(i64::MAX / 2));
}
