//! Configuration of the OpenAI provider: a typed serde struct with defaults and `with_*`
//! setters. The library never reads the environment; the binary fills this in.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

/// Which dialect of the Image API the upstream speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiFlavor {
    /// OpenAI and compatible servers: `POST {base_url}/images/{operation}` with
    /// `Authorization: Bearer <key>`.
    #[default]
    OpenAi,
    /// Azure OpenAI: `POST {base_url}/openai/deployments/{deployment}/images/{operation}
    /// ?api-version={api_version}` with `api-key: <key>`.
    Azure,
}

impl ApiFlavor {
    /// The config name (`openai`, `azure`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Azure => "azure",
        }
    }
}

/// How to reach an OpenAI, Azure OpenAI or OpenAI-compatible Image API.
///
/// Durations are written in seconds (`timeout = 600`, `connect_timeout = 2.5`). Unknown fields
/// are refused so that a typo in a config file fails at startup.
///
/// An Azure OpenAI resource, as TOML:
///
/// ```toml
/// name = "azure"
/// kind = "azure"
/// base_url = "https://my-resource.openai.azure.com"
/// api_key = "..."
/// api_version = "2025-04-01-preview"
/// deployments = { "gpt-image-1" = "images-prod" }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Name of this provider in logs, metrics and usage rows.
    pub name: String,
    /// The dialect (serde name `kind`: `"openai"`, the default, or `"azure"`).
    #[serde(rename = "kind")]
    pub flavor: ApiFlavor,
    /// Base URL. OpenAI: up to and including the version, e.g. `https://api.openai.com/v1`.
    /// Azure: the resource's endpoint, e.g. `https://my-resource.openai.azure.com`.
    pub base_url: String,
    /// The API key, sent as `Authorization: Bearer <key>` (OpenAI) or `api-key: <key>` (Azure).
    /// Its `Debug` is redacted and it serialises as [`OpenAiConfig::REDACTED`].
    #[serde(serialize_with = "redacted")]
    pub api_key: SecretString,
    /// Azure only: the `api-version` query parameter of every call.
    pub api_version: String,
    /// Azure only: deployment name per ArtGen model id. A model not listed is sent to the
    /// deployment named like its upstream id.
    pub deployments: BTreeMap<String, String>,
    /// Deadline for one whole call, from connecting to the last byte of the answer (for a
    /// stream: to its last event).
    #[serde(with = "crate::seconds")]
    pub timeout: Duration,
    /// Deadline for opening the connection.
    #[serde(with = "crate::seconds")]
    pub connect_timeout: Duration,
    /// Largest answer read from the upstream (which is not trusted), in bytes; for a stream,
    /// the largest single event.
    pub max_response_bytes: usize,
    /// Success answers read, decoded and held at once (at least 1): an answer takes a slot
    /// when its headers arrive and gives it back when the last copy of its decoded images is
    /// dropped (ArtGen: once stored and answered); more answers wait, their bodies unread in
    /// the socket. Bounds the memory of answers that land together to about this many times
    /// two copies of an answer. A caller that keeps image bytes for long should copy them.
    pub max_concurrent_reads: usize,
}

impl OpenAiConfig {
    /// Default [`OpenAiConfig::name`].
    pub const DEFAULT_NAME: &'static str = "openai";
    /// What a serialised config holds instead of its [`OpenAiConfig::api_key`].
    pub const REDACTED: &'static str = "[redacted]";
    /// Default [`OpenAiConfig::base_url`].
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    /// Default [`OpenAiConfig::api_version`] (Azure's first version with image edits and
    /// gpt-image-1).
    pub const DEFAULT_API_VERSION: &'static str = "2025-04-01-preview";
    /// Default [`OpenAiConfig::timeout`]: 600 s, as the official SDKs.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
    /// Default [`OpenAiConfig::connect_timeout`]: 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`OpenAiConfig::max_response_bytes`]: 256 MiB (ten large base64 images fit).
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
    /// Default [`OpenAiConfig::max_concurrent_reads`]: 16 (about 50 MB of 1.5 MB answers;
    /// on the image-regime bench, 1,000 large answers landing together finish as fast as with
    /// 32, at a lower and steadier peak).
    pub const DEFAULT_MAX_CONCURRENT_READS: usize = 16;

