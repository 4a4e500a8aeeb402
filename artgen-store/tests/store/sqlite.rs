//! Opening SQLite databases: pragmas, folders, reopening.

use artgen_core::domain::{KeyEnv, Role, UsageQuery};
use artgen_core::ports::{Authenticator, UsageStore};
use artgen_store::SqliteStore;
use std::sync::Arc;

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

/// The permission bits of `path`, in octal (Unix).
#[cfg(unix)]
fn mode(path: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", metadata.permissions().mode() & 0o7777)
}

/// `path` with `suffix` appended to its file name (`artgen.db` → `artgen.db-wal`).
#[cfg(unix)]
fn side_file(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_its_wal_and_shm_files_and_its_folder_are_private_to_the_owner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("data");
    let path = folder.join("artgen.db");

    let store = SqliteStore::open(&path).await.expect("database opens");
    store
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("a write creates the WAL");

    assert_eq!(mode(&folder), "700", "folder");
    assert_eq!(mode(&path), "600", "database file");
    for suffix in ["-wal", "-shm"] {
        let side = side_file(&path, suffix);
        assert!(side.exists(), "{} exists in WAL mode", side.display());
        assert_eq!(mode(&side), "600", "{suffix} file");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn opening_narrows_an_existing_database_and_its_side_files_to_the_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    let first = SqliteStore::open(&path).await.expect("database opens");
    first
        .create_key("ann", Role::User, KeyEnv::Live)
        .await
        .expect("a write creates the WAL");
    let files = [
        path.clone(),
        side_file(&path, "-wal"),
        side_file(&path, "-shm"),
    ];
    for file in &files {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))
            .expect("mode widened, as an older version left it");
    }

    let second = SqliteStore::open(&path).await.expect("database reopens");

    for file in &files {
        assert_eq!(mode(file), "600", "{}", file.display());
    }
    assert_eq!(second.count_keys().await.expect("count runs"), 1);
}

// The conformance suites of `artgen_core::testing::conformance`, on SQLite.

#[tokio::test]
async fn sqlite_keeps_the_usage_store_contract() {
    artgen_core::testing::conformance::usage::usage_store_suite(|| async {
        Arc::new(SqliteStore::in_memory().await.expect("opens"))
            as Arc<dyn artgen_core::ports::UsageStore>
    })
    .await;
}

/// A database file's owner writes started rows to its journal (see `sqlite::started`), not
/// the table: the contract holds all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_keeps_the_usage_store_contract_through_its_started_row_journal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    artgen_core::testing::conformance::usage::usage_store_suite(|| {
        n += 1;
        let path = dir.path().join(format!("usage-{n}.db"));
        async move {
            let store = SqliteStore::open(&path)
                .await
                .expect("the database file opens");
            assert!(
                path.with_file_name(format!("usage-{n}.db-started.jsonl"))
                    .exists(),
                "the store keeps a journal"
            );
            Arc::new(store) as Arc<dyn artgen_core::ports::UsageStore>
        }
    })
    .await;
}

#[tokio::test]
async fn sqlite_keeps_the_key_store_contract() {
    artgen_core::testing::conformance::keys::key_store_suite(|| async {
        let store = Arc::new(SqliteStore::in_memory().await.expect("opens"));
        artgen_core::testing::conformance::keys::KeyBackend {
            keys: store.clone(),
            authenticator: store,
        }
    })
    .await;
}

#[tokio::test]
async fn sqlite_keeps_the_idempotency_store_contract() {
    artgen_core::testing::conformance::idempotency::idempotency_store_suite(|| async {
        Arc::new(SqliteStore::in_memory().await.expect("opens"))
            as Arc<dyn artgen_core::ports::IdempotencyStore>
    })
    .await;
}

#[tokio::test]
async fn sqlite_keeps_the_image_index_contract() {
    artgen_core::testing::conformance::images::image_index_suite(|| async {
        let store = Arc::new(SqliteStore::in_memory().await.expect("opens"));
        artgen_core::testing::conformance::images::Backend {
            usage: store.clone(),
            images: store,
        }
    })
    .await;
}

/// The gallery's page query reads its index backwards (migration 0014 made the index
/// ascending, so that a new image's entry is appended): no table scan and no sort.
#[tokio::test]
async fn the_gallery_query_walks_its_index_without_sorting() {
    let store = SqliteStore::in_memory().await.expect("opens");
    for keyset in ["", " AND (created_at_ms, id) < (?, ?)"] {
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT * FROM images WHERE owner = ?{keyset} \
             ORDER BY created_at_ms DESC, id DESC LIMIT 50"
        );
        let mut query = sqlx::query_as(&sql).bind("ann");
        if !keyset.is_empty() {
            query = query.bind(1_i64).bind("img_x");
        }
        let plan: Vec<(i64, i64, i64, String)> = query
            .fetch_all(store.pool())
            .await
            .expect("plan query runs");
        let details: Vec<&str> = plan.iter().map(|(.., detail)| detail.as_str()).collect();
        assert!(
            details
                .iter()
                .any(|d| d.contains("USING INDEX images_owner_created_idx")),
            "{details:?}"
        );
        assert!(
            !details.iter().any(|d| d.contains("TEMP B-TREE")),
            "the rows come out of the index in order: {details:?}"
        );
    }
}
