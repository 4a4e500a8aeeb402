//! The ledger contract on every backend: SQLite (an in-test database and a file, through the
//! group-committing writer), Postgres when `ARTGEN_TEST_DATABASE_URL` is set (a schema per
//! scenario), and the in-memory fake.

use std::sync::Arc;

use artgen_core::testing::conformance::ledger::{ledger_suite, LedgerBackend};
use artgen_core::testing::InMemoryUsageStore;
use artgen_store::SqliteStore;

use crate::postgres::{database_url, TestDb};

fn backend<S>(store: S) -> LedgerBackend
where
    S: artgen_core::ports::Ledger + artgen_core::ports::UsageStore + 'static,
{
    let store = Arc::new(store);
    LedgerBackend {
        ledger: store.clone(),
        usage: store,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_ledger_contract() {
    ledger_suite(|| async {
        backend(
            SqliteStore::in_memory()
                .await
                .expect("an in-memory database opens"),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_keeps_the_ledger_contract_through_its_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut n = 0;
    ledger_suite(|| {
        n += 1;
        let path = dir.path().join(format!("ledger-{n}.db"));
        async move {
            backend(
                SqliteStore::open(&path)
                    .await
                    .expect("the database file opens"),
            )
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_ledger_contract() {
    let Some(url) = database_url("postgres_keeps_the_ledger_contract") else {
        return;
    };
    let db = TestDb::connect(&url).await;

    ledger_suite(|| async { backend(db.store().await) }).await;

    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_keeps_the_ledger_contract() {
    ledger_suite(|| async { backend(InMemoryUsageStore::default()) }).await;
}
