//! The Postgres store against a real Postgres (`ARTGEN_TEST_DATABASE_URL`; CI sets it to
//! `postgres://postgres@127.0.0.1:5432/test`). Without the variable these tests say why they
//! skip; with it set, an unreachable database fails them loudly. Each store lives in a schema
//! of its own (`artgen_t_<random>`), dropped at the end, so the tests run in parallel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use artgen_core::domain::{UsageGroupBy, UsageQuery, UsageStatus, UsageSummaryQuery};
use artgen_core::ports::{IdempotencyStore, UsageStore};
use artgen_core::testing::conformance::idempotency::idempotency_store_suite;
use artgen_core::testing::conformance::keys::{key_store_suite, KeyBackend};
use artgen_core::testing::conformance::usage::{record, started, succeeded, usage_store_suite};
use artgen_store::{PostgresConfig, PostgresStore};
use rand::Rng as _;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

mod proxy;
mod tls;

/// The test database's URL, or `None` (after saying why) when the variable is unset.
pub(crate) fn database_url(test: &str) -> Option<String> {
    match std::env::var("ARTGEN_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped {test}: set ARTGEN_TEST_DATABASE_URL (e.g. \
                 postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            None
        }
    }
}

/// Schemas made for one test, dropped when it ends (also when it panics).
pub(crate) struct TestDb {
    url: String,
    admin: PgPool,
    schemas: Mutex<Vec<String>>,
}

impl TestDb {
    /// Connects to the test database; an unreachable one fails the test.
    pub(crate) async fn connect(url: &str) -> Self {
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .expect("ARTGEN_TEST_DATABASE_URL is set, so Postgres must be reachable");
        Self {
            url: url.to_owned(),
            admin,
            schemas: Mutex::new(Vec::new()),
        }
    }

    /// A fresh schema's name, created now and dropped with this value.
    pub(crate) async fn schema(&self) -> String {
        let name = format!("artgen_t_{:016x}", rand::thread_rng().gen::<u64>());
        // The name is ours (hex digits), not input; DDL takes no bound names.
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&self.admin)
            .await
            .expect("schema created");
        self.schemas
            .lock()
            .expect("schemas lock")
            .push(name.clone());
        name
    }

    /// A configuration for a fresh schema (no spool; recovery with no grace).
    pub(crate) async fn config(&self) -> PostgresConfig {
        PostgresConfig::new(self.url.clone())
            .with_schema(self.schema().await)
            .with_max_connections(4)
            .with_recover_after(Duration::ZERO)
    }

    /// A migrated store in a fresh schema.
    pub(crate) async fn store(&self) -> PostgresStore {
        self.store_with(self.config().await).await
    }

    /// A migrated store with `config`.
    pub(crate) async fn store_with(&self, config: PostgresConfig) -> PostgresStore {
        let store = PostgresStore::connect(&config)
            .await
            .expect("the test database accepts connections");
        store.migrate().await.expect("migrations apply");
        store
    }

    /// Drops every schema made so far.
    pub(crate) async fn cleanup(&self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().expect("schemas lock"));
        drop_schemas(&self.admin, &schemas).await;
    }
}

