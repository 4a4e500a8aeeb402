//! Opening SQLite databases: pragmas, folders, reopening.

use artgen_core::domain::{KeyEnv, Role, UsageQuery};
use artgen_core::ports::{Authenticator, UsageStore};
use artgen_store::SqliteStore;

#[tokio::test]
async fn a_file_database_runs_in_wal_mode_with_busy_timeout_and_foreign_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("artgen.db"))
        .await
        .expect("database opens");

    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .expect("pragma reads");
    let busy_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(store.pool())
        .await
        .expect("pragma reads");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .expect("pragma reads");

    assert_eq!(journal, "wal");
    assert!(busy_ms >= 1_000, "{busy_ms}");
    assert_eq!(foreign_keys, 1);
}

#[tokio::test]
async fn opening_creates_missing_folders_and_reopening_keeps_the_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data").join("nested").join("artgen.db");
    let store = SqliteStore::open(&path).await.expect("database opens");
    let key = store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");
    store.close().await;

    let reopened = SqliteStore::open(&path).await.expect("database reopens");

    assert_eq!(reopened.count_keys().await.expect("count runs"), 1);
    reopened
        .authenticate(key.expose_secret())
        .await
        .expect("key survives a restart");
    let usage = reopened
        .list(&UsageQuery::default())
        .await
        .expect("listing runs");
    assert!(usage.is_empty());
}

#[tokio::test]
async fn clones_share_the_database_and_the_lookup_counter() {
    let store = SqliteStore::in_memory().await.expect("database opens");
    let clone = store.clone();
    let key = store
        .create_key("ann", Role::User, KeyEnv::Test)
        .await
        .expect("key issued");

    clone
        .authenticate(key.expose_secret())
        .await
        .expect("the clone sees the key");

    assert_eq!(store.key_lookups(), 1);
}
