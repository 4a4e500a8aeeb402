//! Log setup: JSON lines when `ARTGEN_LOG_FORMAT=json` or stdout is not a terminal. The
//! server logs on stdout; the other commands on stderr, so that what they print on stdout (a
//! key, a listing) is all there is on it, ready for a script.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub(crate) fn init(to_stderr: bool) {
    let json = match std::env::var("ARTGEN_LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("text" | "pretty") => false,
        _ => !std::io::stdout().is_terminal(),
    };
    let filter = EnvFilter::try_from_env("ARTGEN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let writer = move || -> Box<dyn std::io::Write> {
        if to_stderr {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
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
