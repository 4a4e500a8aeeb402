//! The official OpenAI Python SDK against the `/v1` routes (tests/sdk/openai_python.py).
//! Runs when `ARTGEN_TEST_PYTHON_SDK=1` (set by `.ci/run`, which installs the SDK); without it
//! the test says why it skipped. When asked for, a missing SDK fails loudly.

use std::process::Command;

use artgen_tests::{spawn_app, TestOptions, Upstream};

#[tokio::test]
async fn the_official_python_sdk_parses_every_answer() {
    if std::env::var("ARTGEN_TEST_PYTHON_SDK").as_deref() != Ok("1") {
        eprintln!("skipped: set ARTGEN_TEST_PYTHON_SDK=1 (with `pip install openai`) to run the Python SDK check");
        return;
    }
    let app = spawn_app(TestOptions {
        upstream: Upstream::Mock,
        ..TestOptions::default()
    })
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/openai_python.py");
    let url = app.address.clone();
    let key = app.user_key.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .env("ARTGEN_URL", url)
            .env("ARTGEN_KEY", key)
            .output()
    })
    .await
    .expect("task")
    .expect("python3 runs");
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
