//! How a failed command ends: one line on stderr and an exit status that says whose fault it was.
//!
//! Exit status: 0 success, 2 usage error (arguments, configuration, an unknown key: something
//! the operator can fix in the command line or the settings; clap uses 2 for its own errors
//! too), 1 any other failure (database, files, network). No backtrace is ever printed, whatever
//! `RUST_BACKTRACE` says: the message is for an operator, not a developer.

use std::path::PathBuf;
use std::process::ExitCode;

use artgen_http::compose::ComposeError;

use crate::redact;

/// Exit status of a usage error.
const USAGE: u8 = 2;

/// Exit status of any other failure.
const FAILURE: u8 = 1;

/// Mistakes in what the operator asked for; they end the command with exit status 2.
///
/// No variant carries a secret: a key given on the command line is reduced to its public id
/// before it can reach a message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserError {
    /// The configuration file cannot be read.
    #[error("cannot read config file {}", path.display())]
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or names unknown settings.
    #[error("config file {}: {reason}", path.display())]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// Where and why, on one line.
        reason: String,
    },
    /// An `ARTGEN_*` variable holds a value of the wrong type or names an unknown setting.
    #[error("{name}={value:?}: {reason}")]
    BadVariable {
        /// The variable.
        name: String,
        /// Its value (credentials in a URL redacted).
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// `artgen purge` with nothing to purge by: retention is off and no age was given.
    #[error("retention.days is 0 (keep everything): pass --older-than-days to purge")]
    NoRetention,
    /// No unrevoked key has this public id.
    #[error("no active key with id {public_id}")]
    NoActiveKey {
        /// The public id (never the secret).
        public_id: String,
    },
    /// Text shaped like an ArtGen key whose checksum does not match.
    #[error(
        "that is not a valid API key (its checksum does not match: mistyped or cut short?); \
         give the whole key or its public id as 'artgen keys list' shows it (e.g. ag_live_Ab12Cd34)"
    )]
    MistypedKey,
    /// An argument the admin service refused (a malformed user id, a negative budget).
    #[error("{message}")]
    Invalid {
        /// Why, naming the argument.
        message: String,
    },
    /// Text that is neither an ArtGen key nor a public id.
    #[error(
        "expected an API key (ag_live_… or ag_test_…) or its public id (e.g. ag_live_Ab12Cd34)"
    )]
    NotAKey,
}

/// Whether `err` is the operator's mistake (exit status 2) rather than a failure (1).
fn is_usage_error(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<UserError>()
            || matches!(
                cause.downcast_ref::<ComposeError>(),
                Some(
                    ComposeError::Config(_)
                        | ComposeError::MissingKey { .. }
                        | ComposeError::DatabaseUrl { .. }
                        | ComposeError::Oidc(artgen_http::oidc::OidcError::Config { .. })
                )
            )
    })
}

/// The error and its causes on one line, joined by `": "`. A cause whose text the line already
/// ends with (an error that prints its source) is not repeated, and line breaks inside a
/// message (e.g. a parser's excerpt) are folded into spaces.
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() || line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Prints `error: <one line>` on stderr (any API key in it cut to its public id, as a last
/// line of defence) and returns the exit status.
pub(crate) fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", redact::api_keys(&one_line(err)));
    ExitCode::from(if is_usage_error(err) { USAGE } else { FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_joined_on_one_line_without_repeating_themselves() {
        let io = std::io::Error::other("disk full");
        let err = anyhow::Error::new(ComposeError::DataDir {
            path: "/data".to_owned(),
            source: io,
        })
        .context("opening the store");

        assert_eq!(
            one_line(&err),
            "opening the store: data folder /data: disk full"
        );
    }

    #[test]
    fn a_bad_oidc_setting_is_a_usage_error() {
        let err = anyhow::Error::new(ComposeError::Oidc(artgen_http::oidc::OidcError::Config {
            setting: "oidc.audience",
            reason: "must be set".to_owned(),
        }));

        assert!(is_usage_error(&err));
        assert_eq!(one_line(&err), "oidc: oidc.audience must be set");
    }

    #[test]
    fn multi_line_messages_are_folded() {
        let err = anyhow::anyhow!("first line\n  |\n  second line\n");

        assert_eq!(one_line(&err), "first line | second line");
    }

    #[test]
    fn user_errors_are_usage_errors_even_under_context() {
        let err = anyhow::Error::new(UserError::NoActiveKey {
            public_id: "ag_live_Ab12Cd34".to_owned(),
        })
        .context("revoking");
        let other = anyhow::anyhow!("database locked");

        assert!(is_usage_error(&err));
        assert!(!is_usage_error(&other));
    }
}
