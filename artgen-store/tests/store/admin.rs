//! The user and audit conformance suites on SQLite and (when `ARTGEN_TEST_DATABASE_URL` is
//! set) Postgres, plus what only a database can get wrong: rows surviving a reopen.

use std::sync::Arc;

use artgen_core::domain::{LimitsPatch, Money};
use artgen_core::ports::{AuditLog, AuditQuery, UserStore};
use artgen_core::testing::conformance::audit::{audit_log_suite, entry};
use artgen_core::testing::conformance::users::user_store_suite;
use artgen_store::SqliteStore;

use crate::postgres::{database_url, TestDb};

#[tokio::test]
async fn sqlite_keeps_the_user_store_contract() {
    user_store_suite(|| async {
        Arc::new(SqliteStore::in_memory().await.expect("opens")) as Arc<dyn UserStore>
    })
    .await;
}

#[tokio::test]
async fn sqlite_keeps_the_audit_log_contract() {
    audit_log_suite(|| async {
        Arc::new(SqliteStore::in_memory().await.expect("opens")) as Arc<dyn AuditLog>
    })
    .await;
}

#[tokio::test]
async fn users_and_the_audit_trail_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    let patch = LimitsPatch {
        budget_usd_per_month: Some(Some(Money::from_micros(2_500_000))),
        ..LimitsPatch::default()
    };
    let row = store.set_user_limits("ann", &patch).await.expect("set");
    store
        .append(&entry(5, "user.limits.set", "ann"))
        .await
        .expect("append");
    store.close().await;

    let reopened = SqliteStore::open(&path).await.expect("reopens");
    let audit = reopened
        .list(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("list");

    assert_eq!(reopened.get_user("ann").await.expect("get"), Some(row));
    assert_eq!(audit, vec![entry(5, "user.limits.set", "ann")]);
    reopened.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_user_store_contract() {
    let Some(url) = database_url("postgres_keeps_the_user_store_contract") else {
        return;
    };
    let db = TestDb::connect(&url).await;

    user_store_suite(|| async { Arc::new(db.store().await) as Arc<dyn UserStore> }).await;

    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_audit_log_contract() {
    let Some(url) = database_url("postgres_keeps_the_audit_log_contract") else {
        return;
    };
    let db = TestDb::connect(&url).await;

    audit_log_suite(|| async { Arc::new(db.store().await) as Arc<dyn AuditLog> }).await;

    db.cleanup().await;
}
