//! [`SecretString`]: an API key that never prints itself.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret (an API key) that never shows itself: `Debug`, `Display` and `Serialize` all print
/// `[redacted]`. Read it only where it is sent, with [`SecretString::expose_secret`].
#[derive(Clone, Default)]
pub struct SecretString(String);

impl SecretString {
    /// What `Debug`, `Display` and `Serialize` print instead of the secret.
    pub const REDACTED: &'static str = "[redacted]";

    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Call it only to send the secret, never to log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (e.g. an unset environment variable).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::REDACTED)
    }
}
