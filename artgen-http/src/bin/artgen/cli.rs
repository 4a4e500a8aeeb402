//! Command line and settings loading: defaults ← TOML file ← environment ← flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use artgen_core::domain::UnknownParams;
use artgen_http::settings::Settings;
use clap::{Args, Parser, Subcommand};

use crate::error::UserError;
use crate::keys::{self, KeysCommand};
use crate::models;
use crate::redact;
use crate::serve;

/// ArtGen: a gateway in front of OpenAI's Image API, with API keys, rate limits and usage
/// accounting.
///
/// `artgen serve` runs the HTTP gateway (on a mock provider until OPENAI_API_KEY is set);
/// `artgen keys create|list|revoke` manages API keys; `artgen models` lists the models the
/// server serves; `artgen config` prints the effective settings with secrets redacted. Every
/// command reads the same settings: defaults, then the --config file, then ARTGEN_*
/// environment variables, then flags.
#[derive(Debug, Parser)]
#[command(name = "artgen", version, after_help = EXIT_STATUS)]
pub(crate) struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// The exit statuses, shown under every help text.
const EXIT_STATUS: &str = "Exit status: 0 on success, 2 for a usage error (arguments, \
    configuration, an unknown key), 1 for any other failure (database, files, network). \
    Failures print one 'error:' line on stderr (bad arguments add a usage hint).";

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ARTGEN_CONFIG")]
    config: Option<PathBuf>,
    /// Folder for the database, images and the link-signing secret.
    #[arg(long, global = true, env = "ARTGEN_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Listen address.
        #[arg(long, env = "ARTGEN_BIND")]
        bind: Option<SocketAddr>,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List the models this server serves: each one's state today (active, retiring, retired;
    /// refused or served with a warning), price, aliases and price source.
    Models {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Bring the database schema up to date (the server also does it at start).
    Migrate,
    /// Print the effective configuration (API keys and credentials in URLs redacted).
    Config,
}

impl Cli {
    pub(crate) async fn run(self) -> Result<()> {
        let mut settings = load_settings(self.common.config.as_deref())?;
        if let Some(dir) = self.common.data_dir {
            settings.data_dir = dir;
        }
        match self.command {
            Command::Serve { bind } => {
                if let Some(bind) = bind {
                    settings.bind = bind;
                }
                serve::run(settings).await
            }
            Command::Keys(command) => keys::run(&settings, command).await,
            Command::Models { json } => models::run(&settings, json),
            Command::Migrate => {
                let backend = artgen_http::storage::migrate(&settings).await?;
                out(&format!("The {backend} database schema is up to date."));
                Ok(())
            }
            Command::Config => {
                let text = redacted_toml(&settings)?;
                let status = |var: &str, unset: &str| {
                    let set = std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
                    format!(
                        "# {var} is {}",
                        if set { "set ([redacted])" } else { unset }
                    )
                };
                let mut lines = vec![status(
                    &settings.openai.api_key_env,
                    "not set (mock provider)",
                )];
                for (name, provider) in &settings.providers {
                    lines.push(status(
                        &provider.api_key_env,
                        &format!("not set (provider {name} cannot start)"),
                    ));
                }
                out(&format!("{text}\n{}\n", lines.join("\n")));
                Ok(())
            }
        }
    }
}

/// Prints one piece of the command's output on stdout, and a line break. A reader that has
/// gone (`artgen models | head`) ends the command quietly, with status 0, as it would end
/// `ls` or `grep`, instead of a panic.
pub(crate) fn out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Nowhere left to say it but stderr; the exit status still tells.
        eprintln!("error: writing to stdout: {err}");
        std::process::exit(1);
    }
}

/// The settings as TOML with the credentials inside every URL redacted (userinfo passwords,
/// secret-looking query parameters; see [`redact::url`]), whichever setting holds it.
fn redacted_toml(settings: &Settings) -> Result<String> {
    let mut value = toml::Value::try_from(settings).context("rendering settings")?;
    redact::urls_in(&mut value);
    // Back through the typed settings to print them in their declared order; should a
    // redacted value no longer fit its field, print the (alphabetically ordered) value itself.
    let text = match value.clone().try_into::<Settings>() {
        Ok(redacted) => toml::to_string_pretty(&redacted),
        Err(_) => toml::to_string_pretty(&value),
    };
    text.context("rendering settings")
}