async fn drop_schemas(pool: &PgPool, schemas: &[String]) {
    for name in schemas {
        let dropped = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(pool)
            .await;
        if let Err(err) = dropped {
            eprintln!("could not drop test schema {name}: {err}");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|e| e.into_inner()));
        if schemas.is_empty() {
            return;
        }
        // A test that panicked never reached `cleanup`: drop its schemas on a runtime of our
        // own (the test's may be unwinding).
        let url = self.url.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await {
                    drop_schemas(&pool, &schemas).await;
                }
            });
        });
        let _finished = dropped.join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_usage_store_contract() {
    let Some(url) = database_url("postgres_keeps_the_usage_store_contract") else {
        return;
    };
    let db = TestDb::connect(&url).await;

    usage_store_suite(|| async { Arc::new(db.store().await) as Arc<dyn UsageStore> }).await;

    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_image_index_contract() {
    let Some(url) = database_url("postgres_keeps_the_image_index_contract") else {
        return;
    };
    let db = TestDb::connect(&url).await;

    artgen_core::testing::conformance::images::image_index_suite(|| async {
        let store = Arc::new(db.store().await);
        artgen_core::testing::conformance::images::Backend {
            usage: store.clone(),
            images: store,
        }
    })
    .await;

    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_and_pages_explain_the_plans_they_run() {
    let Some(url) = database_url("summaries_and_pages_explain_the_plans_they_run") else {
        return;
    };
    let db = TestDb::connect(&url).await;
    let store = db.store().await;
    store
        .record(&record("ann", JULY_15))
        .await
        .expect("write succeeds");

    let summary = store
        .explain_summary(&UsageSummaryQuery {
            group_by: UsageGroupBy::Day,
            from_ms: JULY_15,
            to_ms: AUGUST_2,
            user: Some("ann".to_owned()),
        })
        .await
        .expect("the summary's plan runs");
    let page = store
        .explain_list(&UsageQuery {
            user: Some("ann".to_owned()),
            ..Default::default()
        })
        .await
        .expect("the page's plan runs");

    for plan in [summary, page] {
        assert!(plan.contains("actual time"), "{plan}");
        assert!(
            plan.contains("Buffers") || plan.contains("Execution Time"),
            "{plan}"
        );
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_key_store_contract() {
    let Some(url) = database_url("postgres_keeps_the_key_store_contract") else {
        return;
    };
    let db = TestDb::connect(&url).await;

    key_store_suite(|| async {
        let store = Arc::new(db.store().await);
        KeyBackend {
            keys: store.clone(),
            authenticator: store,
        }
    })
    .await;

    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_idempotency_store_contract() {
    let Some(url) = database_url("postgres_keeps_the_idempotency_store_contract") else {
        return;
    };
    let db = TestDb::connect(&url).await;

    idempotency_store_suite(|| async { Arc::new(db.store().await) as Arc<dyn IdempotencyStore> })
        .await;

    db.cleanup().await;
}

/// 2025-07-15T12:00:00Z and 2025-08-02T00:00:00Z, Unix ms.
const JULY_15: i64 = 1_752_580_800_000;
const AUGUST_2: i64 = 1_754_092_800_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_rows_land_in_their_months_partition_and_roll_up_by_day() {
    let Some(url) = database_url("usage_rows_land_in_their_months_partition") else {
        return;
    };
    let db = TestDb::connect(&url).await;
    let store = db.store().await;
    let day = 86_400_000;
    let early = record("ann", JULY_15 - day);
    let late = record("ann", JULY_15);
    let august = record("ann", AUGUST_2);
    let open = started("bob", JULY_15);
    for row in [&early, &late, &august] {
        store.record(row).await.expect("write succeeds");
    }
    store.start(&open).await.expect("start succeeds");

    // July's partition is made (and its rows moved out of the default one) by housekeeping.
    store
        .housekeeping(JULY_15)
        .await
        .expect("housekeeping runs");
    store
        .housekeeping(JULY_15)
        .await
        .expect("housekeeping runs twice");

    let partitions: Vec<(String, String)> = sqlx::query_as(
        "SELECT request_id, tableoid::regclass::text FROM usage ORDER BY created_at_ms",
    )
    .fetch_all(store.pool())
    .await
    .expect("query runs");
    let partition_of = |id: &str| {
        partitions
            .iter()
            .find(|(r, _)| r == id)
            .map(|(_, p)| p.clone())
            .expect("row kept")
    };
    assert_eq!(partition_of(late.request_id.as_str()), "usage_y2025m07");
    assert_eq!(partition_of(early.request_id.as_str()), "usage_y2025m07");
    assert_eq!(partition_of(august.request_id.as_str()), "usage_y2025m08");

    let daily: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day::text, user_id, requests, succeeded, unfinished, cost_micros \
         FROM usage_daily ORDER BY day, user_id",
    )
    .fetch_all(store.pool())
    .await
    .expect("query runs");
    let cost = i64::try_from(late.cost.micros()).expect("fits");
    let estimate = i64::try_from(open.estimated_cost.micros()).expect("fits");
    assert_eq!(
        daily,
        vec![
            ("2025-07-14".to_owned(), "ann".to_owned(), 1, 1, 0, cost),
            ("2025-07-15".to_owned(), "ann".to_owned(), 1, 1, 0, cost),
            ("2025-07-15".to_owned(), "bob".to_owned(), 1, 0, 1, estimate),
        ]
    );

    // A finish after the roll-up is in the next one.
    store
        .finish(&succeeded(&open), &[])
        .await
        .expect("finish succeeds");
    store
        .housekeeping(JULY_15)
        .await
        .expect("housekeeping runs");
    let bob: (i64, i64) =
        sqlx::query_as("SELECT succeeded, unfinished FROM usage_daily WHERE user_id = 'bob'")
            .fetch_one(store.pool())
            .await
            .expect("query runs");
    assert_eq!(bob, (1, 0));
    assert_eq!(
        store
            .list(&UsageQuery::default())
            .await
            .expect("listing")
            .iter()
            .filter(|r| r.status == UsageStatus::Succeeded)
            .count(),
        4
    );

    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_database_fails_the_connect_without_quoting_the_password() {
    let config = PostgresConfig::new("postgres://app:s3cret-pw@127.0.0.1:1/artgen")
        .with_acquire_timeout(Duration::from_millis(500));

    let err = PostgresStore::connect(&config)
        .await
        .expect_err("nothing listens on port 1");

    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cret-pw"), "{text}");
    let core = artgen_core::Error::from(err);
    assert_eq!(core.code(), artgen_core::ErrorCode::StorageUnavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_during_a_lost_connection_are_kept_and_land_exactly_once() {
    let Some(url) = database_url("writes_during_a_lost_connection") else {
        return;
    };
    let db = TestDb::connect(&url).await;
    let proxy = proxy::Proxy::start(proxy::upstream_of(&url).await).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = db
        .config()
        .await
        .with_spool(dir.path().join("spool.jsonl"))
        .with_spool_max_records(1_000)
        .with_acquire_timeout(Duration::from_millis(300));
    let schema = config.schema.clone().expect("a schema");
    config.url = artgen_store::DatabaseUrl::new(proxy.url(&url));
    let store = Arc::new(db.store_with(config).await);

    // 60 requests, started and finished while the connection goes away and comes back.
    let requests = (0..60).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20 * i)).await;
            let start = started("ann", JULY_15 + i64::try_from(i).expect("small"));
            store.start(&start).await.expect("a start is kept");
            tokio::time::sleep(Duration::from_millis(150)).await;
            let done = succeeded(&start);
            store.finish(&done, &[]).await.expect("a finish is kept");
            done.request_id
        })
    });
    let requests: Vec<_> = requests.collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.cut();
    let mut peak = 0;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(store.spooled_writes());
    }
    proxy.restore();
    let mut answered = Vec::new();
    for request in requests {
        answered.push(request.await.expect("request task ends"));
    }
    for _ in 0..100 {
        if store.spooled_writes() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(
        peak > 0,
        "writes were kept while the database was unreachable"
    );
    assert_eq!(store.spooled_writes(), 0, "the spool was applied");
    let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT request_id, status, count(*) OVER (PARTITION BY request_id) FROM {schema}.usage"
    ))
    .fetch_all(&db.admin)
    .await
    .expect("query runs");
    assert_eq!(rows.len(), answered.len(), "one row per answered request");
    for id in &answered {
        let row = rows
            .iter()
            .find(|(r, ..)| r == id.as_str())
            .expect("every answered request has its row");
        assert_eq!((row.1.as_str(), row.2), ("succeeded", 1));
    }
    let ids: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.usage_request_ids"))
        .fetch_one(&db.admin)
        .await
        .expect("query runs");
    assert_eq!(ids, 60);

    store.close().await;
    db.cleanup().await;
}
