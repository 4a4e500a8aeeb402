//! The API key format: `ag_<env>_<40 base62 chars><6 base62 checksum chars>`.
//!
//! The checksum (CRC-32 of everything before it) lets ArtGen refuse a mistyped or made-up key
//! without touching the database, and lets secret scanners recognise leaked keys. The first
//! eight characters of the body are the key's public id, stored in clear to find the row.

use std::fmt;

const BODY_LEN: usize = 40;
const CHECKSUM_LEN: usize = 6;
const PUBLIC_ID_LEN: usize = 8;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether a key is for production or tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEnv {
    /// `ag_live_`.
    Live,
    /// `ag_test_`.
    Test,
}

impl KeyEnv {
    const fn prefix(self) -> &'static str {
        match self {
            Self::Live => "ag_live_",
            Self::Test => "ag_test_",
        }
    }
}

/// A well-formed API key (checksum verified). Its `Debug` and `Display` show only the public
/// id, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    full: String,
    env: KeyEnv,
}

fn checksum(text: &str) -> String {
    let mut value = crc32fast::hash(text.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|b| char::from(*b)).collect()
}

impl ApiKey {
    /// Builds a key from 40 base62 characters of randomness (the caller supplies a CSPRNG).
    ///
    /// Returns `None` when `body` is not exactly 40 base62 characters.
    pub fn assemble(env: KeyEnv, body: &str) -> Option<Self> {
        if body.len() != BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let head = format!("{}{}", env.prefix(), body);
        let full = format!("{head}{}", checksum(&head));
        Some(Self { full, env })
    }

    /// Parses a presented key, checking shape and checksum (no database needed).
    ///
    /// Returns `None` for anything malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let env = [KeyEnv::Live, KeyEnv::Test]
            .into_iter()
            .find(|e| text.starts_with(e.prefix()))?;
        let rest = &text[env.prefix().len()..];
        if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let (head, sum) = text.split_at(text.len() - CHECKSUM_LEN);
        (checksum(head) == sum).then(|| Self {
            full: text.to_owned(),
            env,
        })
    }

    /// The public id: prefix plus the first eight body characters (e.g. `ag_live_Ab12Cd34`).
    pub fn public_id(&self) -> &str {
        &self.full[..self.env.prefix().len() + PUBLIC_ID_LEN]
    }

    /// The last four characters, for display.
    pub fn last_four(&self) -> &str {
        &self.full[self.full.len() - 4..]
    }

    /// The whole secret. Handle with care: show it once, store only its hash.
    pub fn expose_secret(&self) -> &str {
        &self.full
    }

    /// The environment.
    pub fn env(&self) -> KeyEnv {
        self.env
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.public_id())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.public_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "abcdefghijABCDEFGHIJ0123456789klmnopqrst";

    #[test]
    fn assembled_keys_parse_back() {
        let key = ApiKey::assemble(KeyEnv::Live, BODY).expect("valid body");
        let parsed = ApiKey::parse(key.expose_secret()).expect("checksum holds");
        assert_eq!(parsed, key);
        assert_eq!(key.public_id(), "ag_live_abcdefgh");
        assert!(key.expose_secret().starts_with("ag_live_"));
    }

    #[test]
    fn corrupted_checksum_is_refused() {
        let key = ApiKey::assemble(KeyEnv::Test, BODY).expect("valid body");
        let mut text = key.expose_secret().to_owned();
        let last = text.pop().expect("non-empty");
        text.push(if last == 'a' { 'b' } else { 'a' });
        assert!(ApiKey::parse(&text).is_none());
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let key = ApiKey::assemble(KeyEnv::Live, BODY).expect("valid body");
        assert!(!format!("{key:?}").contains(BODY));
        assert!(!key.to_string().contains(BODY));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for text in [
            "",
            "ag_live_",
            "sk-abc",
            "ag_prod_abcdefghijABCDEFGHIJ0123456789klmnopqrst000000",
        ] {
            assert!(ApiKey::parse(text).is_none(), "{text}");
        }
    }

    proptest::proptest! {
        /// Parsing arbitrary text never panics, and only checksummed keys get through.
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,80}", body in "[A-Za-z0-9]{40}") {
            if let Some(key) = ApiKey::parse(&text) {
                proptest::prop_assert_eq!(key.expose_secret(), text.as_str());
            }
            let key = ApiKey::assemble(KeyEnv::Live, &body).expect("valid body");
            proptest::prop_assert_eq!(ApiKey::parse(key.expose_secret()), Some(key.clone()));
            let mut flipped = key.expose_secret().to_owned();
            let last = flipped.pop().expect("non-empty");
            flipped.push(if last == '0' { '1' } else { '0' });
            proptest::prop_assert!(ApiKey::parse(&flipped).is_none(), "one changed character breaks the checksum");
        }
    }
}