/// Defaults, then the TOML file, then environment variables.
fn load_settings(file: Option<&Path>) -> Result<Settings> {
    let mut settings = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| UserError::ConfigUnreadable {
                    path: path.to_owned(),
                    source,
                })?;
            toml::from_str(&text).map_err(|err| UserError::ConfigInvalid {
                path: path.to_owned(),
                reason: toml_error(&text, &err),
            })?
        }
        None => Settings::default(),
    };
    apply_env(&mut settings, |name| std::env::var(name).ok())?;
    Ok(settings)
}

/// A TOML error on one line: `line L, column C: message` (the parser's own rendering quotes
/// the file over several lines).
fn toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

fn apply_env(settings: &mut Settings, var: impl Fn(&str) -> Option<String>) -> Result<()> {
    fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, UserError>
    where
        T::Err: std::fmt::Display,
    {
        value.parse().map_err(|e: T::Err| UserError::BadVariable {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: e.to_string(),
        })
    }
    if let Some(v) = var("ARTGEN_BIND") {
        settings.bind = parse("ARTGEN_BIND", &v)?;
    }
    if let Some(v) = var("ARTGEN_DATA_DIR") {
        settings.data_dir = PathBuf::from(v);
    }
    if let Some(v) = var("ARTGEN_PUBLIC_URL") {
        settings.public_url = Some(v);
    }
    if let Some(v) = var("ARTGEN_METRICS_PUBLIC") {
        settings.metrics_public = parse("ARTGEN_METRICS_PUBLIC", &v)?;
    }
    if let Some(v) = var("ARTGEN_RATE_LIMIT_PER_MINUTE") {
        settings.rate_limit.per_minute = parse("ARTGEN_RATE_LIMIT_PER_MINUTE", &v)?;
    }
    if let Some(v) = var("ARTGEN_RATE_LIMIT_BURST") {
        settings.rate_limit.burst = parse("ARTGEN_RATE_LIMIT_BURST", &v)?;
    }
    if let Some(v) = var("ARTGEN_MAX_UPLOADS_PER_USER") {
        settings.max_uploads_per_user = Some(parse("ARTGEN_MAX_UPLOADS_PER_USER", &v)?);
    }
    if let Some(v) = var("ARTGEN_MAX_CONNECTIONS") {
        settings.max_connections = parse("ARTGEN_MAX_CONNECTIONS", &v)?;
    }
    for (name, slot) in [
        (
            "ARTGEN_BODY_READ_TIMEOUT_SECS",
            &mut settings.body_read_timeout_secs,
        ),
        (
            "ARTGEN_HEADER_READ_TIMEOUT_SECS",
            &mut settings.header_read_timeout_secs,
        ),
        (
            "ARTGEN_KEEP_ALIVE_TIMEOUT_SECS",
            &mut settings.keep_alive_timeout_secs,
        ),
        (
            "ARTGEN_SHUTDOWN_GRACE_SECS",
            &mut settings.shutdown_grace_secs,
        ),
        ("ARTGEN_KEY_CACHE_SECS", &mut settings.key_cache_secs),
    ] {
        if let Some(v) = var(name) {
            *slot = parse(name, &v)?;
        }
    }
    if let Some(v) = var("OPENAI_BASE_URL") {
        settings.openai.base_url = Some(v);
    }
    if let Some(v) = var("ARTGEN_REDIS_URL") {
        settings.redis_url = Some(v);
    }
    if let Some(v) = var("ARTGEN_IMAGES_URL") {
        settings.images_url = Some(v);
    }
    if let Some(v) = var("ARTGEN_DATABASE_URL") {
        settings.database_url = Some(v);
    }
    if let Some(v) = var("ARTGEN_CATALOG_FILE") {
        settings.catalog_file = Some(PathBuf::from(v));
    }
    if let Some(v) = var("ARTGEN_DATABASE_DURABILITY") {
        settings.database.durability = parse("ARTGEN_DATABASE_DURABILITY", &v)?;
    }
    if let Some(v) = var("ARTGEN_UNKNOWN_PARAMS") {
        settings.unknown_params = match v.trim() {
            "forward" => UnknownParams::Forward,
            "reject" => UnknownParams::Reject,
            other => {
                return Err(UserError::BadVariable {
                    name: "ARTGEN_UNKNOWN_PARAMS".to_owned(),
                    value: other.to_owned(),
                    reason: "expected forward or reject".to_owned(),
                }
                .into())
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut settings: Settings =
            toml::from_str("bind = \"0.0.0.0:9000\"\n[rate_limit]\nper_minute = 5\nburst = 2\n")
                .expect("valid toml");
        apply_env(&mut settings, |name| {
            (name == "ARTGEN_RATE_LIMIT_BURST").then(|| "7".to_owned())
        })
        .expect("valid env");
        assert_eq!(settings.bind.port(), 9000);
        assert_eq!(settings.rate_limit.per_minute, 5);
        assert_eq!(settings.rate_limit.burst, 7);
    }

    #[test]
    fn limits_and_timeouts_come_from_the_environment() {
        let mut settings = Settings::default();
        apply_env(&mut settings, |name| match name {
            "ARTGEN_MAX_CONNECTIONS" => Some("512".to_owned()),
            "ARTGEN_MAX_UPLOADS_PER_USER" => Some("2".to_owned()),
            "ARTGEN_HEADER_READ_TIMEOUT_SECS" => Some("5".to_owned()),
            "ARTGEN_KEEP_ALIVE_TIMEOUT_SECS" => Some("0".to_owned()),
            "ARTGEN_SHUTDOWN_GRACE_SECS" => Some("8".to_owned()),
            "ARTGEN_BODY_READ_TIMEOUT_SECS" => Some("12".to_owned()),
            _ => None,
        })
        .expect("valid env");
        assert_eq!(settings.max_connections, 512);
        assert_eq!(settings.uploads_per_user(), 2);
        assert_eq!(settings.header_read_timeout_secs, 5);
        assert_eq!(settings.keep_alive_timeout_secs, 0);
        assert_eq!(settings.shutdown_grace_secs, 8);
        assert_eq!(settings.body_read_timeout_secs, 12);
    }

    #[test]
    fn the_durability_comes_from_the_file_or_the_environment() {
        use artgen_store::Durability;
        let mut settings: Settings =
            toml::from_str("[database]\ndurability = \"power_loss\"\n").expect("valid toml");
        assert_eq!(settings.database.durability, Durability::PowerLoss);
        assert_eq!(Settings::default().database.durability, Durability::Crash);

        apply_env(&mut settings, |name| {
            (name == "ARTGEN_DATABASE_DURABILITY").then(|| "crash".to_owned())
        })
        .expect("valid env");
        assert_eq!(settings.database.durability, Durability::Crash);

        let err = apply_env(&mut settings, |name| {
            (name == "ARTGEN_DATABASE_DURABILITY").then(|| "fsync".to_owned())
        })
        .expect_err("unknown durability");
        assert!(
            err.to_string().contains("ARTGEN_DATABASE_DURABILITY"),
            "{err}"
        );
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let mut settings = Settings::default();
        let err = apply_env(&mut settings, |name| {
            (name == "ARTGEN_BIND").then(|| "nope".to_owned())
        })
        .expect_err("invalid address");
        assert!(err.to_string().contains("ARTGEN_BIND"));
    }

    #[test]
    fn every_toml_example_in_the_readme_loads() {
        use artgen_core::domain::{Catalog, CatalogConfig, CatalogSource};
        let readme = include_str!("../../../../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert!(
            blocks.len() >= 3,
            "the README shows config and catalogue examples"
        );
        for block in blocks {
            // A catalogue file's example says so on its first line; the others are settings,
            // whose catalogue entries must load too.
            if block.starts_with("# catalog.toml") {
                let source = CatalogSource {
                    origin: "README",
                    text: block,
                };
                Catalog::load(&[source], &CatalogConfig::default())
                    .unwrap_or_else(|e| panic!("{e}\n{block}"));
            } else {
                let settings =
                    toml::from_str::<Settings>(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
                artgen_http::compose::catalog(&settings, true)
                    .unwrap_or_else(|e| panic!("{e}\n{block}"));
            }
        }
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(toml::from_str::<Settings>("bnid = \"x\"").is_err());
    }

    #[test]
    fn toml_errors_are_one_line_with_their_position() {
        let text = "bind = \"127.0.0.1:1\"\n\nbnid = \"x\"\n";
        let err = toml::from_str::<Settings>(text).expect_err("unknown key");

        let line = toml_error(text, &err);

        assert!(
            line.starts_with("line 3, column 1: unknown field `bnid`"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
}
