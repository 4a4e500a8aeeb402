//! `artgen keys`: create, list and revoke API keys. Creating and revoking go through the
//! admin service, which writes them to the audit trail (actor `cli`).
//!
//! A key's secret is printed once, by `create`, and nowhere else: `list` shows the public id
//! and the last four characters, and `revoke` reduces a whole key to its public id before it
//! can reach a message.

use anyhow::Result;
use artgen_core::domain::{ApiKey, Date, KeyEnv, Role};
use artgen_core::service::Actor;
use artgen_core::ErrorCode;
use artgen_http::settings::Settings;
use clap::Subcommand;

use crate::cli::out;
use crate::error::UserError;
use crate::users::{admin, command_error};

/// Key prefixes, one per environment (see `artgen_core::domain::api_key`).
const PREFIXES: [&str; 2] = ["ag_live_", "ag_test_"];

/// Characters after the prefix that make up a public id.
const PUBLIC_ID_BODY: usize = 8;

/// `artgen keys …`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key; it is printed once, alone on the last line.
    Create {
        /// The user the key belongs to.
        #[arg(long)]
        user: String,
        /// Give the key the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// List keys (prefix and last four characters only), with when each was created and
    /// last used (UTC).
    List {
        /// Only this user's keys.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a key, given the whole key or its public id (e.g. `ag_live_Ab12Cd34`).
    Revoke {
        /// The whole key (`ag_live_…`, as issued) or its public id, as `artgen keys list`
        /// shows it. The secret is never printed back.
        #[arg(value_name = "KEY_OR_ID")]
        key_or_id: String,
    },
}

/// Runs a `keys` command against the configured database (by default the SQLite file in the
/// data folder).
pub(crate) async fn run(settings: &Settings, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create {
            user,
            admin: as_admin,
        } => {
            let role = if as_admin { Role::Admin } else { Role::User };
            let key = admin(settings)
                .await?
                .create_key(&Actor::cli(), &user, role, KeyEnv::Live)
                .await
                .map_err(command_error)?;
            out(&format!(
                "Created {role} key {} for user '{user}'. It is shown only once:",
                key.public_id()
            ));
            out(key.expose_secret());
        }
        KeysCommand::List { user } => {
            let stores = artgen_http::storage::open(settings).await?;
            for k in stores.keys.list(user.as_deref()).await? {
                let state = if k.revoked_at_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                out(&format!(
                    "{}…{}  user={}  role={}  created={}  last_used={}  {state}",
                    k.public_id,
                    k.last_four,
                    k.user,
                    k.role,
                    utc(k.created_at_ms),
                    k.last_used_at_ms.map_or_else(|| "never".to_owned(), utc),
                ));
            }
        }
        KeysCommand::Revoke { key_or_id } => {
            // Refuse a malformed argument before touching (or creating) the data folder.
            let public_id = public_id_of(&key_or_id)?;
            let revoked = admin(settings)
                .await?
                .revoke_key(&Actor::cli(), &public_id)
                .await;
            match revoked {
                Ok(()) => out(&format!("Revoked key {public_id}.")),
                Err(err) if err.code() == ErrorCode::NotFound => {
                    return Err(UserError::NoActiveKey { public_id }.into());
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

/// A Unix-ms time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        Date::from_unix_secs(secs),
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The public id `arg` names. A whole key (checksum verified) is reduced to its public id,
/// which identifies it: ids are unique and the hash is not needed to revoke. A public id is
/// taken as it is. Anything else is refused without quoting it, since it may be a mistyped
/// secret.
fn public_id_of(arg: &str) -> Result<String, UserError> {
    let arg = arg.trim();
    if let Some(key) = ApiKey::parse(arg) {
        return Ok(key.public_id().to_owned());
    }
    let body = PREFIXES.iter().find_map(|p| arg.strip_prefix(p));
    match body {
        Some(body)
            if body.len() == PUBLIC_ID_BODY && body.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(arg.to_owned())
        }
        Some(body) if body.len() > PUBLIC_ID_BODY => Err(UserError::MistypedKey),
        _ => Err(UserError::NotAKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "Ab12Cd34efghijABCDEFGHIJ0123456789klmnop";

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(1_796_083_200_000 + 3_723_000), "2026-12-01T01:02:03Z");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_whole_key_is_reduced_to_its_public_id() {
        let key = ApiKey::assemble(KeyEnv::Live, BODY).expect("valid body");

        let id = public_id_of(&format!(" {}\n", key.expose_secret())).expect("a key");

        assert_eq!(id, "ag_live_Ab12Cd34");
    }

    #[test]
    fn a_public_id_is_taken_as_it_is() {
        assert_eq!(
            public_id_of("ag_test_Zz99Yy88").expect("an id"),
            "ag_test_Zz99Yy88"
        );
    }

    #[test]
    fn a_key_with_a_wrong_checksum_is_refused_without_quoting_it() {
        let key = ApiKey::assemble(KeyEnv::Live, BODY).expect("valid body");
        let mut typo = key.expose_secret().to_owned();
        typo.pop();
        typo.push(if key.expose_secret().ends_with('x') {
            'y'
        } else {
            'x'
        });

        let err = public_id_of(&typo).expect_err("checksum fails");

        assert!(matches!(err, UserError::MistypedKey));
        assert!(!err.to_string().contains(BODY), "{err}");
    }

    #[test]
    fn other_text_is_not_a_key() {
        for text in [
            "",
            "sk-proj-abc",
            "ag_live_short",
            "ag_live_Ab12Cd3!",
            "Ab12Cd34",
        ] {
            assert!(
                matches!(public_id_of(text), Err(UserError::NotAKey)),
                "{text}"
            );
        }
    }
}
