//! Usage accounting when the database will not write: the answer still leaves only with its
//! usage kept, the row arrives once the database takes it, the log names the cause; requests
//! refused locally write nothing.

use std::time::{Duration, Instant};

use artgen_core::domain::{UsageQuery, UsageStatus};
use artgen_core::ports::UsageStore;
use artgen_tests::{logs, spawn_app, TestApp, TestOptions, Upstream};
use sqlx::pool::PoolConnection;
use sqlx::Sqlite;

use crate::helpers::{assert_error, body, json_of};

/// Holds SQLite's write lock on the app's database, as a long write elsewhere would.
async fn lock(app: &TestApp) -> PoolConnection<Sqlite> {
    let mut conn = app.store.pool().acquire().await.expect("a connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .expect("write lock taken");
    conn
}

async fn unlock(mut conn: PoolConnection<Sqlite>) {
    sqlx::query("ROLLBACK")
        .execute(&mut *conn)
        .await
        .expect("lock released");
}

fn patient_for_100_ms(settings: &mut artgen_http::settings::Settings) {
    settings.database.lock_wait_ms = 100;
    settings.database.write_attempts = 2;
}

#[tokio::test]
async fn a_request_against_a_write_locked_database_is_answered_and_its_row_arrives_later() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        tweak: patient_for_100_ms,
        ..TestOptions::default()
    })
    .await;
    let locker = lock(&app).await;

    let started = Instant::now();
    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "spooled after two short attempts: {:?}",
        started.elapsed()
    );
    let id = json_of(response).await["id"]
        .as_str()
        .expect("request id")
        .to_owned();
    let rows = app.store.list(&UsageQuery::default()).await.expect("rows");
    assert!(rows.is_empty(), "the database has not taken it yet");
    assert_eq!(
        app.store.spooled_writes(),
        1,
        "the finish, spooled (the start went to the journal, in the room its finish holds)"
    );
    let log = logs::captured();
    let refused = log
        .lines()
        .find(|l| l.contains("the database refuses usage writes"))
        .expect("the refusal is logged");
    assert!(
        refused.contains("SQLITE_BUSY") && refused.contains("database is locked"),
        "the log names the cause: {refused}"
    );

    unlock(locker).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rows = Vec::new();
    while Instant::now() < deadline {
        rows = app.store.list(&UsageQuery::default()).await.expect("rows");
        // The spool is emptied just after the commit that applied it: wait for both.
        if !rows.is_empty() && app.store.spooled_writes() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 1, "the spooled row arrived");
    assert_eq!(rows[0].request_id.as_str(), id);
    assert_eq!(rows[0].status, UsageStatus::Succeeded);
    assert_eq!(app.store.spooled_writes(), 0);
}

#[tokio::test]
async fn a_request_whose_usage_cannot_be_kept_is_refused_before_the_upstream() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        tweak: |s| {
            patient_for_100_ms(s);
            s.database.spool_max_records = 0;
        },
        ..TestOptions::default()
    })
    .await;
    let locker = lock(&app).await;

    let response = app
        .generate(Some(&app.user_key), &body("dall-e-2", "256x256"))
        .await;

    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert_error(&json_of(response).await, "storage_unavailable", None);
    assert_eq!(app.upstream_calls().await, 0, "nothing was spent");
    unlock(locker).await;
    let rows = app.store.list(&UsageQuery::default()).await.expect("rows");
    assert!(rows.is_empty());
}

#[tokio::test]
async fn a_request_refused_by_a_full_upstream_queue_writes_no_usage_row() {
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        mock_latency: Duration::from_millis(800),
        tweak: |s| {
            s.concurrency.max_in_flight = 1;
            s.concurrency.max_queue = 0;
        },
        ..TestOptions::default()
    })
    .await;
    let request = body("dall-e-2", "256x256");
    let slow = {
        let (client, key) = (app.client.clone(), app.user_key.clone());
        let (url, request) = (format!("{}/generate", app.address), request.clone());
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&request)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let busy = app.generate(Some(&app.user_key), &request).await;

    assert_eq!(busy.status(), 503);
    assert_error(&json_of(busy).await, "upstream_busy", None);
    let slow = slow.await.expect("task").expect("answered");
    assert_eq!(slow.status(), 200);
    let rows = app.store.list(&UsageQuery::default()).await.expect("rows");
    assert_eq!(
        rows.len(),
        1,
        "only the call that reached the upstream: {rows:?}"
    );
    assert_eq!(rows[0].status, UsageStatus::Succeeded);
}
