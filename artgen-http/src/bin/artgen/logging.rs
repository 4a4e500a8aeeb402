//! Log setup: JSON lines when `ARTGEN_LOG_FORMAT=json` or stdout is not a terminal.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub(crate) fn init() {
    let json = match std::env::var("ARTGEN_LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("text" | "pretty") => false,
        _ => !std::io::stdout().is_terminal(),
    };
    let filter = EnvFilter::try_from_env("ARTGEN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.init();
    }
}
