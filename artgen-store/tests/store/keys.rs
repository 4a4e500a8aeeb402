//! API keys: issued once, stored as hashes, refused identically whatever the reason.

use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::{ApiKey, KeyEnv, Role};
use artgen_core::ports::{Authenticator, Clock, FixedClock};
use artgen_core::{Error, ErrorCode};
use artgen_store::{DatabaseConfig, KeyInfo, SqliteStore, INVALID_KEY_MESSAGE};
use sqlx::{Row, SqlitePool};

const PREFIX_LEN: usize = "ag_live_".len();
const CHECKSUM_LEN: usize = 6;

async fn store(pool: SqlitePool) -> SqliteStore {
    SqliteStore::from_pool(pool)
        .await
        .expect("migrations apply to a fresh database")
}

/// The random part of a key that must never be stored: the body after the public id.
fn secret_part(key: &ApiKey) -> &str {
    let full = key.expose_secret();
    &full[key.public_id().len()..full.len() - CHECKSUM_LEN]
}

/// Panics if `haystack` contains any 6-character piece of the key's secret part.
fn assert_no_secret_piece(haystack: &[u8], key: &ApiKey) {
    let secret = secret_part(key).as_bytes();
    assert_eq!(secret.len(), 32);
    for piece in secret.windows(6) {
        assert!(
            !haystack.windows(piece.len()).any(|w| w == piece),
            "found a piece of the key secret"
        );
    }
}

/// A well-formed key (valid checksum) that was never issued, with the same public id as
/// `key` when `same_id` is set.
fn forged_key(key: &ApiKey, same_id: bool) -> ApiKey {
    let body = &key.expose_secret()[PREFIX_LEN..PREFIX_LEN + 40];
    let keep = if same_id { 8 } else { 0 };
    let forged: String = body
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i < keep {
                c
            } else if c == 'z' {
                'y'
            } else {
                'z'
            }
        })
        .collect();
    ApiKey::assemble(key.env(), &forged).expect("40 alphanumerics assemble")
}

fn fingerprint(err: &Error) -> (ErrorCode, String, String, Option<String>, Option<Duration>) {
    (
        err.code(),
        err.message().to_owned(),
        err.to_string(),
        err.param().map(str::to_owned),
        err.retry_after(),
    )
}

#[sqlx::test(migrations = false)]
async fn issued_key_parses_and_authenticates_as_its_owner(pool: SqlitePool) {
    let store = store(pool).await;

    let key = store
        .create_key("ann", Role::Admin, KeyEnv::Live)
        .await
        .expect("key issued");

    assert_eq!(ApiKey::parse(key.expose_secret()), Some(key.clone()));
    assert!(key.expose_secret().starts_with("ag_live_"));
    let principal = store
        .authenticate(key.expose_secret())
        .await
        .expect("key is valid");
    assert_eq!(principal.user, "ann");
    assert_eq!(principal.role, Role::Admin);
    assert_eq!(principal.credential_id.as_deref(), Some(key.public_id()));
    assert_eq!(store.count_keys().await.expect("count runs"), 1);
}

#[tokio::test]
async fn database_file_never_contains_the_key_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    let store = SqliteStore::open(&path).await.expect("database opens");
    let key = store
        .create_key("ann", Role::User, KeyEnv::Test)
        .await
        .expect("key issued");
    store
        .authenticate(key.expose_secret())
        .await
        .expect("key is valid");

    // Every column of every row, as the raw bytes SQLite hands out.
    let rows = sqlx::query("SELECT * FROM api_keys")
        .fetch_all(store.pool())
        .await
        .expect("dump runs");
    let mut dump = Vec::new();
    for row in &rows {
        for i in 0..row.len() {
            let value: Option<Vec<u8>> =
                row.try_get_unchecked(i).expect("any value reads as bytes");
            dump.extend(value.unwrap_or_default());
            dump.push(b'|');
        }
    }
    assert!(dump
        .windows(key.public_id().len())
        .any(|w| w == key.public_id().as_bytes()));
    assert_no_secret_piece(&dump, &key);

    store.close().await;
    for file in ["artgen.db", "artgen.db-wal", "artgen.db-shm"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert_no_secret_piece(&bytes, &key);
        }
    }
}

