//! `artgen`: the ArtGen reference server and its admin commands.
//!
//! ```text
//! artgen serve [--bind ADDR] [--data-dir DIR] [--config FILE]
//! artgen keys create --user NAME [--admin]
//! artgen keys list [--user NAME]
//! artgen keys revoke PUBLIC_ID
//! artgen config
//! ```
//!
//! A failed command prints one line, `error: <what>: <cause>: …`, on stderr and exits with 2
//! for a usage error or 1 for any other failure (see `error.rs`).

mod cli;
mod error;
mod logging;
mod serve;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init();
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report(&err),
    }
}
