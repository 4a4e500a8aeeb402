//! The [`AuditLog`] contract as scenarios, run against every adapter.

use std::future::Future;
use std::sync::Arc;

use serde_json::json;

use crate::ports::{AuditEntry, AuditLog, AuditQuery};

/// Runs every scenario, each on a fresh, empty log from `new_log`.
///
/// # Panics
/// When the log breaks the contract.
pub async fn audit_log_suite<F, Fut>(mut new_log: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn AuditLog>>,
{
    entries_come_back_as_appended_newest_first(new_log().await.as_ref()).await;
    listing_filters_by_period_and_target_and_limits(new_log().await.as_ref()).await;
}

/// An entry of `action` on `target` at `at_ms`.
pub fn entry(at_ms: i64, action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at_ms,
        actor: "admin".to_owned(),
        credential_id: Some("ag_test_Ab12Cd34".to_owned()),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: json!({"rate_limit_per_minute": 30, "note": "ünïcode, \"quoted\""}),
    }
}

fn all() -> AuditQuery {
    AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    }
}

/// Scenario: every field comes back as appended; newest first, and entries of the same
/// millisecond newest-appended first.
pub async fn entries_come_back_as_appended_newest_first(log: &dyn AuditLog) {
    assert!(log.list(&all()).await.expect("list").is_empty());
    let first = entry(1_000, "user.limits.set", "ann");
    let mut second = entry(2_000, "key.created", "ag_test_Zz99Yy88");
    second.credential_id = None;
    second.actor = "cli".to_owned();
    second.detail = json!({});
    let third = entry(2_000, "key.revoked", "ag_test_Zz99Yy88");
    for e in [&first, &second, &third] {
        log.append(e).await.expect("append");
    }

    let listed = log.list(&all()).await.expect("list");

    assert_eq!(listed, vec![third, second, first]);
}

/// Scenario: `from` is inclusive, `to` exclusive, `target` exact, `limit` keeps the newest.
pub async fn listing_filters_by_period_and_target_and_limits(log: &dyn AuditLog) {
    for (at, target) in [(10, "ann"), (20, "bob"), (30, "ann"), (40, "ann")] {
        log.append(&entry(at, "user.disabled", target))
            .await
            .expect("append");
    }
    let times = |entries: Vec<AuditEntry>| entries.iter().map(|e| e.at_ms).collect::<Vec<_>>();

    let period = AuditQuery {
        from_ms: Some(20),
        to_ms: Some(40),
        ..all()
    };
    let anns = AuditQuery {
        target: Some("ann".to_owned()),
        ..all()
    };
    let newest_two = AuditQuery { limit: 2, ..all() };

    assert_eq!(times(log.list(&period).await.expect("list")), [30, 20]);
    assert_eq!(times(log.list(&anns).await.expect("list")), [40, 30, 10]);
    assert_eq!(times(log.list(&newest_two).await.expect("list")), [40, 30]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryAuditLog;

    #[tokio::test]
    async fn the_in_memory_fake_keeps_the_contract() {
        audit_log_suite(|| async { Arc::new(InMemoryAuditLog::default()) as Arc<dyn AuditLog> })
            .await;
    }
}