#[sqlx::test(migrations = false)]
async fn listing_shows_only_the_public_id_and_last_four(pool: SqlitePool) {
    let store = store(pool).await;
    let ann = store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");
    store
        .create_key("bob", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");

    let listed = store.list_keys(Some("ann")).await.expect("listing runs");

    let [info] = listed.as_slice() else {
        panic!("one key for ann: {listed:?}")
    };
    assert_eq!(info.public_id, ann.public_id());
    assert_eq!(info.last_four, ann.last_four());
    assert_eq!((info.user.as_str(), info.role), ("ann", Role::User));
    assert_eq!((info.revoked_at_ms, info.last_used_at_ms), (None, None));
    let json = serde_json::to_vec(&info).expect("serialises");
    assert_no_secret_piece(&json, &ann);
    assert_no_secret_piece(format!("{info:?}").as_bytes(), &ann);
    assert_eq!(store.list_keys(None).await.expect("listing runs").len(), 2);
}

#[sqlx::test(migrations = false)]
async fn revoked_unknown_malformed_and_wrong_secret_keys_fail_identically(pool: SqlitePool) {
    let store = store(pool).await;
    let revoked = store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");
    let live = store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");
    assert!(store
        .revoke_key(revoked.public_id())
        .await
        .expect("revoke runs"));

    let mut errors = Vec::new();
    for credential in [
        revoked.expose_secret().to_owned(),
        forged_key(&live, false).expose_secret().to_owned(),
        forged_key(&live, true).expose_secret().to_owned(),
        "ag_live_short".to_owned(),
        String::new(),
    ] {
        let err = store.authenticate(&credential).await.expect_err("refused");
        errors.push(fingerprint(&err));
    }

    assert_eq!(errors[0].0, ErrorCode::Unauthenticated);
    assert_eq!(errors[0].1, INVALID_KEY_MESSAGE);
    assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
}

#[sqlx::test(migrations = false)]
async fn corrupted_checksum_is_refused_without_a_lookup(pool: SqlitePool) {
    let store = store(pool).await;
    let key = store
        .create_key("ann", Role::User, KeyEnv::Test)
        .await
        .expect("key issued");
    let mut text = key.expose_secret().to_owned();
    let last = text.pop().expect("non-empty key");
    text.push(if last == 'a' { 'b' } else { 'a' });
    let before = store.key_lookups();

    let err = store.authenticate(&text).await.expect_err("checksum fails");

    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    assert_eq!(store.key_lookups(), before, "no database query");
    store
        .authenticate(key.expose_secret())
        .await
        .expect("the real key still works");
    assert_eq!(store.key_lookups(), before + 1);
}

#[sqlx::test(migrations = false)]
async fn successful_authentication_updates_last_used_at_most_once_a_minute(pool: SqlitePool) {
    let clock = Arc::new(FixedClock::at_secs(1_700_000_000));
    let store = store(pool).await.with_clock(clock.clone());
    let key = store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");
    let created = clock.now_ms();
    let last_used = || async {
        store.flush_writes().await.expect("writes flushed");
        let listed: Vec<KeyInfo> = store.list_keys(Some("ann")).await.expect("listing runs");
        assert_eq!(listed[0].created_at_ms, created);
        listed[0].last_used_at_ms
    };
    let commits = store.usage_commits();

    clock.advance(Duration::from_secs(5));
    store
        .authenticate(key.expose_secret())
        .await
        .expect("key is valid");
    assert_eq!(last_used().await, Some(created + 5_000));

    // Within the minute: more uses, no more writes.
    for _ in 0..5 {
        clock.advance(Duration::from_secs(10));
        store
            .authenticate(key.expose_secret())
            .await
            .expect("key is valid");
    }
    assert_eq!(last_used().await, Some(created + 5_000));
    assert_eq!(store.usage_commits(), commits + 1, "one write so far");

    // A minute after the last write: written again.
    clock.advance(Duration::from_secs(10));
    store
        .authenticate(key.expose_secret())
        .await
        .expect("key is valid");
    assert_eq!(last_used().await, Some(created + 65_000));
    assert_eq!(store.usage_commits(), commits + 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_does_not_wait_for_a_locked_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    let config = DatabaseConfig::default().with_lock_wait(Duration::from_millis(500));
    let store = SqliteStore::open_with(&path, &config)
        .await
        .expect("database opens");
    let key = store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");
    let locker = crate::durability::lock(&path).await;

    let started = std::time::Instant::now();
    let principal = store
        .authenticate(key.expose_secret())
        .await
        .expect("key is valid");

    assert_eq!(principal.user, "ann");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "the last-use write is off the response path: {:?}",
        started.elapsed()
    );
    crate::durability::unlock(locker).await;
}

#[sqlx::test(migrations = false)]
async fn revoking_reports_whether_a_live_key_was_revoked(pool: SqlitePool) {
    let clock = Arc::new(FixedClock::at_secs(1_700_000_000));
    let store = store(pool).await.with_clock(clock.clone());
    let key = store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("key issued");

    assert!(store
        .revoke_key(key.public_id())
        .await
        .expect("revoke runs"));
    assert!(!store
        .revoke_key(key.public_id())
        .await
        .expect("revoke runs"));
    assert!(!store
        .revoke_key("ag_live_nosuchid")
        .await
        .expect("revoke runs"));

    let listed = store.list_keys(None).await.expect("listing runs");
    assert_eq!(listed[0].revoked_at_ms, Some(clock.now_ms()));
    assert_eq!(
        store.count_keys().await.expect("count runs"),
        1,
        "revoked keys still count"
    );
}
