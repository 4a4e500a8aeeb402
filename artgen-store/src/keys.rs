//! Backend-independent pieces of API-key management: generation, hashing, the one
//! "invalid key" error. Each database backend stores the same fields; the listing type,
//! [`KeyInfo`], lives with the [`KeyStore`](artgen_core::ports::KeyStore) port.

use artgen_core::domain::{ApiKey, KeyEnv, Principal, Role};
use artgen_core::{Error, ErrorCode};
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::StoreError;

pub use artgen_core::ports::KeyInfo;

/// A key's `last_used_at_ms` is written at most this often (it is a hint for operators, not
/// an audit log).
pub(crate) const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Attempts at drawing a key whose public id is not taken yet (a collision of 8 random base62
/// characters is already unlikely once).
pub(crate) const ISSUE_ATTEMPTS: usize = 3;

/// Random characters in a key body (the core's key format).
const KEY_BODY_LEN: usize = 40;

/// The message of every refused credential, whatever the reason (malformed, unknown, revoked,
/// wrong secret), so callers cannot tell the cases apart.
pub const INVALID_KEY_MESSAGE: &str = "invalid API key";

/// The error for every refused API key.
pub(crate) fn invalid_key() -> Error {
    Error::new(ErrorCode::Unauthenticated, INVALID_KEY_MESSAGE)
}

/// A fresh key with 40 base62 characters from the operating system's CSPRNG.
///
/// `OsRng` panics only if the operating system cannot supply randomness at all, in which case
/// no key could be issued safely anyway.
pub(crate) fn generate_key(env: KeyEnv) -> Option<ApiKey> {
    let body: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(KEY_BODY_LEN)
        .map(char::from)
        .collect();
    ApiKey::assemble(env, &body)
}

/// SHA-256 of the full key text; the only form of the secret that is stored.
pub(crate) fn hash_key(key: &ApiKey) -> [u8; 32] {
    Sha256::digest(key.expose_secret().as_bytes()).into()
}

/// Compares a stored hash with a presented key's hash in constant time.
pub(crate) fn hashes_match(stored: &[u8], presented: &[u8; 32]) -> bool {
    bool::from(stored.ct_eq(presented.as_slice()))
}

/// Parses a stored role.
pub(crate) fn parse_role(text: &str) -> Option<Role> {
    match text {
        "user" => Some(Role::User),
        "admin" => Some(Role::Admin),
        _ => None,
    }
}

/// A stored key as the authenticator reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub(crate) user_id: String,
    pub(crate) role: String,
    pub(crate) key_hash: Vec<u8>,
    pub(crate) revoked_at_ms: Option<i64>,
}

/// A stored key as listings read it.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyInfoRow {
    public_id: String,
    user_id: String,
    role: String,
    last_four: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
    last_used_at_ms: Option<i64>,
}

/// A stored role, refusing names this version does not know.
pub(crate) fn role_of(text: &str) -> Result<Role, StoreError> {
    parse_role(text).ok_or_else(|| StoreError::Corrupt {
        field: "role",
        reason: format!("unknown role {text:?}"),
    })
}

impl TryFrom<KeyInfoRow> for KeyInfo {
    type Error = StoreError;

    fn try_from(row: KeyInfoRow) -> Result<Self, StoreError> {
        Ok(KeyInfo {
            role: role_of(&row.role)?,
            public_id: row.public_id,
            user: row.user_id,
            last_four: row.last_four,
            created_at_ms: row.created_at_ms,
            revoked_at_ms: row.revoked_at_ms,
            last_used_at_ms: row.last_used_at_ms,
        })
    }
}

/// Checks a presented key against its stored row (`None`: no key has its public id): the
/// hashes are compared in constant time, against a dummy hash when the row is missing, so an
/// unknown id costs the same as a wrong secret; every refusal is the same error.
pub(crate) fn verify(key: &ApiKey, row: Option<KeyRow>) -> artgen_core::Result<Principal> {
    let presented = hash_key(key);
    let stored = row.as_ref().map_or(&[0_u8; 32][..], |r| &r.key_hash[..]);
    let matches = hashes_match(stored, &presented);
    let Some(row) = row.filter(|r| matches && r.revoked_at_ms.is_none()) else {
        return Err(invalid_key());
    };
    let role = role_of(&row.role)?;
    Ok(Principal::new(row.user_id, role).with_credential_id(key.public_id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = generate_key(KeyEnv::Live).expect("40 alphanumerics assemble");
        let b = generate_key(KeyEnv::Live).expect("40 alphanumerics assemble");
        assert_eq!(ApiKey::parse(a.expose_secret()), Some(a.clone()));
        assert_ne!(a, b);
    }

    #[test]
    fn hashes_match_only_the_same_key() {
        let a = generate_key(KeyEnv::Test).expect("assembles");
        let b = generate_key(KeyEnv::Test).expect("assembles");
        assert!(hashes_match(&hash_key(&a), &hash_key(&a)));
        assert!(!hashes_match(&hash_key(&b), &hash_key(&a)));
        assert!(!hashes_match(&[], &hash_key(&a)));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(parse_role(role.as_str()), Some(role));
        }
        assert_eq!(parse_role("root"), None);
    }
}
