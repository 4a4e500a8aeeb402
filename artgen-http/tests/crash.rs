//! `kill -9` in the middle of a load: every answered request keeps its usage row, every other
//! request that reached the upstream is settled or counted at its estimate, and the next start
//! on the same data folder is clean.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sqlx::{Connection as _, SqliteConnection};

/// Concurrent requests in the load.
const REQUESTS: usize = 40;

fn artgen(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_artgen"));
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove("ARTGEN_CONFIG")
        .env("ARTGEN_DATA_DIR", data_dir)
        .env("ARTGEN_LOG_FORMAT", "json");
    cmd
}

/// A running `artgen serve` and its stdout lines.
struct Server {
    child: Child,
    stdout: mpsc::Receiver<String>,
    address: String,
}

impl Server {
    fn start(data_dir: &Path, config: &Path) -> Self {
        let mut child = artgen(data_dir)
            .args(["serve", "--bind", "127.0.0.1:0", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            stdout,
            address: String::new(),
        };
        let listening = server.wait_for("artgen listening");
        let line = listening.last().expect("listening line");
        let json: serde_json::Value = serde_json::from_str(line).expect("json log line");
        server.address = json["bind"].as_str().expect("bind field").to_owned();
        server
    }

    /// Stdout lines up to and including the first one containing `needle`.
    fn wait_for(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .stdout
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {needle:?} within 30 s; saw {seen:#?}"));
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    fn kill_9(&mut self) {
        // `Child::kill` is SIGKILL on Unix: no handler runs, nothing is flushed.
        self.child.kill().expect("killed");
        self.child.wait().expect("reaped");
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn create_key(data_dir: &Path) -> String {
    let output = artgen(data_dir)
        .args(["keys", "create", "--user", "lisa"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    stdout
        .lines()
        .last()
        .expect("key printed")
        .trim()
        .to_owned()
}

/// Each usage row: request id → (status, cost, estimated cost).
async fn usage_rows(db: &Path) -> HashMap<String, (String, i64, i64)> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("database opens");
    let rows: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT request_id, status, cost_micros, estimated_cost_micros FROM usage")
            .fetch_all(&mut conn)
            .await
            .expect("usage reads");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity check runs");
    assert_eq!(integrity, "ok");
    conn.close().await.expect("closes");
    rows.into_iter()
        .map(|(id, status, cost, estimate)| (id, (status, cost, estimate)))
        .collect()
}

/// What the usage journal beside `db` holds: the requests in flight (started, neither
/// finished nor discarded) and those answered whose finish may not be a row yet (request id →
/// status).
fn journal(db: &Path) -> (Vec<String>, HashMap<String, String>) {
    let mut name = db.as_os_str().to_owned();
    name.push("-started.jsonl");
    let text = std::fs::read_to_string(Path::new(&name)).unwrap_or_default();
    let (mut started, mut finished) = (Vec::new(), HashMap::new());
    for line in text.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a whole line");
        match entry["op"].as_str() {
            Some("start") => {
                let id = entry["record"]["request_id"].as_str().expect("an id");
                started.push(id.to_owned());
            }
            Some("finish") => {
                let id = entry["record"]["request_id"].as_str().expect("an id");
                let status = entry["record"]["status"].as_str().expect("a status");
                started.retain(|s| s != id);
                finished.insert(id.to_owned(), status.to_owned());
            }
            Some("discard") => {
                let id = entry["request_id"].as_str().expect("an id");
                started.retain(|s| s != id);
            }
            other => panic!("unexpected journal line {other:?}"),
        }
    }
    (started, finished)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_mid_load_loses_no_answered_row_and_counts_the_unanswered_at_their_estimate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("artgen.toml");
    std::fs::write(
        &config,
        "[mock]\nlatency_ms = 400\n[rate_limit]\nper_minute = 6000\nburst = 1000\n",
    )
    .expect("config written");
    let key = create_key(&data);
    let mut server = Server::start(&data, &config);

    let client = reqwest::Client::new();
    let url = format!("http://{}/generate", server.address);
    let (done, mut results) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..REQUESTS {
        let request = client
            .post(&url)
            .bearer_auth(&key)
            .json(&serde_json::json!({
                "model": "dall-e-2", "prompt": format!("lighthouse {i}"), "size": "256x256"
            }))
            .send();
        let done = done.clone();
        tokio::spawn(async move {
            let answer = async {
                let response = request.await.ok()?;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.ok()?;
                Some((status, body["id"].as_str()?.to_owned()))
            };
            let _ = done.send(answer.await);
        });
    }
    drop(done);
    // Eight calls run at a time, 400 ms each: kill once the first few are answered.
    let mut answered = Vec::new();
    while answered.len() < 4 {
        let result = tokio::time::timeout(Duration::from_secs(30), results.recv())
            .await
            .expect("answers within 30 s")
            .expect("a result");
        let (status, id) = result.expect("answered before the kill");
        assert_eq!(status, 200, "{id}");
        answered.push(id);
    }
    server.kill_9();
    while let Some(result) = results.recv().await {
        if let Some((status, id)) = result {
            assert_eq!(status, 200, "{id}");
            answered.push(id);
        }
    }
    assert!(
        !answered.is_empty() && answered.len() < REQUESTS,
        "the kill landed mid-load: {} of {REQUESTS} answered",
        answered.len()
    );

    // Dead: every answered request has its row, or its finish in the journal beside the
    // database (written before its answer left, applied by the next start).
    let db = data.join("artgen.db");
    let before = usage_rows(&db).await;
    let (started, finished) = journal(&db);
    for id in &answered {
        let status = before
            .get(id)
            .map(|row| row.0.as_str())
            .or_else(|| finished.get(id).map(String::as_str))
            .unwrap_or_else(|| panic!("answered {id} has neither a row nor a journaled finish"));
        assert_eq!(status, "succeeded", "{id}");
    }
    // In flight: a start in the journal without a row yet.
    let journaled: Vec<String> = started
        .into_iter()
        .filter(|id| !before.contains_key(id))
        .collect();
    assert!(
        before.values().all(|r| r.0 != "started"),
        "on the defaults no start is a table row: {before:?}"
    );
    let in_flight = journaled.len();
    assert!(
        in_flight > 0,
        "requests were in flight at the kill: {before:?}"
    );
    let mut expected: std::collections::HashSet<&String> = before.keys().collect();
    expected.extend(finished.keys());
    expected.extend(&journaled);

    // Restart on the same folder: the journaled finishes are applied, the interrupted rows
    // counted at their estimate.
    let mut again = Server::start(&data, &config);
    let after = usage_rows(&db).await;
    assert_eq!(
        after.len(),
        expected.len(),
        "no row lost; the journal's starts and finishes are rows now"
    );
    for id in &answered {
        assert_eq!(
            after.get(id).map(|row| row.0.as_str()),
            Some("succeeded"),
            "{id} was answered"
        );
    }
    for id in &journaled {
        assert!(
            after.contains_key(id),
            "{id} was recovered from the journal"
        );
    }
    for (id, (status, cost, estimate)) in &after {
        match status.as_str() {
            "succeeded" => assert!(*cost > 0, "{id}"),
            "unknown" => assert_eq!(cost, estimate, "{id} is counted at its estimate"),
            other => panic!("{id} is {other} after the restart"),
        }
    }
    assert_eq!(
        after.values().filter(|r| r.0 == "unknown").count(),
        in_flight
    );

    // And it serves cleanly.
    let response = client
        .post(format!("http://{}/generate", again.address))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "dall-e-2", "prompt": "after", "size": "256x256"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert!(again.terminate().success(), "exits cleanly");
    let spool = std::fs::read_to_string(data.join("artgen.db-spool.jsonl")).unwrap_or_default();
    assert!(spool.is_empty(), "nothing left spooled: {spool}");
    assert_eq!(usage_rows(&db).await.len(), after.len() + 1);
}
