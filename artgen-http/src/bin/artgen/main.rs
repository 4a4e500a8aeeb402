//! `artgen`: the ArtGen reference server and its admin commands.
//!
//! ```text
//! artgen serve [--bind ADDR] [--data-dir DIR] [--config FILE]
//! artgen keys create --user NAME [--admin]
//! artgen keys list [--user NAME]
//! artgen keys revoke KEY_OR_ID
//! artgen models [--json]
//! artgen migrate
//! artgen config
//! ```
//!
//! A failed command prints one line, `error: <what>: <cause>: …`, on stderr and exits with 2
//! for a usage error or 1 for any other failure (see `error.rs`).

mod cli;
mod error;
mod keys;
mod logging;
mod models;
mod redact;
mod serve;
mod users;

use std::process::ExitCode;

use clap::Parser;

/// With the `mimalloc` feature, mimalloc instead of glibc's malloc. The server's profile under the
/// `image_regime` bench had glibc's `malloc`/`free` at ~10 % of its samples; with mimalloc 1.5 MB
/// answers at concurrency 1 ran 1.5x as fast and small ones the same, but a request waiting on
/// the upstream held 58 KiB instead of 41 (the bound is 64), so it is not the default
/// (docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::try_parse().unwrap_or_else(|err| clap_exit(&err));
    logging::init(!cli.serves());
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report(&err),
    }
}

/// Ends the process on a clap error (or `--help`/`--version`) as clap would, except that any
/// API key quoted from the arguments (say, a key given where a flag was expected) is cut to its
/// public id first.
fn clap_exit(err: &clap::Error) -> ! {
    use std::io::Write as _;
    let text = err.render().to_string();
    let scrubbed = redact::api_keys(&text);
    if scrubbed == text {
        err.exit();
    }
    let written = if err.use_stderr() {
        std::io::stderr().write_all(scrubbed.as_bytes())
    } else {
        let mut stdout = std::io::stdout();
        stdout
            .write_all(scrubbed.as_bytes())
            .and_then(|()| stdout.flush())
    };
    // Nothing better to do when the terminal is gone; the exit status still tells.
    let _ignored = written;
    std::process::exit(err.exit_code());
}
