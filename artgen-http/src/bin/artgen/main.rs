//! `artgen`: the ArtGen reference server and its admin commands.
//!
//! ```text
//! artgen serve [--bind ADDR] [--data-dir DIR] [--config FILE]
//! artgen keys create --user NAME [--admin]
//! artgen keys list [--user NAME]
//! artgen keys revoke PUBLIC_ID
//! artgen config
//! ```

mod cli;
mod logging;
mod serve;

use anyhow::Result;
use clap::Parser;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = cli::Cli::parse();
    logging::init();
    cli.run().await
}
