//! The `artgen` binary as an operator meets it: key creation, first start, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn artgen(data_dir: &Path) -> Command {
    command(env!("CARGO_BIN_EXE_artgen"), data_dir)
}

/// `program` with the environment every test gives `artgen` (a wrapper such as `prlimit`
/// passes it on).
fn command(program: &str, data_dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove("ARTGEN_CONFIG")
        .env("ARTGEN_DATA_DIR", data_dir)
        .env("ARTGEN_LOG_FORMAT", "json");
    cmd
}

fn is_key(line: &str) -> bool {
    artgen_core::domain::ApiKey::parse(line.trim()).is_some()
}

#[test]
fn keys_create_prints_the_key_alone_on_the_last_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = artgen(dir.path())
        .args(["keys", "create", "--user", "lisa"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let last = stdout.lines().last().expect("some output");
    assert!(is_key(last), "last line is not a key: {last:?}");
}

/// A running `artgen serve` whose stdout and stderr lines arrive on channels.
struct Server {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

/// Sends every line `from` produces into a channel, until its end.
fn lines_of(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Lines from `lines` up to and including the first one that satisfies `found`.
fn wait_line(lines: &mpsc::Receiver<String>, found: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the wanted line did not come within 30 s; saw {seen:#?}"));
        let done = found(&line);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

/// Every line left in `lines` until the process closes the stream.
fn rest(lines: &mpsc::Receiver<String>) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return seen,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("stream still open; saw {seen:#?}"),
        }
    }
}

impl Server {
    fn start(data_dir: &Path, config: &Path) -> Self {
        Self::spawn(artgen(data_dir), config)
    }

    /// Runs `serve` with `command`, which is `artgen` or a wrapper about to run it.
    fn spawn(mut command: Command, config: &Path) -> Self {
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Stdout lines up to and including the first one containing `needle`.
    fn wait_for(&self, needle: &str) -> Vec<String> {
        wait_line(&self.stdout, |line| line.contains(needle))
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

impl Server {
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not exit within 15 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn bound_address(lines: &[String]) -> String {
    let listening = lines
        .iter()
        .find(|l| l.contains("artgen listening"))
        .expect("listening line");
    let json: serde_json::Value = serde_json::from_str(listening).expect("json log line");
    json["bind"].as_str().expect("bind field").to_owned()
}

/// Asserts that every line is a JSON object, as a log collector reading stdout expects.
fn assert_json_lines(lines: &[String]) {
    for line in lines {
        let parsed: Result<serde_json::Map<String, serde_json::Value>, _> =
            serde_json::from_str(line);
        assert!(parsed.is_ok(), "stdout line is not a JSON object: {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_shows_an_admin_key_once_on_stderr_and_drains_in_flight_requests_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("artgen.toml");
    std::fs::write(&config, "[mock]\nlatency_ms = 1500\n").expect("config written");

    let mut server = Server::start(&dir.path().join("data"), &config);
    let mut stdout = server.wait_for("artgen listening");
    assert!(
        stdout.iter().any(|l| l.contains("MOCK provider")),
        "the mock is announced: {stdout:#?}"
    );
    let banner = wait_line(&server.stderr, is_key);
    let key = banner.last().expect("key line").trim().to_owned();
    assert!(
        banner.iter().any(|l| l.contains("shown only once")),
        "{banner:#?}"
    );
    let address = bound_address(&stdout);

    // A request in flight when SIGTERM arrives still completes.
    let client = reqwest::Client::new();
    let request = client
        .post(format!("http://{address}/generate"))
        .bearer_auth(&key)
        .json(
            &serde_json::json!({"model": "dall-e-2", "prompt": "a lighthouse", "size": "256x256"}),
        )
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate();
    let response = in_flight.await.expect("task").expect("answered");
    assert_eq!(response.status(), 200);
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status:?}");

    // Stdout stays pure JSON lines, without the key; the key is not on disk either.
    stdout.extend(rest(&server.stdout));
    assert_json_lines(&stdout);
    assert!(!stdout.iter().any(|l| l.contains(&key)), "{stdout:#?}");
    assert!(!dir.path().join("data").join("admin-key.txt").exists());

    // A second start on the same data shows no new key.
    let mut again = Server::start(&dir.path().join("data"), &config);
    let mut stdout = again.wait_for("artgen listening");
    again.terminate();
    assert!(again.wait_exit().success());
    stdout.extend(rest(&again.stdout));
    assert_json_lines(&stdout);
    let stderr = rest(&again.stderr);
    assert!(
        !stderr.iter().chain(&stdout).any(|l| is_key(l)),
        "no second admin key: {stderr:#?}"
    );
}

#[test]
fn config_prints_the_effective_settings_without_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("artgen.toml");
    std::fs::write(&config, "[rate_limit]\nper_minute = 7\nburst = 3\n").expect("config written");
    let output = artgen(dir.path())
        .env("OPENAI_API_KEY", "sk-live-super-secret-value")
        .env("ARTGEN_RATE_LIMIT_BURST", "4")
        .arg("--config")
        .arg(&config)
        .arg("config")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(!stdout.contains("super-secret"), "{stdout}");
    assert!(stdout.contains("[redacted]"));
    assert!(stdout.contains("per_minute = 7"), "file applied: {stdout}");
    assert!(
        stdout.contains("burst = 4"),
        "environment wins over the file: {stdout}"
    );
}

#[test]
fn nested_settings_come_from_the_environment_and_other_artgen_variables_are_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = artgen(dir.path())
        .env("ARTGEN_RATE_LIMIT__PER_MINUTE", "9")
        .env("ARTGEN_OPENAI__TIMEOUT_SECS", "45")
        .env("ARTGEN_DATABASE__DURABILITY", "power_loss")
        .env("ARTGEN_TEST_SOMETHING", "not a setting")
        .arg("config")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(stdout.contains("per_minute = 9"), "{stdout}");
    assert!(stdout.contains("timeout_secs = 45"), "{stdout}");
    assert!(stdout.contains("durability = \"power_loss\""), "{stdout}");
}

#[test]
fn an_invalid_variable_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = artgen(dir.path())
        .env("ARTGEN_OPENAI__TIMEOUT_SECS", "soon")
        .arg("config")
        .output()
        .expect("runs");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: ARTGEN_OPENAI__TIMEOUT_SECS=\"soon\": "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// The permission bits of `path`, in octal.
#[cfg(unix)]
fn mode(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", metadata.permissions().mode() & 0o7777)
}

/// Every folder and every file below `dir` (`dir` included among the folders).
#[cfg(unix)]
fn tree(dir: &Path) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let (mut folders, mut files) = (vec![dir.to_owned()], Vec::new());
    for entry in std::fs::read_dir(dir).expect("folder readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            let (more_folders, more_files) = tree(&path);
            folders.extend(more_folders);
            files.extend(more_files);
        } else {
            files.push(path);
        }
    }
    (folders, files)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_data_folder_and_everything_artgen_keeps_in_it_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("artgen.toml");
    // Every image a file of its own, to check its mode (small ones are rows by default).
    std::fs::write(&config, "images_inline_max_bytes = 0\n").expect("config written");

    // A command creates the data folder and the database.
    let output = artgen(&data)
        .args(["keys", "create", "--user", "lisa"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let key = stdout
        .lines()
        .last()
        .expect("key printed")
        .trim()
        .to_owned();
    assert_eq!(mode(&data), "700", "data folder");
    assert_eq!(mode(&data.join("artgen.db")), "600", "database");

    // A signing secret left world-readable (as older versions could) is narrowed, not replaced.
    let signing = data.join("signing.key");
    std::fs::write(&signing, [7u8; 32]).expect("secret written");
    std::fs::set_permissions(&signing, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let mut server = Server::start(&data, &config);
    let address = bound_address(&server.wait_for("artgen listening"));
    let response = reqwest::Client::new()
        .post(format!("http://{address}/generate"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"model": "dall-e-2", "prompt": "a key", "size": "256x256"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);

    assert_eq!(mode(&signing), "600", "signing secret");
    assert_eq!(std::fs::read(&signing).expect("readable"), [7u8; 32]);
    for name in ["artgen.db", "artgen.db-wal", "artgen.db-shm"] {
        assert_eq!(mode(&data.join(name)), "600", "{name}");
    }
    let (folders, files) = tree(&data.join("images"));
    assert_eq!(files.len(), 1, "one file per image, its blob: {files:?}");
    for folder in folders {
        assert_eq!(mode(&folder), "700", "{}", folder.display());
    }
    for file in files {
        assert_eq!(mode(&file), "600", "{}", file.display());
    }
    server.terminate();
    assert!(server.wait_exit().success());
}

#[test]
fn version_names_the_command_not_the_crate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = artgen(dir.path()).arg("--version").output().expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(stdout, format!("artgen {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_opens_with_what_artgen_is_and_names_the_subcommands() {
    let dir = tempfile::tempdir().expect("temp dir");
    for flag in ["-h", "--help"] {
        let output = artgen(dir.path()).arg(flag).output().expect("runs");
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).expect("utf-8");
        let first = stdout.lines().next().expect("some help");
        assert!(
            first.starts_with("ArtGen: a gateway in front of OpenAI's Image API"),
            "{flag}: {first:?}"
        );
        assert!(
            !stdout.contains("HTTP adapter"),
            "not the crate description: {stdout}"
        );
        for command in ["serve", "keys", "models", "config"] {
            assert!(stdout.contains(command), "{flag} names {command}: {stdout}");
        }
    }
}

/// Runs `artgen` with `RUST_BACKTRACE=1`, returning the exit code and stderr.
fn failing(data_dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = artgen(data_dir)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .args(args)
        .output()
        .expect("runs");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    (output.status.code(), stderr)
}

#[test]
fn a_user_error_is_one_line_on_stderr_and_exits_2_even_with_rust_backtrace_set() {
    let dir = tempfile::tempdir().expect("temp dir");

    let (code, stderr) = failing(dir.path(), &["keys", "revoke", "ag_live_Ab12Cd34"]);

    assert_eq!(stderr, "error: no active key with id ag_live_Ab12Cd34\n");
    assert_eq!(code, Some(2));
}

#[test]
fn a_bad_config_file_is_a_one_line_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("artgen.toml");
    std::fs::write(&config, "bind = \"127.0.0.1:1\"\nbnid = \"x\"\n").expect("config written");
    let config = config.to_str().expect("utf-8 path");
    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().expect("utf-8 path");

    for (args, expected) in [
        (
            ["--config", config, "config"],
            "line 2, column 1: unknown field `bnid`",
        ),
        (["--config", missing, "config"], "cannot read config file"),
    ] {
        let (code, stderr) = failing(dir.path(), &args);

        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{stderr}"
        );
        assert_eq!(code, Some(2), "{stderr}");
    }
}

#[test]
fn a_failure_that_is_not_the_users_is_one_line_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "").expect("file written");

    let (code, stderr) = failing(&not_a_folder, &["keys", "list"]);

    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: data folder "), "{stderr}");
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");
    assert_eq!(code, Some(1), "{stderr}");
}

/// Creates a key for `user` with `artgen keys create`, returning the whole key.
fn create_key(data_dir: &Path, user: &str) -> String {
    let output = artgen(data_dir)
        .args(["keys", "create", "--user", user])
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

/// Runs `artgen` and returns (exit code, stdout, stderr).
fn run(data_dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = artgen(data_dir)
        .env("RUST_BACKTRACE", "1")
        .args(args)
        .output()
        .expect("runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    (output.status.code(), stdout, stderr)
}

/// What `artgen keys list` says about the key with this public id.
fn listed_state(data_dir: &Path, public_id: &str) -> String {
    let (code, stdout, _) = run(data_dir, &["keys", "list"]);
    assert_eq!(code, Some(0));
    let line = stdout
        .lines()
        .find(|l| l.starts_with(public_id))
        .unwrap_or_else(|| panic!("{public_id} listed: {stdout}"));
    line.rsplit(' ').next().expect("a state").to_owned()
}

#[test]
fn keys_revoke_accepts_the_whole_key_and_never_prints_it_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = create_key(dir.path(), "lisa");
    let public_id = &key[.."ag_live_".len() + 8];

    let (code, stdout, stderr) = run(dir.path(), &["keys", "revoke", &key]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("Revoked key {public_id}.\n"));
    assert!(!stderr.contains(&key), "{stderr}");
    assert_eq!(listed_state(dir.path(), public_id), "revoked");

    // Again: the error names the public id, never the secret.
    let (code, stdout, stderr) = run(dir.path(), &["keys", "revoke", &key]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!("error: no active key with id {public_id}\n")
    );
    assert!(!stdout.contains(&key), "{stdout}");
}

#[test]
fn keys_revoke_accepts_the_public_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = create_key(dir.path(), "lisa");
    let public_id = &key[.."ag_live_".len() + 8];

    let (code, stdout, stderr) = run(dir.path(), &["keys", "revoke", public_id]);

    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("Revoked key {public_id}.\n"));
    assert_eq!(listed_state(dir.path(), public_id), "revoked");
}

#[test]
fn a_mistyped_or_misplaced_key_is_refused_without_printing_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = create_key(dir.path(), "lisa");
    let public_id = &key[.."ag_live_".len() + 8];
    let mut typo = key.clone();
    let last = typo.pop().expect("non-empty");
    typo.push(if last == 'x' { 'y' } else { 'x' });
    let secret_part = &key[public_id.len()..key.len() - 1];

    // A wrong checksum: refused before any lookup, the key stays active.
    let (code, stdout, stderr) = run(dir.path(), &["keys", "revoke", &typo]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains(secret_part),
        "{stderr}"
    );
    assert_eq!(listed_state(dir.path(), public_id), "active");

    // A key where clap expected something else: clap's message quotes it, cut to its id.
    let (code, stdout, stderr) = run(dir.path(), &["keys", "create", &key]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{public_id}…")), "{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains(secret_part),
        "{stderr}"
    );
}

#[test]
fn config_redacts_credentials_in_every_url_it_prints() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("artgen.toml");
    std::fs::write(
        &config,
        "public_url = \"https://pubtoken@images.example.com/?key=pubkey\"\n\
         [providers.azure]\n\
         kind = \"azure\"\n\
         base_url = \"https://r.openai.azure.com/openai?api-version=2025-04-01&api-key=azkey&sig=azsig&token=aztoken\"\n\
         api_key_env = \"AZURE_OPENAI_API_KEY\"\n",
    )
    .expect("config written");

    let output = artgen(dir.path())
        .env(
            "OPENAI_BASE_URL",
            "http://proxyuser:hunter2@proxy.internal:8080/v1",
        )
        .arg("--config")
        .arg(&config)
        .arg("config")
        .output()
        .expect("runs");

    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    for secret in ["hunter2", "pubtoken", "pubkey", "azkey", "azsig", "aztoken"] {
        assert!(!stdout.contains(secret), "{secret} printed: {stdout}");
    }
    for kept in [
        "http://proxyuser:[redacted]@proxy.internal:8080/v1",
        "https://[redacted]@images.example.com/?key=[redacted]",
        "?api-version=2025-04-01&api-key=[redacted]&sig=[redacted]&token=[redacted]",
    ] {
        assert!(stdout.contains(kept), "{kept} missing: {stdout}");
    }
    let ttl = stdout.find("signed_url_ttl_secs").expect("ttl printed");
    let body = stdout.find("max_body_bytes").expect("body limit printed");
    assert!(ttl < body, "settings keep their declared order: {stdout}");
}

/// The row `artgen models` prints for `id`.
fn model_row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|line| line.starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("{id} is not listed:\n{table}"))
}