    /// An Azure OpenAI config for a resource endpoint and key, with the default API version.
    #[must_use]
    pub fn azure(base_url: impl Into<String>, api_key: impl Into<SecretString>) -> Self {
        Self {
            name: ApiFlavor::Azure.as_str().to_owned(),
            flavor: ApiFlavor::Azure,
            ..Self::default()
        }
        .with_base_url(base_url)
        .with_api_key(api_key)
    }

    /// Sets the provider's name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the dialect.
    #[must_use]
    pub fn with_flavor(mut self, flavor: ApiFlavor) -> Self {
        self.flavor = flavor;
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

    /// Sets Azure's `api-version`.
    #[must_use]
    pub fn with_api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// Maps an ArtGen model id to an Azure deployment name.
    #[must_use]
    pub fn with_deployment(
        mut self,
        model: impl Into<String>,
        deployment: impl Into<String>,
    ) -> Self {
        self.deployments.insert(model.into(), deployment.into());
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

    /// Sets how many success answers are read, decoded and held at once.
    #[must_use]
    pub fn with_max_concurrent_reads(mut self, max_concurrent_reads: usize) -> Self {
        self.max_concurrent_reads = max_concurrent_reads;
        self
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            name: Self::DEFAULT_NAME.to_owned(),
            flavor: ApiFlavor::default(),
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: SecretString::default(),
            api_version: Self::DEFAULT_API_VERSION.to_owned(),
            deployments: BTreeMap::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            max_concurrent_reads: Self::DEFAULT_MAX_CONCURRENT_READS,
        }
    }
}

/// Serialises a secret as [`OpenAiConfig::REDACTED`], never as itself.
fn redacted<S: Serializer>(_secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(OpenAiConfig::REDACTED)
}

impl fmt::Display for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.name, self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    const KEY: &str = "sk-live-do-not-print-me";

    #[test]
    fn debug_and_display_of_the_config_never_contain_the_key() {
        let config = OpenAiConfig::default().with_api_key(KEY);

        let debug = format!("{config:?}");
        let display = config.to_string();

        assert!(!debug.contains(KEY), "Debug leaked the key: {debug}");
        assert!(!display.contains(KEY), "Display leaked the key: {display}");
        assert!(debug.contains("REDACTED"), "{debug}");
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
        assert!(config.api_key.expose_secret().is_empty());
        assert_eq!(config.timeout, Duration::from_secs(600));
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.max_response_bytes, 256 * 1024 * 1024);
        assert_eq!(config.max_concurrent_reads, 16);
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
    fn reads_the_azure_flavor_with_its_deployments() {
        let json = r#"{"kind":"azure","base_url":"https://r.openai.azure.com","api_key":"k",
            "deployments":{"gpt-image-1":"images-prod"}}"#;

        let config: OpenAiConfig = serde_json::from_str(json).expect("valid config");

        assert_eq!(config.flavor, ApiFlavor::Azure);
        assert_eq!(config.api_version, OpenAiConfig::DEFAULT_API_VERSION);
        assert_eq!(config.deployments["gpt-image-1"], "images-prod");
        assert_eq!(OpenAiConfig::default().flavor, ApiFlavor::OpenAi);
        let openai: OpenAiConfig = serde_json::from_str(r#"{"kind":"openai"}"#).expect("valid");
        assert_eq!(openai.flavor, ApiFlavor::OpenAi);
        assert!(serde_json::from_str::<OpenAiConfig>(r#"{"kind":"gcp"}"#).is_err());
    }

    #[test]
    fn refuses_negative_durations_and_unknown_fields() {
        let negative = serde_json::from_str::<OpenAiConfig>(r#"{"timeout":-1}"#);
        let typo = serde_json::from_str::<OpenAiConfig>(r#"{"time_out":5}"#);

        assert!(negative.is_err());
        assert!(typo.is_err());
    }
}
