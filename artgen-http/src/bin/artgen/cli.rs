//! Command line and settings loading: defaults ← TOML file ← environment ← flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::sync::LazyLock;

use anyhow::{Context as _, Result};
use artgen_http::settings::Settings;
use clap::{Args, Parser, Subcommand};
use figment::providers::{Env, Format as _, Toml};
use figment::Figment;

use crate::error::UserError;
use crate::keys::{self, KeysCommand};
use crate::models;
use crate::redact;
use crate::serve;
use crate::users::{self, UsersCommand};

/// ArtGen: a gateway in front of OpenAI's Image API, with API keys, rate limits and usage
/// accounting.
///
/// `artgen serve` runs the HTTP gateway (on a mock provider until OPENAI_API_KEY is set);
/// `artgen keys create|list|revoke` manages API keys; `artgen users
/// create|list|limits|disable|enable` manages users' limits; `artgen models` lists the models the
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
    /// Manage users: organisation, limits, disabling (each change is audited).
    #[command(subcommand)]
    Users(UsersCommand),
    /// List the models this server serves: each one's state today (active, retiring, retired;
    /// refused or served with a warning), price, aliases and price source.
    Models {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Bring the database schema up to date (the server also does it at start).
    Migrate,
    /// Remove images (their rows and bytes) and the prompts of usage rows older than the retention
    /// period, as the server does every `retention.purge_interval_secs`; usage counts,
    /// tokens and cost stay.
    Purge {
        /// Remove what is older than this many days instead of `retention.days`.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        older_than_days: Option<u32>,
    },
    /// Print the effective configuration (API keys and credentials in URLs redacted).
    Config,
}

impl Cli {
    /// Whether the command is `serve` (which logs on stdout; the others log on stderr).
    pub(crate) fn serves(&self) -> bool {
        matches!(self.command, Command::Serve { .. })
    }

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
            Command::Users(command) => users::run(&settings, command).await,
            Command::Models { json } => models::run(&settings, json),
            Command::Migrate => {
                let backend = artgen_http::storage::migrate(&settings).await?;
                out(&format!("The {backend} database schema is up to date."));
                Ok(())
            }
            Command::Purge { older_than_days } => {
                if let Some(days) = older_than_days {
                    settings.retention.days = days;
                }
                let Some(period) = settings.retention.period() else {
                    return Err(UserError::NoRetention.into());
                };
                let metrics = std::sync::Arc::new(artgen_http::metrics::Metrics::new());
                let upstreams = artgen_http::compose::upstreams(
                    &settings,
                    &|var| std::env::var(var).ok(),
                    &metrics,
                )?;
                let app = artgen_http::compose::build(&settings, upstreams, metrics).await?;
                let report = app.state.service().purge_older_than(period).await;
                app.stores.backend.close().await;
                let report = report?;
                out(&format!(
                    "Removed {} images ({} blobs) and {} prompts older than {} days.",
                    report.images, report.blobs, report.prompts, settings.retention.days
                ));
                if report.blob_failures > 0 {
                    anyhow::bail!(
                        "{} image blobs could not be removed (their rows are gone; see the log)",
                        report.blob_failures
                    );
                }
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

/// Defaults, then the TOML file, then environment variables, validated once.
fn load_settings(file: Option<&Path>) -> Result<Settings> {
    let text = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| UserError::ConfigUnreadable {
                    path: path.to_owned(),
                    source,
                })?;
            // The file alone first: its errors keep their line and column, and an unknown
            // key in it is refused (`deny_unknown_fields`).
            toml::from_str::<Settings>(&text).map_err(|err| UserError::ConfigInvalid {
                path: path.to_owned(),
                reason: toml_error(&text, &err),
            })?;
            Some(text)
        }
        None => None,
    };
    layered(text.as_deref())
}

/// The settings from the file's text (already checked on its own) and the environment: the
/// struct's `#[serde(default)]` is the bottom layer, the file over it, the variables
/// [`env_key`] maps over both. A refused value is reported as the variable that holds it.
fn layered(file: Option<&str>) -> Result<Settings> {
    let base = || match file {
        Some(text) => Figment::from(Toml::string(text)),
        None => Figment::new(),
    };
    let err = match with_env(base(), |_| true).extract::<Settings>() {
        Ok(settings) => return Ok(settings),
        Err(err) => err,
    };
    // Which variable? Each alone over the file: the first refused on its own is named.
    for (name, value) in std::env::vars_os() {
        let (name, value) = (name.to_string_lossy(), value.to_string_lossy());
        if env_key(&name).is_none() {
            continue;
        }
        let only = name.to_string();
        if let Err(alone) = with_env(base(), move |var| var == only).extract::<Settings>() {
            return Err(UserError::BadVariable {
                name: name.into_owned(),
                value: redact::url(value.trim()),
                reason: alone.kind.to_string().replace("``", "`"),
            }
            .into());
        }
    }
    // None is refused alone, only together.
    Err(UserError::BadVariable {
        name: "ARTGEN_*".to_owned(),
        value: String::new(),
        reason: err.to_string(),
    }
    .into())
}