/// Runs `artgen models` (with `extra` arguments) on the mock provider, returning stdout.
fn models(data_dir: &Path, catalog: Option<&Path>, openai_key: bool, extra: &[&str]) -> String {
    let mut cmd = artgen(data_dir);
    cmd.arg("models")
        .args(extra)
        .env_remove("ARTGEN_CATALOG_FILE");
    if let Some(file) = catalog {
        cmd.env("ARTGEN_CATALOG_FILE", file);
    }
    if openai_key {
        cmd.env("OPENAI_API_KEY", "sk-test-never-called");
    }
    let output = cmd.output().expect("runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn models_lists_each_model_with_its_state_price_source_and_aliases() {
    let dir = tempfile::tempdir().expect("temp dir");

    let table = models(dir.path(), None, false, &[]);

    assert!(table.starts_with("MODEL "), "a header first: {table}");
    let flare = model_row(&table, "gpt-image-2.5-flare");
    for expected in [
        " active ",
        "per 1M tokens: text in $5, image in $8, image out $30, text out $0",
        "gateways' merged changes",
    ] {
        assert!(flare.contains(expected), "{expected}: {flare}");
    }
    let dall_e = model_row(&table, "dall-e-2");
    assert!(
        dall_e.contains("retired on 2026-05-12, served with a warning"),
        "the mock still serves DALL·E: {dall_e}"
    );
    assert!(
        dall_e.contains("per image: standard 256x256 $0.016"),
        "{dall_e}"
    );
    assert!(model_row(&table, "gpt-image-2.6-flare").contains("unpriced: refused"));
    assert!(
        !dir.path().join("artgen.db").exists(),
        "listing models opens no database"
    );
}

#[test]
fn models_shows_retired_models_refused_when_the_upstream_is_openais_own_api() {
    let dir = tempfile::tempdir().expect("temp dir");

    let table = models(dir.path(), None, true, &[]);

    let dall_e = model_row(&table, "dall-e-3");
    assert!(
        dall_e.contains("retired on 2026-05-12, refused"),
        "{dall_e}"
    );
    assert!(model_row(&table, "gpt-image-2").contains(" active "));
}

#[test]
fn models_applies_the_operators_catalogue_file_in_both_forms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let in_ten_days = i64::try_from(now).expect("fits") + 10 * 86_400;
    let retires = artgen_core::domain::Date::from_unix_secs(in_ten_days).to_string();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            "[aliases]\nhouse = \"house-style\"\n\n\
             [models.\"house-style\"]\nlike = \"gpt-image-2\"\n\
             description = \"Our house model.\"\nretired_on = \"{retires}\"\n\
             replacement = [\"gpt-image-2\"]\n\n\
             [models.\"gpt-image-2.6-flare\".price]\nkind = \"tokens\"\n\
             source = \"our contract\"\ntext_input_per_mtok = 4.0\n\
             image_input_per_mtok = 7.0\nimage_output_per_mtok = 25.0\n\n\
             [models.\"gpt-image-2.6-flare\".price.output_tokens]\n\"low:1024x1024\" = 200\n"
        ),
    )
    .expect("catalogue written");

    let table = models(dir.path(), Some(&catalog), false, &[]);
    let house = model_row(&table, "house-style");
    for expected in [
        format!("retiring on {retires}, served with a warning"),
        "image out $30".to_owned(),
        " house ".to_owned(),
    ] {
        assert!(house.contains(&expected), "{expected}: {house}");
    }
    let flare = model_row(&table, "gpt-image-2.6-flare");
    assert!(
        flare.contains("image out $25") && flare.ends_with("our contract"),
        "{flare}"
    );
    assert!(model_row(&table, "gpt-image-2.6-sunburst").contains("unpriced: refused"));

    let json: serde_json::Value =
        serde_json::from_str(&models(dir.path(), Some(&catalog), false, &["--json"]))
            .expect("--json prints JSON");
    let model = |id: &str| {
        json["models"]
            .as_array()
            .expect("a list of models")
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {json}"))
            .clone()
    };
    let house = model("house-style");
    assert_eq!(house["state"], "retiring");
    assert_eq!(house["retired_on"], retires.as_str());
    assert_eq!(house["served"], true);
    assert_eq!(house["warning"], true);
    assert_eq!(house["aliases"], serde_json::json!(["house"]));
    let flare = model("gpt-image-2.6-flare");
    assert_eq!(flare["price"]["kind"], "tokens");
    assert_eq!(flare["price"]["per_mtok"]["image_output"], 25.0);
    assert_eq!(flare["price_source"], "our contract");
    assert_eq!(flare["served"], true);
    assert_eq!(model("gpt-image-2.6-sunburst")["served"], false);
    assert_eq!(model("dall-e-2")["state"], "retired");
}

