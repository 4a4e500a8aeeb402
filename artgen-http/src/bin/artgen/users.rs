//! `artgen users`: create, list, set limits, disable and enable users.
//!
//! Every change goes through the admin service, as the admin API's do, so it is written to
//! the audit trail with the actor `cli` and logged. A running server sees a change within its
//! key cache's time to live (`key_cache_secs`), at once for changes made through its own
//! admin API.

use std::str::FromStr;

use anyhow::Result;
use artgen_core::domain::{LimitsPatch, Money, UserRecord};
use artgen_core::service::{Actor, Admin};
use artgen_core::ErrorKind;
use artgen_http::settings::Settings;
use clap::Subcommand;

use crate::cli::out;
use crate::error::UserError;

/// A limit given on the command line: a value, or `none` to clear it back to the default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Clearable<T>(Option<T>);

impl<T: FromStr> FromStr for Clearable<T> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("none") {
            return Ok(Self(None));
        }
        text.parse()
            .map(|v| Self(Some(v)))
            .map_err(|_| format!("{text:?} is neither a number nor 'none'"))
    }
}

/// `artgen users …`.
#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Give a user a row (limits and disabling need none; this one sets the organisation).
    Create {
        /// The user's id, as their keys name it.
        user: String,
        /// Their organisation.
        #[arg(long)]
        org: Option<String>,
    },
    /// List users with a row: organisation, limits, whether disabled.
    List,
    /// Set a user's own limits; `none` clears one back to the default.
    Limits {
        /// The user's id.
        user: String,
        /// Most US dollars per calendar month.
        #[arg(long, value_name = "USD|none")]
        budget_usd: Option<Clearable<f64>>,
        /// Most tokens per calendar month.
        #[arg(long, value_name = "TOKENS|none")]
        budget_tokens: Option<Clearable<u64>>,
        /// Rate-limit units per minute.
        #[arg(long, value_name = "UNITS|none")]
        rate_per_minute: Option<Clearable<u32>>,
        /// Rate-limit units at once.
        #[arg(long, value_name = "UNITS|none")]
        rate_burst: Option<Clearable<u32>>,
    },
    /// Disable a user: their keys are refused.
    Disable {
        /// The user's id.
        user: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's id.
        user: String,
    },
}

/// The patch the flags ask for.
fn patch(
    budget_usd: Option<Clearable<f64>>,
    budget_tokens: Option<Clearable<u64>>,
    rate_per_minute: Option<Clearable<u32>>,
    rate_burst: Option<Clearable<u32>>,
) -> Result<LimitsPatch, UserError> {
    let invalid = |message: &str| UserError::Invalid {
        message: message.to_owned(),
    };
    let money = match budget_usd {
        None => None,
        Some(Clearable(None)) => Some(None),
        Some(Clearable(Some(usd))) => Some(Some(
            Money::from_usd(usd).ok_or_else(|| invalid("--budget-usd must be 0 or more"))?,
        )),
    };
    for value in [rate_per_minute, rate_burst] {
        if value == Some(Clearable(Some(0))) {
            return Err(invalid("a rate limit must be at least 1"));
        }
    }
    let patch = LimitsPatch {
        budget_usd_per_month: money,
        budget_tokens_per_month: budget_tokens.map(|c| c.0),
        rate_limit_per_minute: rate_per_minute.map(|c| c.0),
        rate_limit_burst: rate_burst.map(|c| c.0),
    };
    if patch == LimitsPatch::default() {
        return Err(invalid(
            "name a limit to set: --budget-usd, --budget-tokens, --rate-per-minute or --rate-burst",
        ));
    }
    Ok(patch)
}

/// One line about a user.
fn describe(row: &UserRecord) -> String {
    let or_default = |v: Option<String>| v.unwrap_or_else(|| "default".to_owned());
    let limits = &row.limits;
    format!(
        "{}  org={}  budget_usd={}  budget_tokens={}  rate_per_minute={}  rate_burst={}  {}",
        row.id,
        row.org.as_deref().unwrap_or("-"),
        or_default(limits.budget_usd_per_month.map(|m| m.to_string())),
        or_default(limits.budget_tokens_per_month.map(|t| t.to_string())),
        or_default(limits.rate_limit_per_minute.map(|r| r.to_string())),
        or_default(limits.rate_limit_burst.map(|r| r.to_string())),
        if row.disabled { "disabled" } else { "enabled" },
    )
}

/// The admin service over the configured database.
pub(crate) async fn admin(settings: &Settings) -> Result<Admin> {
    let stores = artgen_http::storage::open(settings).await?;
    Ok(artgen_http::compose::admin_service(&stores))
}

/// An error of the admin service as the command's error: bad input is a usage error.
pub(crate) fn command_error(err: artgen_core::Error) -> anyhow::Error {
    if err.kind() == ErrorKind::InvalidInput {
        UserError::Invalid {
            message: err.message().to_owned(),
        }
        .into()
    } else {
        err.into()
    }
}

/// Runs a `users` command against the configured database.
pub(crate) async fn run(settings: &Settings, command: UsersCommand) -> Result<()> {
    let actor = Actor::cli();
    match command {
        UsersCommand::Create { user, org } => {
            let admin = admin(settings).await?;
            let (row, created) = admin
                .create_user(&actor, &user, org.as_deref())
                .await
                .map_err(command_error)?;
            let verb = if created { "Created" } else { "Already had" };
            out(&format!("{verb} user '{}'.", row.id));
            out(&describe(&row));
        }
        UsersCommand::List => {
            let admin = admin(settings).await?;
            for row in admin.list_users().await? {
                out(&describe(&row));
            }
        }
        UsersCommand::Limits {
            user,
            budget_usd,
            budget_tokens,
            rate_per_minute,
            rate_burst,
        } => {
            let patch = patch(budget_usd, budget_tokens, rate_per_minute, rate_burst)?;
            let admin = admin(settings).await?;
            let row = admin
                .set_user_limits(&actor, &user, &patch)
                .await
                .map_err(command_error)?;
            out(&describe(&row));
        }
        UsersCommand::Disable { user } => set_disabled(settings, &actor, &user, true).await?,
        UsersCommand::Enable { user } => set_disabled(settings, &actor, &user, false).await?,
    }
    Ok(())
}

async fn set_disabled(
    settings: &Settings,
    actor: &Actor,
    user: &str,
    disabled: bool,
) -> Result<()> {
    let admin = admin(settings).await?;
    let row = admin
        .set_user_disabled(actor, user, disabled)
        .await
        .map_err(command_error)?;
    out(&describe(&row));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_clears_a_limit_and_numbers_set_it() {
        let patch = patch(
            Some("12.5".parse().expect("a number")),
            Some("none".parse().expect("none")),
            None,
            Some("3".parse().expect("a number")),
        )
        .expect("valid");

        assert_eq!(
            patch.budget_usd_per_month,
            Some(Some(Money::from_micros(12_500_000)))
        );
        assert_eq!(patch.budget_tokens_per_month, Some(None));
        assert_eq!(patch.rate_limit_per_minute, None);
        assert_eq!(patch.rate_limit_burst, Some(Some(3)));
    }

    #[test]
    fn an_empty_or_invalid_patch_is_a_usage_error() {
        assert!(patch(None, None, None, None).is_err());
        assert!(patch(Some(Clearable(Some(-1.0))), None, None, None).is_err());
        assert!(patch(None, None, Some(Clearable(Some(0))), None).is_err());
        assert!("ten".parse::<Clearable<u32>>().is_err());
    }
}
