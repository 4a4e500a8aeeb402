//! The SQLite usage writer: group commit, a write-locked database, the spool, recovery after
//! a crash, and the durability setting.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use artgen_core::domain::{
    Money, Operation, RequestId, TokenUsage, UsageQuery, UsageRecord, UsageStatus,
};
use artgen_core::ports::UsageStore;
use artgen_core::ErrorCode;
use artgen_store::{DatabaseConfig, Durability, SqliteStore};
use futures_util::FutureExt as _;
use sqlx::{Connection as _, SqliteConnection};

fn started(user: &str) -> UsageRecord {
    UsageRecord {
        request_id: RequestId::generate(),
        user: user.to_owned(),
        org: None,
        operation: Operation::Generate,
        model: "gpt-image-1".to_owned(),
        provider: "openai".to_owned(),
        n: 1,
        size: "1024x1024".to_owned(),
        quality: "high".to_owned(),
        status: UsageStatus::Started,
        error_code: None,
        images: 0,
        tokens: TokenUsage::default(),
        estimated_cost: Money::from_micros(167_000),
        cost: Money::from_micros(167_000),
        latency_ms: 0,
        upstream_latency_ms: 0,
        prompt: "a lighthouse".to_owned(),
        unpriced: false,
        forwarded_params: Vec::new(),
        created_at_ms: 1_000,
    }
}

fn succeeded(start: &UsageRecord) -> UsageRecord {
    UsageRecord {
        status: UsageStatus::Succeeded,
        images: 1,
        cost: Money::from_micros(166_000),
        latency_ms: 900,
        upstream_latency_ms: 850,
        ..start.clone()
    }
}

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn db() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    Db { _dir: dir, path }
}

fn quick() -> DatabaseConfig {
    DatabaseConfig::default()
        .with_lock_wait(Duration::from_millis(100))
        .with_write_attempts(2)
}

async fn open(path: &Path, config: &DatabaseConfig) -> SqliteStore {
    SqliteStore::open_with(path, config)
        .await
        .expect("database opens")
}

/// Another connection holding the write lock, as a long write from another process would.
pub(crate) async fn lock(path: &Path) -> SqliteConnection {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .expect("write lock taken");
    conn
}

/// Releases a [`lock`].
pub(crate) async fn unlock(mut conn: SqliteConnection) {
    sqlx::query("ROLLBACK")
        .execute(&mut conn)
        .await
        .expect("lock released");
}

async fn rows(store: &SqliteStore) -> Vec<UsageRecord> {
    store
        .list(&UsageQuery::default())
        .await
        .expect("listing runs")
}