/// Documented flat variables of nested settings, kept from before the `__` form: each is the
/// same setting as its nested name (`ARTGEN_RATE_LIMIT__PER_MINUTE`), which wins when both are
/// set.
const ALIASES: &[(&str, &str)] = &[
    ("ARTGEN_RATE_LIMIT_PER_MINUTE", "rate_limit.per_minute"),
    ("ARTGEN_RATE_LIMIT_BURST", "rate_limit.burst"),
    ("ARTGEN_DATABASE_DURABILITY", "database.durability"),
    ("ARTGEN_BUDGET_USD_PER_MONTH", "budget.usd_per_month"),
    ("ARTGEN_BUDGET_TOKENS_PER_MONTH", "budget.tokens_per_month"),
    (
        "ARTGEN_BUDGET_ORG_USD_PER_MONTH",
        "budget.org_usd_per_month",
    ),
    (
        "ARTGEN_BUDGET_ORG_TOKENS_PER_MONTH",
        "budget.org_tokens_per_month",
    ),
    ("ARTGEN_BUDGET_TIME_ZONE", "budget.time_zone"),
    ("OPENAI_BASE_URL", "openai.base_url"),
    ("ARTGEN_OIDC_ISSUER", "oidc.issuer"),
    ("ARTGEN_OIDC_AUDIENCE", "oidc.audience"),
    ("ARTGEN_OIDC_CLIENT_ID", "oidc.client_id"),
    ("ARTGEN_OIDC_CLIENT_SECRET", "oidc.client_secret"),
];

/// The top-level setting names (the keys of [`Settings`] as serialised).
static SETTING_NAMES: LazyLock<Vec<String>> =
    LazyLock::new(|| match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    });

/// The setting an environment variable sets, as a dotted path (`rate_limit.per_minute`): an
/// alias from [`ALIASES`], or `ARTGEN_` + the path in upper case with `__` between its parts.
/// A variable whose first part names no setting (`ARTGEN_LOG`, `ARTGEN_CONFIG`,
/// `ARTGEN_TEST_*`, anything else) is not a setting and is left alone; one whose first part
/// does is checked like the file (an unknown nested key or a bad value is refused).
fn env_key(var: &str) -> Option<String> {
    if let Some((_, key)) = ALIASES.iter().find(|(alias, _)| *alias == var) {
        return Some((*key).to_owned());
    }
    let path = var.strip_prefix("ARTGEN_")?.to_ascii_lowercase();
    let first = path.split("__").next()?;
    if !SETTING_NAMES.iter().any(|name| name == first) {
        return None;
    }
    Some(path.replace("__", "."))
}

