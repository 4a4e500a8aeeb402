//! The web UI in three real browser engines over WebDriver: Chromium (chromedriver), Firefox ESR
//! (geckodriver) and WebKit (WebKitWebDriver driving WebKitGTK's MiniBrowser under Xvfb).
//!
//! Each engine gets its own app (mock provider, SQLite, a free port) and its own WebDriver
//! server, and runs every scenario in [`scenarios::ALL`]. An engine whose programs are missing
//! is skipped with the reason, unless `ARTGEN_TEST_BROWSERS=1` (set by `.ci/run`, which
//! installs them): then it fails. How to run and what each engine stands for:
//! docs/ui-testing.md.

/// Fails the scenario with a message when `$cond` does not hold.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

mod a11y;
mod dashboard;
mod derive;
mod drivers;
mod phones;
mod scenarios;
mod sso;
mod toasts;

use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use artgen_tests::{spawn_app, TestOptions, Upstream};
use drivers::{Engine, WINDOW};
use scenarios::{Ctx, Skipped};

/// The longest one scenario may take before it counts as hung.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// One engine at a time: the machine has two cores, and three browsers at once would make
/// every wait a race.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether `.ci/run` asked for every engine and tool (`ARTGEN_TEST_BROWSERS=1`).
pub(crate) fn required() -> bool {
    std::env::var("ARTGEN_TEST_BROWSERS").is_ok_and(|v| v == "1")
}

#[expect(clippy::panic, reason = "a test: failing loudly is the point")]
async fn run_engine(engine: Engine) {
    let _turn = TURN.lock().await;
    let name = engine.name();
    let programs = match drivers::locate(engine) {
        Ok(programs) => programs,
        Err(why) if required() => panic!("{name}: ARTGEN_TEST_BROWSERS=1 but {why}"),
        Err(why) => {
            eprintln!("skipped {name}: {why} (set ARTGEN_TEST_BROWSERS=1 to require it)");
            return;
        }
    };
    let started = Instant::now();
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        // A DALL·E 2 model for the large view's variations (the mock provider serves it).
        tweak: |settings| {
            let like = toml::Table::from_iter([("like".to_owned(), "dall-e-2".into())]);
            settings
                .catalog
                .models
                .insert(derive::VARIATION_MODEL.into(), like);
        },
        ..TestOptions::default()
    })
    .await;
    let driver = drivers::start(engine, programs)
        .await
        .unwrap_or_else(|why| panic!("{why}"));
    let client = driver.session().await.unwrap_or_else(|why| panic!("{why}"));
    // Headless Chromium and Firefox take their size from their arguments; this makes sure.
    if let Err(e) = client.set_window_size(WINDOW.0, WINDOW.1).await {
        eprintln!("{name}: window size not set: {e}");
    }
    let ctx = Ctx {
        engine,
        client,
        app,
        shots: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser"),
        clicks: AtomicU32::new(0),
        driver: driver.url.clone(),
    };
    eprintln!("{name}: session up in {:.1?}", started.elapsed());

    let mut failures = Vec::new();
    let mut skipped = 0;
    for scenario in scenarios::ALL {
        let t = Instant::now();
        let outcome = tokio::time::timeout(SCENARIO_TIMEOUT, scenarios::run(&ctx, scenario))
            .await
            .unwrap_or_else(|_| Err(format!("hung for {SCENARIO_TIMEOUT:?}").into()));
        match outcome {
            Ok(()) => eprintln!("{name}: ok     {scenario} ({:.1?})", t.elapsed()),
            Err(why) if why.is::<Skipped>() => {
                skipped += 1;
                eprintln!("{name}: skipped {scenario}: {why}");
            }
            Err(why) => {
                eprintln!("{name}: FAILED {scenario} ({:.1?}): {why}", t.elapsed());
                failures.push(format!("{scenario}: {why}"));
            }
        }
    }
    let Ctx { client, .. } = ctx;
    if let Err(e) = client.close().await {
        eprintln!("{name}: session did not close cleanly: {e}");
    }
    drop(driver);
    eprintln!(
        "{name}: {} passed, {} failed, {skipped} skipped in {:.1?}",
        scenarios::ALL.len() - failures.len() - skipped,
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} scenarios failed:\n{}",
        failures.len(),
        scenarios::ALL.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn chromium_runs_every_scenario() {
    run_engine(Engine::Chromium).await;
}

#[tokio::test]
async fn firefox_runs_every_scenario() {
    run_engine(Engine::Firefox).await;
}

#[tokio::test]
async fn webkit_runs_every_scenario() {
    run_engine(Engine::WebKit).await;
}
