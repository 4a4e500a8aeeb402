//! Three `artgen serve` replicas sharing one Postgres, one Redis and one object store: one
//! user's rate limit holds across them, the usage rows equal the admitted requests exactly,
//! and an image stored through one replica is served by another.
//!
//! Needs `ARTGEN_TEST_DATABASE_URL`, `ARTGEN_TEST_REDIS_URL` and `ARTGEN_TEST_S3_URL` (with the
//! `AWS_*` variables of that server), as `.ci/run` sets them; without any of them it says so
//! and skips. Each run uses its own database, key prefix and bucket prefix.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection};

/// The shared limit: 5 units at once, then 6 a minute.
const BURST: u64 = 5;
const PER_MINUTE: u64 = 6;
/// Requests sent at once, spread over the replicas.
const REQUESTS: usize = 30;

struct Env {
    database_url: String,
    redis_url: String,
    s3_url: String,
}

fn env_or_skip() -> Option<Env> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("ARTGEN_TEST_DATABASE_URL"),
        var("ARTGEN_TEST_REDIS_URL"),
        var("ARTGEN_TEST_S3_URL"),
    ) {
        (Some(database_url), Some(redis_url), Some(s3_url)) => Some(Env {
            database_url,
            redis_url,
            s3_url,
        }),
        _ => {
            eprintln!(
                "skipped: the scale-out test needs ARTGEN_TEST_DATABASE_URL, \
                 ARTGEN_TEST_REDIS_URL and ARTGEN_TEST_S3_URL (.ci/run sets all three)"
            );
            None
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).expect("ARTGEN_TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// A fresh database on the test server, dropped when this is.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(admin_url: &str) -> Self {
        let name = format!("artgen_scale_{:016x}", rand::random::<u64>());
        let mut conn = PgConnection::connect(admin_url)
            .await
            .expect("ARTGEN_TEST_DATABASE_URL is set but Postgres cannot be reached");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("creates the test database");
        Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    async fn drop_it(self) {
        if let Ok(mut conn) = PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

fn artgen(data_dir: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_artgen"));
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove("ARTGEN_DATABASE_URL")
        .env_remove("ARTGEN_REDIS_URL")
        .env_remove("ARTGEN_IMAGES_URL")
        .env("ARTGEN_CONFIG", config)
        .env("ARTGEN_DATA_DIR", data_dir)
        .env("ARTGEN_LOG_FORMAT", "json");
    cmd
}

/// A running replica.
struct Replica {
    child: Child,
    address: String,
}

impl Replica {
    fn start(data_dir: &Path, config: &Path) -> Self {
        let mut child = artgen(data_dir, config)
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
        // Keep draining stdout so the replica never blocks on a full pipe; its errors go
        // to the test's output, where a failure shows what went wrong inside.
        std::thread::spawn(move || {
            while let Ok(line) = rx.recv() {
                if line.contains("\"level\":\"ERROR\"") {
                    eprintln!("replica: {line}");
                }
            }
        });
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
async fn three_replicas_share_one_limit_one_ledger_and_one_image_store() {
    let Some(env) = env_or_skip() else {
        return;
    };
    let database = Database::create(&env.database_url).await;
    let run = format!("{:08x}", rand::random::<u32>());
    let root = tempfile::tempdir().expect("temp dir");
    let config = root.path().join("artgen.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{db}\"\nredis_url = \"{redis}\"\nredis_key_prefix = \
             \"artgen-scale-{run}:\"\nimages_url = \"{s3}/scale-{run}\"\n\n[rate_limit]\n\
             per_minute = {PER_MINUTE}\nburst = {BURST}\n",
            db = database.url,
            redis = env.redis_url,
            s3 = env.s3_url.trim_end_matches('/'),
        ),
    )
    .expect("config written");

    // The first replica migrates the database and makes the link-signing secret, which the
    // others are given (replicas must share it, as they share the database).
    let dirs: Vec<_> = (0..3)
        .map(|i| root.path().join(format!("replica-{i}")))
        .collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).expect("data dir");
    }
    let first = Replica::start(&dirs[0], &config);
    for dir in &dirs[1..] {
        std::fs::copy(dirs[0].join("signing.key"), dir.join("signing.key")).expect("copied");
    }
    let replicas = [
        first,
        Replica::start(&dirs[1], &config),
        Replica::start(&dirs[2], &config),
    ];

    let output = artgen(&dirs[0], &config)
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

    // One burst of one user's requests, spread over the three replicas.
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..REQUESTS {
        let url = format!("http://{}/generate", replicas[i % 3].address);
        let request = client
            .post(url)
            .bearer_auth(&key)
            .json(&serde_json::json!({
                "prompt": format!("a lighthouse, take {i}"),
                "model": "gpt-image-1",
                "size": "1024x1024",
                "quality": "low",
                "response_format": "url",
            }))
            .send();
        calls.push(tokio::spawn(request));
    }
    let mut admitted = Vec::new();
    let mut refused = 0;
    for call in calls {
        let response = call.await.expect("joins").expect("answered");
        match response.status().as_u16() {
            200 => admitted.push(response.json::<serde_json::Value>().await.expect("json")),
            429 => refused += 1,
            other => panic!(
                "unexpected status {other}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    let elapsed = started.elapsed();

    // The limit held across the replicas: never more than burst + rate × elapsed.
    let allowance = BURST + (PER_MINUTE as f64 * elapsed.as_secs_f64() / 60.0).ceil() as u64;
    assert!(!admitted.is_empty(), "the burst admits some requests");
    assert!(
        admitted.len() as u64 <= allowance,
        "{} admitted over three replicas in {elapsed:?}; the shared limit allows {allowance}",
        admitted.len()
    );
    assert_eq!(admitted.len() + refused, REQUESTS);

    // The ledger holds exactly the admitted requests, once each.
    let mut conn = PgConnection::connect(&database.url)
        .await
        .expect("test database");
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT request_id, status FROM usage WHERE user_id = 'lisa'")
                .fetch_all(&mut conn)
                .await
                .expect("usage rows");
        if rows.len() >= admitted.len() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut ids: Vec<_> = rows.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        rows.len(),
        admitted.len(),
        "one usage row per admitted request: {rows:?}"
    );
    assert_eq!(ids.len(), rows.len(), "no request counted twice");
    assert!(
        rows.iter().all(|(_, status)| status == "succeeded"),
        "every admitted request settled: {rows:?}"
    );

    // Every image stored through one replica is served by the next one.
    for (i, answer) in admitted.iter().enumerate() {
        let link = answer["images"][0]["url"].as_str().expect("a signed link");
        let mut url = reqwest::Url::parse(link).expect("absolute link");
        let other: reqwest::Url = format!("http://{}", replicas[(i + 1) % 3].address)
            .parse()
            .expect("address");
        url.set_host(other.host_str()).expect("host");
        url.set_port(other.port()).expect("port");
        let image = client.get(url.clone()).send().await.expect("served");
        assert_eq!(image.status(), 200, "{url} from another replica");
        let bytes = image.bytes().await.expect("body");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG from the shared store");
    }

    drop(conn);
    drop(replicas);
    database.drop_it().await;
}