fn status_of(rows: &[UsageRecord], id: &RequestId) -> Option<UsageStatus> {
    rows.iter().find(|r| &r.request_id == id).map(|r| r.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_usage_writes_all_arrive_whichever_thread_commits_them() {
    let db = db();
    let store = open(&db.path, &DatabaseConfig::default()).await;
    const WRITES: usize = 64;
    // The writes start together on four threads: some commit on their own thread while the
    // writer's thread commits the others (sharing is shown by the test below).
    let together = Arc::new(tokio::sync::Barrier::new(WRITES));

    let mut tasks = tokio::task::JoinSet::new();
    let mut written = Vec::new();
    for i in 0..WRITES {
        let (store, together) = (store.clone(), together.clone());
        let row = succeeded(&started(&format!("user-{i}")));
        written.push(row.clone());
        tasks.spawn(async move {
            together.wait().await;
            store.record(&row).await.expect("write succeeds");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }

    let mut rows = rows(&store).await;
    rows.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    written.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    assert_eq!(rows, written, "every row arrived, once");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_queued_behind_a_commit_all_join_the_next_one() {
    let db = db();
    let store = open(&db.path, &DatabaseConfig::default()).await;
    let locker = lock(&db.path).await;
    let before = store.usage_commits();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .record(&succeeded(&started(&format!("user-{i}"))))
                .await
                .expect("write succeeds");
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rows(&store).await.is_empty(),
        "nothing commits while locked"
    );
    unlock(locker).await;
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }

    assert_eq!(rows(&store).await.len(), 50);
    assert!(
        store.usage_commits() - before <= 2,
        "the first write's commit, then one for the 49 that waited: {}",
        store.usage_commits() - before
    );
}

#[tokio::test]
async fn a_lone_write_commits_on_the_callers_thread() {
    let db = db();
    let store = open(&db.path, &DatabaseConfig::default()).await;
    let row = succeeded(&started("ann"));

    // Committed within its first poll: no hand-off to the writer's thread and back.
    let written = store.record(&row).now_or_never();

    assert!(matches!(written, Some(Ok(()))), "{written:?}");
    assert_eq!(rows(&store).await, vec![row]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lone_write_on_a_locked_database_goes_to_the_writer_without_waiting_for_the_lock() {
    let db = db();
    let config = DatabaseConfig::default().with_lock_wait(Duration::from_secs(30));
    let store = open(&db.path, &config).await;
    let locker = lock(&db.path).await;
    let row = succeeded(&started("ann"));

    let mut write = Box::pin(store.record(&row));
    let began = Instant::now();
    let first = futures_util::poll!(write.as_mut());
    let polled = began.elapsed();

    assert!(first.is_pending(), "the lock is held: {first:?}");
    assert!(
        polled < Duration::from_secs(10),
        "the caller's thread did not wait out the 30 s lock wait: {polled:?}"
    );
    unlock(locker).await;
    write
        .await
        .expect("the writer commits it once the lock is free");
    assert_eq!(rows(&store).await, vec![row]);
}

#[tokio::test]
async fn with_power_loss_durability_every_write_goes_to_the_writer() {
    let db = db();
    let config = DatabaseConfig::default().with_durability(Durability::PowerLoss);
    let store = open(&db.path, &config).await;
    let row = succeeded(&started("ann"));

    let mut write = Box::pin(store.record(&row));
    let first = futures_util::poll!(write.as_mut());

    assert!(
        first.is_pending(),
        "an fsync per commit stays off the caller's thread"
    );
    write.await.expect("write succeeds");
    assert_eq!(rows(&store).await, vec![row]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_locked_database_spools_writes_and_applies_them_once_the_lock_is_released() {
    let db = db();
    let store = open(&db.path, &quick()).await;
    let start = started("ann");
    let locker = lock(&db.path).await;

    let began = Instant::now();
    store.start(&start).await.expect("start is spooled");
    store
        .finish(&succeeded(&start), &[])
        .await
        .expect("finish is journaled");

    // Both went to the usage journal, which the lock does not touch.
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "neither waits for the database: {:?}",
        began.elapsed()
    );
    let journal = std::fs::read_to_string(db.path.with_file_name("artgen.db-started.jsonl"))
        .expect("journal file");
    assert!(journal.contains(start.request_id.as_str()), "{journal}");
    assert!(journal.contains(r#""op":"finish""#), "{journal}");
    // The reading's barrier offers the finish to the database: refused (two attempts of
    // 100 ms), it goes to the spool.
    assert!(rows(&store).await.is_empty(), "not in the database yet");
    assert_eq!(store.spooled_writes(), 1);
    let spool = std::fs::read_to_string(db.path.with_file_name("artgen.db-spool.jsonl"))
        .expect("spool file");
    assert_eq!(spool.lines().count(), 1, "{spool}");
    assert!(spool.contains(r#""op":"finish""#), "{spool}");

    unlock(locker).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.spooled_writes() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let rows = rows(&store).await;
    assert_eq!(
        rows,
        vec![succeeded(&start)],
        "applied by the periodic retry"
    );
    let spool = std::fs::read_to_string(db.path.with_file_name("artgen.db-spool.jsonl"))
        .expect("spool file");
    assert!(spool.is_empty(), "the spool is emptied: {spool}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_spool_refuses_new_starts_but_keeps_room_for_the_finishes_in_flight() {
    let db = db();
    let store = open(&db.path, &quick().with_spool_max_records(2)).await;
    let (first, second) = (started("ann"), started("bob"));
    let (third, fourth) = (started("carl"), started("dana"));
    let locker = lock(&db.path).await;

    // A start goes to the started-row journal, not the spool, but holds the spool room its
    // finish may need.
    store.start(&first).await.expect("room for its finish");
    store.start(&second).await.expect("room for its finish");
    let refused = store
        .start(&third)
        .await
        .expect_err("no room for a third request's finish");
    store
        .finish(&succeeded(&first), &[])
        .await
        .expect("the finish had its room reserved");
    let still_refused = store.start(&fourth).await.expect_err("the spool is full");

    for err in [&refused, &still_refused] {
        assert_eq!(err.code(), ErrorCode::StorageUnavailable, "{err}");
        assert!(err.retry_after().is_some());
    }
    // The journaled finish reaches the spool once the writer has tried the database.
    store.flush_writes().await.expect("writes tried");
    assert_eq!(store.spooled_writes(), 1, "the first finish");
    unlock(locker).await;
    store.flush_writes().await.expect("writes flushed");
    store
        .finish(&succeeded(&second), &[])
        .await
        .expect("the second finish is committed");
    let rows = rows(&store).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        status_of(&rows, &first.request_id),
        Some(UsageStatus::Succeeded)
    );
    assert_eq!(
        status_of(&rows, &second.request_id),
        Some(UsageStatus::Succeeded)
    );
    store
        .start(&started("erin"))
        .await
        .expect("room again once the spool is applied");
}

#[tokio::test]
async fn rows_a_crash_left_started_are_marked_unknown_at_the_next_start_which_is_clean() {
    let db = db();
    let store = open(&db.path, &DatabaseConfig::default()).await;
    let (interrupted, answered) = (started("ann"), started("bob"));
    let refused = started("cy");
    store.start(&interrupted).await.expect("start succeeds");
    store.start(&answered).await.expect("start succeeds");
    store.start(&refused).await.expect("start succeeds");
    store
        .finish(&succeeded(&answered), &[])
        .await
        .expect("finish succeeds");
    store
        .discard(&refused.request_id)
        .await
        .expect("discard succeeds");
    // The process dies with `interrupted` in flight (closing finishes nothing; it only
    // releases the spool's lock at once, as the end of a process does).
    store.close().await;

    let restarted = open(&db.path, &DatabaseConfig::default()).await;
    let marked = restarted
        .recover_unfinished(i64::MAX)
        .await
        .expect("recovery runs");

    assert_eq!(marked, 1);
    let rows = rows(&restarted).await;
    let lost = rows
        .iter()
        .find(|r| r.request_id == interrupted.request_id)
        .expect("kept");
    assert_eq!(lost.status, UsageStatus::Unknown);
    assert_eq!(lost.cost, lost.estimated_cost, "counted at its estimate");
    assert_eq!(
        status_of(&rows, &answered.request_id),
        Some(UsageStatus::Succeeded)
    );
    assert_eq!(status_of(&rows, &refused.request_id), None, "discarded");
    assert_eq!(rows.len(), 2);
    restarted.close().await;

    let again = open(&db.path, &DatabaseConfig::default()).await;
    assert_eq!(
        again
            .recover_unfinished(i64::MAX)
            .await
            .expect("recovery runs"),
        0,
        "nothing left to recover"
    );
    assert_eq!(again.spooled_writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answers_image_and_row_are_read_back_at_once_while_the_writer_commits_finishes() {
    let db = db();
    let store = std::sync::Arc::new(open(&db.path, &DatabaseConfig::default()).await);
    // Many requests finishing at once keep the writer committing deferred finishes while
    // each reads its own image and row back, as a browser does right after the answer.
    let requests = (0..16_u8).map(|worker| {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            for n in 1..=25_i64 {
                let start = started(&format!("user{worker}"));
                let image = artgen_core::testing::conformance::images::image(
                    &start.user,
                    &start.request_id,
                    n,
                );
                store.start(&start).await.expect("journaled");
                store
                    .finish(&succeeded(&start), std::slice::from_ref(&image))
                    .await
                    .expect("journaled");
                let listed = artgen_core::ports::ImageIndex::list_images(
                    store.as_ref(),
                    &start.user,
                    None,
                    1,
                )
                .await
                .expect("listing runs");
                assert_eq!(
                    listed.first().map(|i| &i.id),
                    Some(&image.id),
                    "the answer's image heads its owner's gallery"
                );
                let got = artgen_core::ports::UsageStore::get(store.as_ref(), &start.request_id)
                    .await
                    .expect("get runs");
                assert_eq!(got.map(|r| r.status), Some(UsageStatus::Succeeded));
            }
        })
    });
    for request in requests.collect::<Vec<_>>() {
        request.await.expect("no reader missed a finish");
    }
    let all = UsageQuery {
        limit: Some(1000),
        ..UsageQuery::default()
    };
    assert_eq!(store.list(&all).await.expect("listing runs").len(), 16 * 25);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finish_answered_but_not_yet_written_is_applied_at_the_next_start() {
    let (db, crashed) = (db(), db());
    let store = open(&db.path, &DatabaseConfig::default()).await;
    let start = started("ann");
    let image = artgen_core::testing::conformance::images::image("ann", &start.request_id, 7);
    store.start(&start).await.expect("journaled");
    store
        .finish(&succeeded(&start), std::slice::from_ref(&image))
        .await
        .expect("journaled");
    // What a `kill -9` leaves now: the journal's lines, in the page cache, and a database
    // without the row (the finish waits for the writer's next transaction).
    let journal =
        std::fs::read(db.path.with_file_name("artgen.db-started.jsonl")).expect("journal file");
    std::fs::create_dir_all(crashed.path.parent().expect("a folder")).expect("folder");
    std::fs::write(
        crashed.path.with_file_name("artgen.db-started.jsonl"),
        &journal,
    )
    .expect("journal copied");
    store.close().await;

    let restarted = open(&crashed.path, &DatabaseConfig::default()).await;
    let marked = restarted
        .recover_unfinished(i64::MAX)
        .await
        .expect("recovery runs");

    assert_eq!(marked, 0, "the finish is applied, not recovered as unknown");
    assert_eq!(rows(&restarted).await, vec![succeeded(&start)]);
    assert_eq!(
        artgen_core::ports::ImageIndex::get_image(&restarted, &image.id)
            .await
            .expect("get succeeds"),
        Some(image),
        "with its image row"
    );
    restarted.close().await;
    let again = open(&crashed.path, &DatabaseConfig::default()).await;
    assert_eq!(rows(&again).await, vec![succeeded(&start)], "applied once");
    let left = std::fs::read_to_string(crashed.path.with_file_name("artgen.db-started.jsonl"))
        .expect("journal file");
    assert!(
        left.is_empty(),
        "the journal is rewritten without it: {left}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_spooled_before_a_restart_are_applied_when_the_store_reopens() {
    let db = db();
    let store = open(&db.path, &quick()).await;
    let start = started("ann");
    let image = artgen_core::testing::conformance::images::image("ann", &start.request_id, 7);
    let locker = lock(&db.path).await;
    store.start(&start).await.expect("spooled");
    store
        .finish(&succeeded(&start), std::slice::from_ref(&image))
        .await
        .expect("spooled");
    // Stops while the database is still locked: the spool stays.
    store.close().await;
    unlock(locker).await;

    let reopened = open(&db.path, &quick()).await;
    let marked = reopened
        .recover_unfinished(i64::MAX)
        .await
        .expect("recovery runs after the spool is applied");

    assert_eq!(marked, 0, "the spooled finish settled the row first");
    assert_eq!(rows(&reopened).await, vec![succeeded(&start)]);
    assert_eq!(
        artgen_core::ports::ImageIndex::get_image(&reopened, &image.id)
            .await
            .expect("get succeeds"),
        Some(image),
        "the spooled finish kept its image row"
    );
    assert_eq!(reopened.spooled_writes(), 0);
}

#[tokio::test]
async fn a_second_store_on_the_same_database_leaves_the_rows_in_flight_alone() {
    let db = db();
    let server = open(&db.path, &DatabaseConfig::default()).await;
    let in_flight = started("ann");
    server.start(&in_flight).await.expect("start succeeds");

    let admin_command = open(&db.path, &DatabaseConfig::default()).await;
    let marked = admin_command
        .recover_unfinished(i64::MAX)
        .await
        .expect("recovery runs");

    assert_eq!(
        marked, 0,
        "the server holds the spool, so its requests are alive"
    );
    assert_eq!(
        status_of(&rows(&server).await, &in_flight.request_id),
        Some(UsageStatus::Started)
    );
}

#[tokio::test]
async fn crash_durability_commits_with_synchronous_normal_and_power_loss_with_full() {
    for (durability, expected) in [(Durability::Crash, 1), (Durability::PowerLoss, 2)] {
        let db = db();
        let config = DatabaseConfig::default().with_durability(durability);
        let store = open(&db.path, &config).await;

        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .expect("pragma reads");
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .expect("pragma reads");

        assert_eq!(synchronous, expected, "{durability}");
        assert_eq!(journal, "wal");
        let row = succeeded(&started("ann"));
        store.record(&row).await.expect("write succeeds");
        assert_eq!(rows(&store).await, vec![row]);
    }
}

#[tokio::test]
async fn a_closed_store_refuses_writes_instead_of_dropping_them() {
    let store = Arc::new(SqliteStore::in_memory().await.expect("opens"));
    store.close().await;

    let err = store
        .record(&succeeded(&started("ann")))
        .await
        .expect_err("the writer has stopped");

    assert_eq!(err.code(), ErrorCode::Internal);
}

#[tokio::test]
async fn a_spooled_write_that_breaks_a_row_rule_is_dropped_without_blocking_the_others() {
    let db = db();
    let good = succeeded(&started("ann"));
    let mut bad = succeeded(&started("bob"));
    bad.cost = Money::from_micros(u64::MAX);
    let line = |record: &UsageRecord| {
        serde_json::json!({"op": "finish", "record": record}).to_string() + "\n"
    };
    let spool = db.path.with_file_name("artgen.db-spool.jsonl");
    std::fs::create_dir_all(spool.parent().expect("a folder")).expect("folder");
    std::fs::write(&spool, line(&bad) + &line(&good)).expect("spool written");

    let store = open(&db.path, &DatabaseConfig::default()).await;
    store.flush_writes().await.expect("writes flushed");

    assert_eq!(rows(&store).await, vec![good]);
    assert_eq!(store.spooled_writes(), 0);
    assert!(std::fs::read_to_string(&spool).expect("spool").is_empty());
}

#[tokio::test]
async fn recovery_still_runs_with_the_spool_turned_off() {
    let db = db();
    let no_spool = DatabaseConfig::default().with_spool_max_records(0);
    let store = open(&db.path, &no_spool).await;
    store.start(&started("ann")).await.expect("start succeeds");
    store.close().await;

    let restarted = open(&db.path, &no_spool).await;

    assert_eq!(
        restarted
            .recover_unfinished(i64::MAX)
            .await
            .expect("recovery runs"),
        1
    );
}
