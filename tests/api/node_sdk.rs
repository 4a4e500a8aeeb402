//! The official OpenAI Node SDK against the `/v1` routes (tests/sdk/openai_node.mjs).
//! Runs when `ARTGEN_TEST_NODE_SDK=1` (set by `.ci/run`, which installs the SDK pinned in
//! tests/sdk/node with `npm ci`); without it the test says why it skipped. When asked for, a
//! missing SDK or a missing `node` fails loudly.

use crate::sdk::{report_models, run_script, servers, wanted};

#[tokio::test]
async fn the_official_node_sdk_drives_every_operation_and_parses_every_answer() {
    if !wanted(
        "ARTGEN_TEST_NODE_SDK",
        "with `npm ci --prefix tests/sdk/node`",
    ) {
        return;
    }
    let servers = servers().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/openai_node.mjs");
    let stdout = run_script("node", script, &servers).await;
    assert!(stdout.contains("node sdk: ok"), "{stdout}");
    report_models(&stdout);
}
