//! The [`UserStore`] contract as scenarios, run against every adapter.

use std::future::Future;
use std::sync::Arc;

use crate::domain::{LimitsPatch, Money, UserLimits};
use crate::ports::UserStore;

/// Runs every scenario, each on a fresh, empty store from `new_store`.
///
/// # Panics
/// When the store breaks the contract.
pub async fn user_store_suite<F, Fut>(mut new_store: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn UserStore>>,
{
    creating_a_user_twice_keeps_the_first_row(new_store().await.as_ref()).await;
    users_are_listed_by_id(new_store().await.as_ref()).await;
    a_limits_patch_sets_clears_and_keeps_fields(new_store().await.as_ref()).await;
    disabling_and_enabling_create_the_row_when_missing(new_store().await.as_ref()).await;
    organisations_keep_budget_limits(new_store().await.as_ref()).await;
}

/// Scenario: a new user's row is enabled with no limits; creating it again changes nothing
/// and says so.
pub async fn creating_a_user_twice_keeps_the_first_row(store: &dyn UserStore) {
    assert_eq!(store.get_user("ann").await.expect("get"), None);

    let (row, created) = store
        .create_user("ann", Some("acme"))
        .await
        .expect("create");
    let (again, created_again) = store
        .create_user("ann", Some("other"))
        .await
        .expect("create");

    assert!(created);
    assert!(!created_again);
    assert_eq!(row.id, "ann");
    assert_eq!(row.org.as_deref(), Some("acme"));
    assert!(!row.disabled);
    assert_eq!(row.limits, UserLimits::default());
    assert_eq!(again, row, "the existing row comes back unchanged");
    assert_eq!(store.get_user("ann").await.expect("get"), Some(row));
}

/// Scenario: every row, by id ascending.
pub async fn users_are_listed_by_id(store: &dyn UserStore) {
    assert!(store.list_users().await.expect("list").is_empty());
    for id in ["carol", "ann", "bob"] {
        store.create_user(id, None).await.expect("create");
    }

    let ids: Vec<String> = store
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.id)
        .collect();

    assert_eq!(ids, ["ann", "bob", "carol"]);
}

/// Scenario: a patch sets the fields it names, clears those it names as `None`, keeps the
/// rest, and creates a missing row.
pub async fn a_limits_patch_sets_clears_and_keeps_fields(store: &dyn UserStore) {
    let set = LimitsPatch {
        budget_usd_per_month: Some(Some(Money::from_micros(12_500_000))),
        budget_tokens_per_month: Some(Some(1_000_000_000_000)),
        rate_limit_per_minute: Some(Some(30)),
        rate_limit_burst: Some(Some(5)),
    };
    let row = store.set_user_limits("dan", &set).await.expect("set");
    assert_eq!(
        row.limits,
        UserLimits {
            budget_usd_per_month: Some(Money::from_micros(12_500_000)),
            budget_tokens_per_month: Some(1_000_000_000_000),
            rate_limit_per_minute: Some(30),
            rate_limit_burst: Some(5),
        }
    );
    assert!(!row.disabled);

    let partial = LimitsPatch {
        budget_usd_per_month: Some(None),
        rate_limit_per_minute: Some(Some(7)),
        ..LimitsPatch::default()
    };
    let row = store.set_user_limits("dan", &partial).await.expect("set");

    assert_eq!(
        row.limits,
        UserLimits {
            budget_usd_per_month: None,
            budget_tokens_per_month: Some(1_000_000_000_000),
            rate_limit_per_minute: Some(7),
            rate_limit_burst: Some(5),
        }
    );
    assert!(row.updated_at_ms >= row.created_at_ms);
    assert_eq!(store.get_user("dan").await.expect("get"), Some(row));
}

/// Scenario: disabling a user without a row makes one; enabling turns it back.
pub async fn disabling_and_enabling_create_the_row_when_missing(store: &dyn UserStore) {
    let row = store.set_user_disabled("eve", true).await.expect("disable");
    assert!(row.disabled);
    assert_eq!(row.org, None);
    assert!(
        store
            .get_user("eve")
            .await
            .expect("get")
            .expect("row")
            .disabled
    );

    let row = store.set_user_disabled("eve", false).await.expect("enable");

    assert!(!row.disabled);
    assert!(
        !store
            .get_user("eve")
            .await
            .expect("get")
            .expect("row")
            .disabled
    );
}

/// Scenario: an organisation's row is made by its first patch and keeps its budgets.
pub async fn organisations_keep_budget_limits(store: &dyn UserStore) {
    assert_eq!(store.get_org("acme").await.expect("get"), None);
    let patch = LimitsPatch {
        budget_usd_per_month: Some(Some(Money::from_micros(100_000_000))),
        budget_tokens_per_month: Some(Some(50_000)),
        ..LimitsPatch::default()
    };
    store.set_org_limits("acme", &patch).await.expect("set");

    let clear = LimitsPatch {
        budget_tokens_per_month: Some(None),
        ..LimitsPatch::default()
    };
    let row = store.set_org_limits("acme", &clear).await.expect("set");

    assert_eq!(row.id, "acme");
    assert_eq!(
        row.limits.budget_usd_per_month,
        Some(Money::from_micros(100_000_000))
    );
    assert_eq!(row.limits.budget_tokens_per_month, None);
    assert_eq!(store.get_org("acme").await.expect("get"), Some(row));
    assert_eq!(store.get_org("other").await.expect("get"), None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryUserStore;

    #[tokio::test]
    async fn the_in_memory_fake_keeps_the_contract() {
        user_store_suite(|| async { Arc::new(InMemoryUserStore::default()) as Arc<dyn UserStore> })
            .await;
    }
}
