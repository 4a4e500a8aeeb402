//! The three engines: where their browser and WebDriver server live, how each server is started
//! on a free loopback port, and the capabilities that make its browser headless (or, for WebKit,
//! a real window on a private X display).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// The window every engine gets, so screenshots and layouts compare.
pub(crate) const WINDOW: (u32, u32) = (1280, 900);

/// A browser engine under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// Chromium with chromedriver: stands for Chrome, Edge and Android Chrome.
    Chromium,
    /// Firefox ESR with geckodriver.
    Firefox,
    /// WebKitGTK's MiniBrowser with WebKitWebDriver: stands for Safari and iOS Safari.
    WebKit,
}

impl Engine {
    /// The name used in messages and screenshot files.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Chromium => "chromium",
            Self::Firefox => "firefox",
            Self::WebKit => "webkit",
        }
    }
}

/// The programs one engine needs, found on this machine.
#[derive(Debug)]
pub(crate) struct Programs {
    /// The WebDriver server.
    driver: PathBuf,
    /// The browser it drives.
    browser: PathBuf,
    /// `xvfb-run`, for WebKit only.
    xvfb_run: Option<PathBuf>,
}

/// Finds what `engine` needs, or says what is missing and how to install it.
pub(crate) fn locate(engine: Engine) -> Result<Programs, String> {
    let need = |found: Option<PathBuf>, what: &str, install: &str| {
        found.ok_or_else(|| format!("{what} not found (install: {install})"))
    };
    match engine {
        Engine::Chromium => Ok(Programs {
            driver: need(
                on_path("chromedriver"),
                "chromedriver",
                "apt-get install chromium-driver",
            )?,
            browser: need(
                first_file(&["/usr/lib/chromium/chromium"]).or_else(|| on_path("chromium")),
                "chromium",
                "apt-get install chromium",
            )?,
            xvfb_run: None,
        }),
        Engine::Firefox => Ok(Programs {
            driver: need(
                on_path("geckodriver").or_else(cargo_bin_geckodriver),
                "geckodriver",
                "cargo install geckodriver --locked",
            )?,
            browser: need(
                first_file(&["/usr/lib/firefox-esr/firefox-esr"])
                    .or_else(|| on_path("firefox-esr")),
                "firefox-esr",
                "apt-get install firefox-esr",
            )?,
            xvfb_run: None,
        }),
        Engine::WebKit => Ok(Programs {
            driver: need(
                on_path("WebKitWebDriver"),
                "WebKitWebDriver",
                "apt-get install webkit2gtk-driver",
            )?,
            browser: need(
                minibrowser(),
                "WebKitGTK's MiniBrowser",
                "apt-get install webkit2gtk-driver (it brings libwebkit2gtk)",
            )?,
            xvfb_run: Some(need(
                on_path("xvfb-run"),
                "xvfb-run",
                "apt-get install xvfb xauth",
            )?),
        }),
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn first_file(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn cargo_bin_geckodriver() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    Some(home.join("bin/geckodriver")).filter(|p| p.is_file())
}

/// WebKitGTK ships MiniBrowser in its library folder, e.g.
/// `/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser`; the folder's name carries the API
/// version, so look for any of them.
fn minibrowser() -> Option<PathBuf> {
    let mut roots = vec![PathBuf::from("/usr/lib")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        roots.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with("-linux-gnu")),
        );
    }
    let mut found: Vec<PathBuf> = roots
        .iter()
        .filter_map(|root| std::fs::read_dir(root).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|dir| {
            dir.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("webkit2gtk-") || n.starts_with("webkitgtk-"))
        })
        .map(|dir| dir.join("MiniBrowser"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// A WebDriver server this test started, ended (its whole process group) when dropped.
#[derive(Debug)]
pub(crate) struct Driver {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    /// The driver's log and Chromium's profile; removed with the driver.
    scratch: tempfile::TempDir,
    programs: Programs,
    engine: Engine,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // xvfb-run runs Xvfb and the driver as its children; the driver runs the browser. Each
        // server was started as the leader of its own process group, so end the group.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg("--")
                .arg(format!("-{pid}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

fn free_port() -> Result<u16, String> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Starts `engine`'s WebDriver server on a free port and waits until it says it is ready.
pub(crate) async fn start(engine: Engine, programs: Programs) -> Result<Driver, String> {
    let port = free_port()?;
    let profile = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut command = match engine {
        Engine::Chromium => {
            let mut c = Command::new(&programs.driver);
            c.arg(format!("--port={port}"));
            c
        }
        Engine::Firefox => {
            let mut c = Command::new(&programs.driver);
            c.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
            c
        }
        Engine::WebKit => {
            let mut c = Command::new(
                programs
                    .xvfb_run
                    .as_deref()
                    .unwrap_or(Path::new("xvfb-run")),
            );
            let screen = format!("-screen 0 {}x{}x24", WINDOW.0 + 64, WINDOW.1 + 64);
            c.args(["-a", "-s", &screen])
                .arg(&programs.driver)
                .arg(format!("--port={port}"));
            c
        }
    };
    let log = std::fs::File::create(profile.path().join("driver.log"))
        .map_err(|e| format!("driver log: {e}"))?;
    let log_err = log.try_clone().map_err(|e| format!("driver log: {e}"))?;
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", programs.driver.display()))?;
    let driver = Driver {
        url: format!("http://127.0.0.1:{port}"),
        child,
        scratch: profile,
        programs,
        engine,
    };
    driver.wait_ready().await?;
    Ok(driver)
}

impl Driver {
    /// What the server wrote so far, for a failure message.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("driver.log")).unwrap_or_default()
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(answer) = http.get(format!("{}/status", self.url)).send().await {
                if answer.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer /status within 30 s:\n{}",
                    self.engine.name(),
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The capabilities that start this engine's browser for a test.
    fn capabilities(&self) -> Capabilities {
        let browser = self.programs.browser.display().to_string();
        let caps = match self.engine {
            Engine::Chromium => {
                let user_data = self.scratch.path().join("chromium-profile");
                json!({
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": browser,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                            format!("--user-data-dir={}", user_data.display()),
                        ],
                    },
                })
            }
            Engine::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": browser,
                    "args": [
                        "-headless",
                        "-width", WINDOW.0.to_string(),
                        "-height", WINDOW.1.to_string(),
                        // Lets the test set the page's zoom from the browser's chrome context:
                        // the window cannot be narrower than 500 px, so phone widths are
                        // reached by zooming in (tests/browser/phones.rs).
                        "-remote-allow-system-access",
                    ],
                    // No update checks, telemetry or remote settings: the machine has no
                    // network, and a quiet browser keeps timings honest.
                    "prefs": {
                        "app.update.enabled": false,
                        "datareporting.policy.dataSubmissionEnabled": false,
                        "toolkit.telemetry.enabled": false,
                        "browser.shell.checkDefaultBrowser": false,
                    },
                },
            }),
            Engine::WebKit => json!({
                "browserName": "MiniBrowser",
                "webkitgtk:browserOptions": {
                    "binary": browser,
                    // The window's size comes from set_window_size once the session is up
                    // (MiniBrowser ignores --geometry); the X screen is made larger than it.
                    "args": ["--automation"],
                },
            }),
        };
        match caps {
            Value::Object(map) => map,
            _ => Capabilities::new(),
        }
    }

    /// Opens a browser session on this server.
    pub(crate) async fn session(&self) -> Result<Client, String> {
        ClientBuilder::new(HttpConnector::new())
            .capabilities(self.capabilities())
            .connect(&self.url)
            .await
            .map_err(|e| format!("{}: no session: {e}\n{}", self.engine.name(), self.log()))
    }
}