/// The environment layered over `base`: the flat [`ALIASES`], then the `ARTGEN_` paths (so a
/// path wins over its alias); only the variables `keep` accepts.
fn with_env<K>(base: Figment, keep: K) -> Figment
where
    K: Fn(&str) -> bool + Clone + 'static,
{
    let layer = |aliases: bool, keep: K| {
        Env::raw().filter_map(move |var| {
            let var = var.as_str();
            let alias = ALIASES.iter().any(|(name, _)| *name == var);
            if alias != aliases || !keep(var) {
                return None;
            }
            env_key(var).map(Into::into)
        })
    };
    base.merge(layer(true, keep.clone()))
        .merge(layer(false, keep))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` with these variables set (and restored after), one test at a time.
    fn with_vars(vars: &[(&str, &str)], test: impl FnOnce()) {
        // The jail's error type is figment's (large); these closures never return one.
        #[allow(clippy::result_large_err)]
        figment::Jail::expect_with(|jail| {
            for (name, value) in vars {
                jail.set_env(name, value);
            }
            test();
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "bind = \"0.0.0.0:9000\"\n[rate_limit]\nper_minute = 5\nburst = 2\n";
        with_vars(&[("ARTGEN_RATE_LIMIT_BURST", "7")], || {
            let settings = layered(Some(file)).expect("valid env");
            assert_eq!(settings.bind.port(), 9000);
            assert_eq!(settings.rate_limit.per_minute, 5);
            assert_eq!(settings.rate_limit.burst, 7);
        });
    }

    #[test]
    fn budgets_come_from_their_flat_variables() {
        let vars = [
            ("ARTGEN_BUDGET_USD_PER_MONTH", "12.5"),
            ("ARTGEN_BUDGET_TOKENS_PER_MONTH", "90000"),
            ("ARTGEN_BUDGET_TIME_ZONE", "Asia/Bangkok"),
        ];
        with_vars(&vars, || {
            let settings = layered(None).expect("valid env");
            assert_eq!(settings.budget.usd_per_month, Some(12.5));
            assert_eq!(settings.budget.tokens_per_month, Some(90_000));
            assert_eq!(settings.budget.org_usd_per_month, None);
            assert_eq!(settings.budget.time_zone, "Asia/Bangkok");
        });
    }

    #[test]
    fn nested_settings_come_from_double_underscore_variables() {
        let vars = [
            ("ARTGEN_RATE_LIMIT__PER_MINUTE", "42"),
            ("ARTGEN_OPENAI__TIMEOUT_SECS", "90"),
            ("ARTGEN_DATABASE__DURABILITY", "power_loss"),
            ("ARTGEN_PROVIDERS__BACKUP__KIND", "azure"),
            ("ARTGEN_SIGNED_URL_TTL_SECS", "60"),
        ];
        with_vars(&vars, || {
            let settings = layered(Some("[rate_limit]\nburst = 3\n")).expect("valid env");
            assert_eq!(settings.rate_limit.per_minute, 42);
            assert_eq!(settings.rate_limit.burst, 3, "the file's sibling stays");
            assert_eq!(settings.openai.timeout_secs, 90);
            assert_eq!(
                settings.database.durability,
                artgen_store::Durability::PowerLoss
            );
            assert_eq!(
                settings.providers["backup"].kind,
                artgen_openai::ApiFlavor::Azure
            );
            assert_eq!(settings.signed_url_ttl_secs, 60);
        });
    }

    #[test]
    fn the_nested_name_wins_over_its_flat_alias() {
        let vars = [
            ("ARTGEN_RATE_LIMIT_PER_MINUTE", "1"),
            ("ARTGEN_RATE_LIMIT__PER_MINUTE", "2"),
        ];
        with_vars(&vars, || {
            assert_eq!(layered(None).expect("valid").rate_limit.per_minute, 2);
        });
    }

    #[test]
    fn oidc_settings_come_from_flat_and_nested_variables() {
        let vars = [
            (
                "ARTGEN_OIDC_ISSUER",
                "https://idp.example.com/realms/artgen",
            ),
            ("ARTGEN_OIDC_AUDIENCE", "artgen-api"),
            ("ARTGEN_OIDC__ROLE_CLAIM", "realm_access.roles"),
            ("ARTGEN_OIDC__ALGORITHMS", "[ES256, PS256]"),
        ];
        with_vars(&vars, || {
            let oidc = layered(None).expect("valid env").oidc;
            assert_eq!(
                oidc.issuer.as_deref(),
                Some("https://idp.example.com/realms/artgen")
            );
            assert_eq!(oidc.audience.as_deref(), Some("artgen-api"));
            assert_eq!(oidc.role_claim, "realm_access.roles");
            use artgen_http::oidc::OidcAlgorithm;
            assert_eq!(
                oidc.algorithms,
                vec![OidcAlgorithm::ES256, OidcAlgorithm::PS256]
            );
        });
        let ui = [
            ("ARTGEN_OIDC_CLIENT_ID", "artgen-ui"),
            ("ARTGEN_OIDC_CLIENT_SECRET", "ui-secret"),
            ("ARTGEN_OIDC__SCOPES", "[openid, email]"),
            ("ARTGEN_OIDC__DISPLAY_NAME", "Acme"),
        ];
        with_vars(&ui, || {
            let oidc = layered(None).expect("valid env").oidc;
            assert_eq!(oidc.client_id.as_deref(), Some("artgen-ui"));
            assert_eq!(oidc.client_secret(), Some("ui-secret"));
            assert_eq!(oidc.scopes, vec!["openid", "email"]);
            assert_eq!(oidc.display_name.as_deref(), Some("Acme"));
        });
        with_vars(&[("ARTGEN_OIDC__ALGORITHMS", "[HS256]")], || {
            assert!(layered(None).is_err(), "HMAC cannot be configured");
        });
    }

    #[test]
    fn variables_that_are_not_settings_are_left_alone() {
        let vars = [
            ("ARTGEN_TEST_REDIS_URL", "redis://x"),
            ("ARTGEN_LOG", "debug"),
            ("ARTGEN_LOG_FORMAT", "text"),
            ("ARTGEN_CONFIG", "/nowhere.toml"),
            ("ARTGEN_SOMETHING_ELSE", "1"),
        ];
        with_vars(&vars, || {
            layered(None).expect("no setting among them");
        });
    }

    #[test]
    fn limits_and_timeouts_come_from_the_environment() {
        let vars = [
            ("ARTGEN_MAX_CONNECTIONS", "512"),
            ("ARTGEN_MAX_UPLOADS_PER_USER", "2"),
            ("ARTGEN_HEADER_READ_TIMEOUT_SECS", "5"),
            ("ARTGEN_KEEP_ALIVE_TIMEOUT_SECS", "0"),
            ("ARTGEN_SEND_TIMEOUT_SECS", "7"),
            ("ARTGEN_SHUTDOWN_GRACE_SECS", "8"),
            ("ARTGEN_BODY_READ_TIMEOUT_SECS", "12"),
            ("ARTGEN_BIND", "[::1]:8081"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
        ];
        with_vars(&vars, || {
            let settings = layered(None).expect("valid env");
            assert_eq!(settings.max_connections, 512);
            assert_eq!(settings.uploads_per_user(), 2);
            assert_eq!(settings.header_read_timeout_secs, 5);
            assert_eq!(settings.keep_alive_timeout_secs, 0);
            assert_eq!(settings.send_timeout_secs, 7);
            assert_eq!(settings.shutdown_grace_secs, 8);
            assert_eq!(settings.body_read_timeout_secs, 12);
            assert_eq!(settings.bind.port(), 8081);
            assert_eq!(
                settings.openai.base_url.as_deref(),
                Some("http://127.0.0.1:1/v1")
            );
        });
    }

    #[test]
    fn the_durability_comes_from_the_file_or_the_environment() {
        use artgen_store::Durability;
        let file = "[database]\ndurability = \"power_loss\"\n";
        with_vars(&[], || {
            let settings = layered(Some(file)).expect("valid toml");
            assert_eq!(settings.database.durability, Durability::PowerLoss);
            assert_eq!(Settings::default().database.durability, Durability::Crash);
        });
        with_vars(&[("ARTGEN_DATABASE_DURABILITY", "crash")], || {
            let settings = layered(Some(file)).expect("valid env");
            assert_eq!(settings.database.durability, Durability::Crash);
        });
        with_vars(&[("ARTGEN_DATABASE_DURABILITY", "fsync")], || {
            let err = layered(Some(file)).expect_err("unknown durability");
            assert!(
                err.to_string()
                    .starts_with("ARTGEN_DATABASE_DURABILITY=\"fsync\": "),
                "{err}"
            );
        });
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let cases = [
            ("ARTGEN_BIND", "nope"),
            ("ARTGEN_RATE_LIMIT__PER_MINUTE", "lots"),
            ("ARTGEN_RATE_LIMIT__PER_MINUT", "5"),
            ("ARTGEN_UNKNOWN_PARAMS", "drop"),
        ];
        for (name, value) in cases {
            with_vars(&[(name, value)], || {
                let err = layered(None).expect_err("refused");
                let err = err.downcast_ref::<UserError>().expect("a user error");
                assert!(matches!(err, UserError::BadVariable { .. }), "{err}");
                assert!(err.to_string().starts_with(&format!("{name}=")), "{err}");
            });
        }
    }

    #[test]
    fn a_refused_url_variable_is_quoted_without_its_password() {
        with_vars(
            &[("ARTGEN_DATABASE_URL__X", "postgres://u:hunter2@h/db")],
            || {
                let err = layered(None).expect_err("not a table").to_string();
                assert!(!err.contains("hunter2"), "{err}");
            },
        );
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
    fn the_readme_table_names_every_setting() {
        let readme = include_str!("../../../../README.md");
        let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `")).collect();
        assert!(SETTING_NAMES.len() > 20, "{:?}", *SETTING_NAMES);
        for name in SETTING_NAMES.iter() {
            let named = |row: &&str| {
                let setting = row.split('|').nth(1).unwrap_or_default();
                setting.contains(&format!("`{name}`")) || setting.contains(&format!("`{name}."))
            };
            assert!(rows.iter().any(named), "README's table lacks `{name}`");
        }
    }

    #[test]
    fn variables_that_are_not_settings_name_no_setting() {
        for var in [
            "ARTGEN_CONFIG",
            "ARTGEN_LOG",
            "ARTGEN_LOG_FORMAT",
            "ARTGEN_TEST_X",
        ] {
            assert_eq!(env_key(var), None, "{var}");
        }
        assert_eq!(env_key("ARTGEN_BIND").as_deref(), Some("bind"));
        assert_eq!(
            env_key("ARTGEN_CATALOG__DEFAULTS__GENERATE").as_deref(),
            Some("catalog.defaults.generate")
        );
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
