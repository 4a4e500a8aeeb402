//! The real `artgen` binary (release build) as a child process: a temp data folder, a config
//! file with a generous rate limit, JSON logs to a file, `OPENAI_BASE_URL` at the mock, and a
//! user key made with `artgen keys create`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `artgen` binary: `IMAGE_REGIME_ARTGEN` if set, else `target/release/artgen` next to this
/// bench, built first with the same cargo and target folder (a no-op when it is up to date),
/// so the bench never measures a stale server.
pub(crate) fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("IMAGE_REGIME_ARTGEN") {
        return PathBuf::from(path);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "artgen-http",
            "--bin",
            "artgen",
        ])
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "cargo build --release --bin artgen failed"
    );
    let exe = std::env::current_exe().expect("the bench knows its path");
    // target/release/deps/image_regime-<hash> → target/release/artgen
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench runs from target/<profile>/deps");
    release.join("artgen")
}

/// How a server is configured for one case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Fixed upstream admission limit (None: the default adaptive one, 256 rising to 512).
    pub(crate) fixed_in_flight: Option<u32>,
}

/// A running `artgen serve`; killed and its data folder removed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) key: String,
    pub(crate) pid: u32,
    _data: tempfile::TempDir,
}

/// Where data folders go: `IMAGE_REGIME_DATA_DIR` (e.g. a tmpfs, to see what durable writes
/// cost), else the system temp folder.
fn data_parent() -> PathBuf {
    std::env::var_os("IMAGE_REGIME_DATA_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

impl Server {
    pub(crate) fn start(binary: &Path, upstream: SocketAddr, options: Options) -> Self {
        let data = tempfile::Builder::new()
            .prefix("artgen-bench-")
            .tempdir_in(data_parent())
            .expect("temp data folder");
        let dir = data.path();
        let mut config = String::from(
            "bind = \"127.0.0.1:0\"\n\
             [rate_limit]\nper_minute = 10000000\nburst = 100000\n",
        );
        if let Some(n) = options.fixed_in_flight {
            config.push_str(&format!(
                "[concurrency]\nmax_in_flight = {n}\nmin_in_flight = {n}\ninitial_in_flight = {n}\n"
            ));
        }
        // More settings to experiment with, e.g. "[openai]\nmax_concurrent_reads = 16".
        if let Ok(extra) = std::env::var("IMAGE_REGIME_CONFIG") {
            config.push_str(&extra.replace("\\n", "\n"));
            config.push('\n');
        }
        let config_path = dir.join("bench.toml");
        fs::write(&config_path, config).expect("config written");
        let data_dir = dir.join("data");
        let log_path = dir.join("artgen.log");
        let base_url = format!("http://{upstream}/v1");
        let command = |args: &[&str]| {
            let mut command = Command::new(binary);
            command
                .args(args)
                .arg("--config")
                .arg(&config_path)
                .arg("--data-dir")
                .arg(&data_dir)
                // Only what the case sets: no ARTGEN_* or proxy variable of the caller's.
                .env_clear()
                .env("OPENAI_API_KEY", "sk-bench-not-a-real-key")
                .env("OPENAI_BASE_URL", &base_url)
                .env("ARTGEN_LOG_FORMAT", "json")
                .env("NO_PROXY", "127.0.0.1,localhost")
                .envs(passed_through())
                .stdin(Stdio::null());
            command
        };
        let created = command(&["keys", "create", "--user", "bench"])
            .stderr(Stdio::inherit())
            .output()
            .expect("artgen keys create runs");
        assert!(created.status.success(), "artgen keys create failed");
        let key = String::from_utf8_lossy(&created.stdout)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .expect("keys create prints the key on its last line")
            .trim()
            .to_owned();
        let log = fs::File::create(&log_path).expect("log file");
        let child = command(&["serve"])
            .stdout(log)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("artgen serve starts");
        let pid = child.id();
        let addr = wait_for_listening(&log_path);
        Self {
            child,
            addr,
            key,
            pid,
            _data: data,
        }
    }

    /// `VmRSS` and `VmHWM` of the server, bytes.
    pub(crate) fn memory(&self) -> Memory {
        memory(self.pid)
    }

    /// Resets the server's `VmHWM` to its current RSS (Linux `clear_refs` 5).
    pub(crate) fn reset_peak(&self) {
        let _ignored = fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ignored = self.child.kill();
        let _ignored = self.child.wait();
    }
}

/// `IMAGE_REGIME_ENV_<NAME>=value` of the bench's environment, as `<NAME>=value` for the
/// server (e.g. `IMAGE_REGIME_ENV_ARTGEN_LOG=debug`, or an allocator setting to experiment).
fn passed_through() -> Vec<(String, std::ffi::OsString)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            Some((name.strip_prefix("IMAGE_REGIME_ENV_")?.to_owned(), value))
        })
        .collect()
}

/// Reads the bound address from the "artgen listening" log line (the config binds port 0).
fn wait_for_listening(log: &Path) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let text = fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("artgen listening")) {
            let bind = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["bind"].as_str().and_then(|b| b.parse().ok()));
            if let Some(addr) = bind {
                return addr;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "artgen did not log 'artgen listening' within 20 s; see {}",
        log.display()
    );
}

/// Resident and peak resident memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) rss: u64,
    pub(crate) hwm: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/<pid>/status`.
pub(crate) fn memory(pid: u32) -> Memory {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib * 1024)
    };
    Memory {
        rss: field("VmRSS:"),
        hwm: field("VmHWM:"),
    }
}

/// The bare proxy (`src/bin/bare_proxy.rs`, built with this bench) as a child process: the
/// floor of any proxy on ArtGen's HTTP stack; killed on drop.
pub(crate) struct BareProxy {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl BareProxy {
    /// Starts it in front of `upstream` and reads its bound address.
    pub(crate) fn start(upstream: SocketAddr) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_bare_proxy"))
            .arg(upstream.to_string())
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bare-proxy starts");
        let stdout = child.stdout.take().expect("bare-proxy's stdout is piped");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("bare-proxy prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("bare-proxy printed {line:?}, not its address"));
        Self { child, addr }
    }
}

impl Drop for BareProxy {
    fn drop(&mut self) {
        let _ignored = self.child.kill();
        let _ignored = self.child.wait();
    }
}
