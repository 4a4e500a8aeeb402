//! Configuration of the OpenAI provider: a typed serde struct with defaults and `with_*`
//! setters. The library never reads the environment; the binary fills this in.

use std::fmt;
use std::time::Duration;

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

/// How to reach an OpenAI (or OpenAI-compatible) Image API.
///
/// Durations are written in seconds (`timeout = 600`, `connect_timeout = 2.5`). Unknown fields
/// are refused so that a typo in a config file fails at startup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Name of this provider in logs, metrics and usage rows.
    pub name: String,
    /// Base URL up to and including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The API key, sent as `Authorization: Bearer <key>`.
    pub api_key: SecretString,
    /// Deadline for one whole call, from connecting to the last byte of the answer.
    #[serde(with = "seconds")]
    pub timeout: Duration,
    /// Deadline for opening the connection.
    #[serde(with = "seconds")]
    pub connect_timeout: Duration,
    /// Largest answer read from the upstream (which is not trusted), in bytes.
    pub max_response_bytes: usize,
}

impl OpenAiConfig {
    /// Default [`OpenAiConfig::name`].
    pub const DEFAULT_NAME: &'static str = "openai";
    /// Default [`OpenAiConfig::base_url`].
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    /// Default [`OpenAiConfig::timeout`]: 600 s, as the official SDKs.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
    /// Default [`OpenAiConfig::connect_timeout`]: 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`OpenAiConfig::max_response_bytes`]: 256 MiB (ten large base64 images fit).
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

    /// Sets the provider's name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the base URL (a trailing `/` is ignored).
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets the API key.
    #[must_use]
    pub fn with_api_key(mut self, api_key: impl Into<SecretString>) -> Self {
        self.api_key = api_key.into();
        self
    }

    /// Sets the deadline of one whole call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the deadline for opening the connection.
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets the largest answer read from the upstream.
    #[must_use]
    pub fn with_max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            name: Self::DEFAULT_NAME.to_owned(),
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: SecretString::default(),
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl fmt::Display for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.name, self.base_url)
    }
}

/// Durations as seconds: whole seconds are written as integers, others as floats; numbers and
/// numeric strings (as environment variables give them) are read.
mod seconds {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() == 0 {
            s.serialize_u64(d.as_secs())
        } else {
            s.serialize_f64(d.as_secs_f64())
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(Seconds)
    }

    struct Seconds;

    impl Visitor<'_> for Seconds {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative number of seconds")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_secs)
                .map_err(|_| E::custom("seconds must not be negative"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(v).map_err(|_| E::custom("seconds must be 0 or more"))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            let secs: f64 = v
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("'{v}' is not a number of seconds")))?;
            self.visit_f64(secs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-live-do-not-print-me";

    #[test]
    fn debug_and_display_of_the_config_never_contain_the_key() {
        let config = OpenAiConfig::default().with_api_key(KEY);

        let debug = format!("{config:?}");
        let display = config.to_string();

        assert!(!debug.contains(KEY), "Debug leaked the key: {debug}");
        assert!(!display.contains(KEY), "Display leaked the key: {display}");
        assert!(debug.contains("[redacted]"));
        assert_eq!(config.api_key.expose_secret(), KEY);
    }

    #[test]
    fn serialising_the_config_redacts_the_key() {
        let config = OpenAiConfig::default().with_api_key(KEY);

        let json = serde_json::to_string(&config).expect("config serialises");

        assert!(!json.contains(KEY));
        assert!(json.contains(r#""api_key":"[redacted]""#));
        assert!(json.contains(r#""timeout":600"#));
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = OpenAiConfig::default();

        assert_eq!(config.name, "openai");
        assert_eq!(config.base_url, "https://api.openai.com/v1");
        assert!(config.api_key.is_empty());
        assert_eq!(config.timeout, Duration::from_secs(600));
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.max_response_bytes, 256 * 1024 * 1024);
    }

    #[test]
    fn deserialises_seconds_from_numbers_and_strings_and_fills_defaults() {
        let json = r#"{"api_key":"sk-x","timeout":120,"connect_timeout":"2.5","name":"main"}"#;

        let config: OpenAiConfig = serde_json::from_str(json).expect("valid config");

        assert_eq!(config.api_key.expose_secret(), "sk-x");
        assert_eq!(config.timeout, Duration::from_secs(120));
        assert_eq!(config.connect_timeout, Duration::from_millis(2500));
        assert_eq!(config.name, "main");
        assert_eq!(config.base_url, OpenAiConfig::DEFAULT_BASE_URL);
    }

    #[test]
    fn refuses_negative_durations_and_unknown_fields() {
        let negative = serde_json::from_str::<OpenAiConfig>(r#"{"timeout":-1}"#);
        let typo = serde_json::from_str::<OpenAiConfig>(r#"{"time_out":5}"#);

        assert!(negative.is_err());
        assert!(typo.is_err());
    }
}
