//! The official OpenAI Python SDK against the `/v1` routes (tests/sdk/openai_python.py).
//! Runs when `ARTGEN_TEST_PYTHON_SDK=1` (set by `.ci/run`, which installs the SDK); without it
//! the test says why it skipped. When asked for, a missing SDK fails loudly.

use crate::sdk::{report_models, run_script, servers, wanted};

#[tokio::test]
async fn the_official_python_sdk_drives_every_operation_and_parses_every_answer() {
    if !wanted(
        "ARTGEN_TEST_PYTHON_SDK",
        "with `pip install openai==3.57.0`",
    ) {
        return;
    }
    let servers = servers().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/openai_python.py");
    let stdout = run_script("python3", script, &servers).await;
    assert!(stdout.contains("python sdk: ok"), "{stdout}");
    report_models(&stdout);
}