#[test]
fn models_refuses_a_broken_catalogue_file_on_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, "[models.\"mine\"]\nlike = \"no-such-model\"\n").expect("written");

    let output = artgen(dir.path())
        .env("ARTGEN_CATALOG_FILE", &catalog)
        .arg("models")
        .output()
        .expect("runs");

    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown model 'no-such-model'"), "{stderr}");
}

#[test]
fn a_reader_that_goes_away_ends_the_listing_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);

    let output = artgen(dir.path())
        .arg("models")
        .stdout(writer)
        .output()
        .expect("runs");

    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Reads from `stream` until the server closes it or `limit` passes; whether it closed.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drops_half_sent_requests_after_the_grace_period_and_keeps_every_answered_requests_usage(
) {
    use artgen_core::domain::{UsageQuery, UsageStatus};
    use artgen_core::ports::UsageStore as _;
    use tokio::io::AsyncWriteExt as _;

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("artgen.toml");
    std::fs::write(
        &config,
        "shutdown_grace_secs = 2\n[mock]\nlatency_ms = 800\n",
    )
    .expect("config written");
    let key = create_key(&data, "lisa");
    let mut server = Server::start(&data, &config);
    let mut stdout = server.wait_for("artgen listening");
    let address = bound_address(&stdout);
    let client = reqwest::Client::new();
    let generate = |prompt: &str| {
        client
            .post(format!("http://{address}/generate"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"model": "dall-e-2", "prompt": prompt, "size": "256x256"}))
            .send()
    };

    let before = generate("answered before the signal")
        .await
        .expect("answered");
    assert_eq!(before.status(), 200);
    // A request whose body stops after 9 of its 200 bytes, and one whose head never ends.
    let mut half_body = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    let head = format!(
        "POST /generate HTTP/1.1\r\nHost: artgen\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"model\":"
    );
    half_body.write_all(head.as_bytes()).await.expect("sent");
    let mut half_head = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    half_head
        .write_all(b"POST /generate HTTP/1.1\r\nHost: artgen\r\n")
        .await
        .expect("sent");
    let during = tokio::spawn(generate("in flight at the signal"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = std::time::Instant::now();
    server.terminate();
    let during = during.await.expect("task").expect("answered");
    let status = server.wait_exit();
    let took = signalled.elapsed();

    assert_eq!(
        during.status(),
        200,
        "an in-flight request finishes in the grace period"
    );
    assert!(status.success(), "exit status {status:?}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "exits at the 2 s deadline: {took:?}"
    );
    assert!(closed_within(&mut half_body, Duration::from_secs(1)).await);
    assert!(closed_within(&mut half_head, Duration::from_secs(1)).await);
    stdout.extend(rest(&server.stdout));
    assert!(
        stdout
            .iter()
            .any(|l| l.contains("shutdown grace period over")),
        "{stdout:#?}"
    );
    let store = artgen_store::SqliteStore::open(&data.join("artgen.db"))
        .await
        .expect("database opens");
    let rows = store
        .list(&UsageQuery::default())
        .await
        .expect("usage rows");
    assert_eq!(rows.len(), 2, "one row per answered request: {rows:#?}");
    assert!(
        rows.iter().all(|r| r.status == UsageStatus::Succeeded),
        "{rows:#?}"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn under_a_low_file_limit_the_server_keeps_accepting_and_health_answers_again() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux's prlimit is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("artgen.toml");
    std::fs::write(&config, "header_read_timeout_secs = 1\n").expect("config written");
    let mut limited = command("prlimit", &data);
    limited.args(["--nofile=64:64", "--", env!("CARGO_BIN_EXE_artgen")]);
    let mut server = Server::spawn(limited, &config);
    let address = bound_address(&server.wait_for("artgen listening"));
    let health = || async {
        let response = reqwest::Client::new()
            .get(format!("http://{address}/health"))
            .send();
        tokio::time::timeout(Duration::from_secs(20), response)
            .await
            .expect("health answers in time")
            .expect("health answers")
            .status()
    };

    // More silent connections than the server has descriptors; /health waits behind them.
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(
            tokio::net::TcpStream::connect(&address)
                .await
                .expect("connects"),
        );
    }
    let while_held = health().await;
    let out_of_descriptors = server.wait_for("accept error");
    drop(held);
    let after = health().await;

    assert_eq!(while_held, 200, "answered while the sockets are still open");
    assert!(
        out_of_descriptors
            .last()
            .is_some_and(|l| l.contains("Too many open files")),
        "the server did run out: {out_of_descriptors:#?}"
    );
    assert_eq!(after, 200);
    server.terminate();
    assert!(server.wait_exit().success());
}
