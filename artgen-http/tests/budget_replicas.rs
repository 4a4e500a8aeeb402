//! Three `artgen serve` replicas on one fresh Postgres database, one user, a monthly budget
//! that fits 100 requests of the mock model, and 1,000 requests at once spread over the
//! replicas: at most 100 are admitted, the rest are refused with `budget_exceeded` before any
//! upstream call, and the usage rows stay within the budget.
//!
//! Needs `ARTGEN_TEST_DATABASE_URL` (`.ci/run` sets it); without it the test says so and
//! skips.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection};

/// Requests sent at once, spread over the replicas.
const REQUESTS: usize = 1_000;
/// Requests the budget fits.
const FITS: u64 = 100;
/// The mock model's estimate of one request: dall-e-2 at 256x256, $0.016.
const ESTIMATE_MICROS: u64 = 16_000;

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).expect("ARTGEN_TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

fn artgen(data_dir: &Path, database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_artgen"));
    let budget = format!("{}", (FITS * ESTIMATE_MICROS) as f64 / 1_000_000.0);
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove("ARTGEN_CONFIG")
        .env_remove("ARTGEN_REDIS_URL")
        .env_remove("ARTGEN_IMAGES_URL")
        .env("ARTGEN_DATABASE_URL", database_url)
        .env("ARTGEN_DATA_DIR", data_dir)
        .env("ARTGEN_LOG_FORMAT", "json")
        .env("ARTGEN_BUDGET_USD_PER_MONTH", budget)
        // The rate limit stays out of the way: only the budget refuses.
        .env("ARTGEN_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("ARTGEN_RATE_LIMIT_BURST", "1000000");
    cmd
}

/// A running replica.
struct Replica {
    child: Child,
    address: String,
}

impl Replica {
    fn start(data_dir: &Path, database_url: &str) -> Self {
        let mut child = artgen(data_dir, database_url)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let address = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("replica did not start within 60 s; saw {seen:#?}"));
            if line.contains("artgen listening") {
                let json: serde_json::Value = serde_json::from_str(&line).expect("json log line");
                break json["bind"].as_str().expect("bind field").to_owned();
            }
            seen.push(line);
        };
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Self { child, address }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_over_three_replicas_never_overspend_a_budget_of_a_hundred() {
    let Some(admin_url) = std::env::var("ARTGEN_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("skipped: set ARTGEN_TEST_DATABASE_URL (.ci/run does) to run the budget test");
        return;
    };
    let name = format!("artgen_budget_{:016x}", rand::random::<u64>());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("ARTGEN_TEST_DATABASE_URL is set but Postgres cannot be reached");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("creates the test database");
    let database_url = with_database(&admin_url, &name);

    let root = tempfile::tempdir().expect("temp dir");
    let dirs: Vec<_> = (0..3)
        .map(|i| root.path().join(format!("replica-{i}")))
        .collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).expect("data dir");
    }
    // The first replica migrates the database; the others start on the migrated schema.
    let first = Replica::start(&dirs[0], &database_url);
    let replicas = [
        first,
        Replica::start(&dirs[1], &database_url),
        Replica::start(&dirs[2], &database_url),
    ];
    let output = artgen(&dirs[0], &database_url)
        .args(["keys", "create", "--user", "lisa"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let key = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .last()
        .expect("key printed")
        .trim()
        .to_owned();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let started = Instant::now();
    let mut calls = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let url = format!("http://{}/generate", replicas[i % 3].address);
        let request = client
            .post(url)
            .bearer_auth(&key)
            .json(&serde_json::json!({
                "prompt": format!("a kite, take {i}"),
                "model": "dall-e-2",
                "size": "256x256",
                "response_format": "url",
            }))
            .send();
        calls.push(tokio::spawn(request));
    }
    let (mut admitted, mut over_budget, mut unavailable) = (0_u64, 0_u64, 0_u64);
    let mut remaining = Vec::new();
    for call in calls {
        let response = call.await.expect("joins").expect("answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        match status {
            200 => {
                admitted += 1;
                let left = headers
                    .get("x-artgen-budget-remaining-usd")
                    .and_then(|v| v.to_str().ok())
                    .expect("an answer under a money limit says what remains")
                    .to_owned();
                remaining.push(left);
            }
            429 => {
                assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
                assert_eq!(body["error"]["type"], "insufficient_quota", "{body}");
                assert_eq!(
                    headers.get("x-should-retry").and_then(|v| v.to_str().ok()),
                    Some("false")
                );
                assert_eq!(body["error"]["limit_usd"], 1.6, "{body}");
                over_budget += 1;
            }
            // A database too busy to answer in time refuses before spending, too.
            503 => {
                assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
                unavailable += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{admitted} admitted, {over_budget} over budget, {unavailable} unavailable in {elapsed:?}"
    );

    assert!(
        admitted <= FITS,
        "{admitted} admitted; the budget fits {FITS}"
    );
    assert!(
        admitted >= FITS / 2,
        "the budget is used, not refused wholesale: {admitted} admitted"
    );
    assert_eq!(admitted + over_budget + unavailable, REQUESTS as u64);
    assert!(remaining.iter().any(|r| r == "0.000000") || admitted < FITS);

    let mut conn = PgConnection::connect(&database_url)
        .await
        .expect("test database");
    // Finishes a busy database could not take at once wait in a replica's spool and land
    // within a few seconds; until then their holds stand in for them.
    let deadline = Instant::now() + Duration::from_secs(15);
    let holds = loop {
        let (holds,): (i64,) = sqlx::query_as("SELECT count(*) FROM budget_reservations")
            .fetch_one(&mut conn)
            .await
            .expect("holds");
        if holds == 0 || Instant::now() > deadline {
            break holds;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (rows, cost): (i64, i64) = sqlx::query_as(
        "SELECT count(*), CAST(COALESCE(sum(cost_micros), 0) AS BIGINT) FROM usage \
         WHERE user_id = 'lisa' AND status = 'succeeded'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("usage rows");
    assert_eq!(
        rows as u64, admitted,
        "a settled usage row for each admitted request only"
    );
    assert!(
        cost as u64 <= FITS * ESTIMATE_MICROS,
        "spent {cost} µ$ of {} µ$",
        FITS * ESTIMATE_MICROS
    );
    assert_eq!(holds, 0, "every hold was settled or released");

    drop(conn);
    drop(replicas);
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
}
