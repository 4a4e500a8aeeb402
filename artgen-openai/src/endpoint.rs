//! Where a call goes and how it authenticates, per [`ApiFlavor`]:
//!
//! - OpenAI: `{base_url}/images/{operation}`, `Authorization: Bearer <key>`;
//! - Azure: `{base_url}/openai/deployments/{deployment}/images/{operation}
//!   ?api-version={api_version}`, `api-key: <key>`.
//!
//! The key header is built once, marked sensitive (so `Debug` of a request or of this type
//! never shows it) and never logged.

use std::collections::BTreeMap;

use artgen_core::domain::ModelSpec;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::Url;
use secrecy::ExposeSecret as _;

use crate::config::{ApiFlavor, OpenAiConfig};
use crate::error::OpenAiError;

/// An operation of the Images API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `images/generations`.
    Generations,
    /// `images/edits`.
    Edits,
    /// `images/variations`.
    Variations,
}

impl Endpoint {
    /// The last path segment.
    const fn segment(self) -> &'static str {
        match self {
            Self::Generations => "generations",
            Self::Edits => "edits",
            Self::Variations => "variations",
        }
    }
}

/// The checked destination of every call: base URL, dialect and key header.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    flavor: ApiFlavor,
    base: Url,
    api_version: String,
    deployments: BTreeMap<String, String>,
    auth_name: HeaderName,
    auth_value: HeaderValue,
}

impl Target {
    /// Checks the config's base URL, key and Azure settings.
    ///
    /// # Errors
    /// [`OpenAiError::InvalidConfig`] naming `base_url` (not http(s), or with a query or
    /// fragment), `api_key` (empty, or not sendable in a header), `api_version` (empty, Azure)
    /// or `deployments` (an empty deployment name).
    pub(crate) fn new(config: &OpenAiConfig) -> Result<Self, OpenAiError> {
        let invalid = |field, reason: &str| OpenAiError::InvalidConfig {
            field,
            reason: reason.to_owned(),
        };
        let trimmed = config.base_url.trim_end_matches('/');
        let mut base = Url::parse(trimmed).map_err(|err| invalid("base_url", &err.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.path_segments_mut().is_err() {
            return Err(invalid("base_url", "must be an http or https URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("base_url", "must not have a query or fragment"));
        }
        let key = config.api_key.expose_secret();
        if key.is_empty() {
            return Err(invalid("api_key", "must not be empty"));
        }
        let (auth_name, value) = match config.flavor {
            ApiFlavor::OpenAi => (AUTHORIZATION, format!("Bearer {key}")),
            ApiFlavor::Azure => (HeaderName::from_static("api-key"), key.to_owned()),
        };
        let mut auth_value = HeaderValue::from_str(&value)
            .map_err(|_| invalid("api_key", "must be printable ASCII without line breaks"))?;
        auth_value.set_sensitive(true);
        if config.flavor == ApiFlavor::Azure {
            if config.api_version.trim().is_empty() {
                return Err(invalid("api_version", "must not be empty for Azure"));
            }
            if config.deployments.values().any(|d| d.trim().is_empty()) {
                return Err(invalid("deployments", "deployment names must not be empty"));
            }
        }
        Ok(Self {
            flavor: config.flavor,
            base,
            api_version: config.api_version.trim().to_owned(),
            deployments: config.deployments.clone(),
            auth_name,
            auth_value,
        })
    }

    /// The URL of `endpoint` for `model` (Azure picks the model's deployment).
    pub(crate) fn url(&self, endpoint: Endpoint, model: &ModelSpec) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            if self.flavor == ApiFlavor::Azure {
                let deployment = self
                    .deployments
                    .get(&model.id)
                    .unwrap_or(&model.upstream_id);
                segments.extend(["openai", "deployments", deployment.as_str()]);
            }
            segments.extend(["images", endpoint.segment()]);
        }
        if self.flavor == ApiFlavor::Azure {
            url.query_pairs_mut()
                .append_pair("api-version", &self.api_version);
        }
        url
    }

    /// The key header (`Authorization` or `api-key`), marked sensitive.
    pub(crate) fn auth(&self) -> (HeaderName, HeaderValue) {
        (self.auth_name.clone(), self.auth_value.clone())
    }
}

#[cfg(test)]
mod tests {
    use artgen_core::domain::Catalog;

    use super::*;

    fn model(id: &str) -> ModelSpec {
        let catalog = Catalog::default();
        catalog.get(id).expect("known model").as_ref().clone()
    }

    #[test]
    fn joins_openai_paths_whatever_the_trailing_slash() {
        for base in ["http://localhost:9/v1/", "http://localhost:9/v1"] {
            let config = OpenAiConfig::default()
                .with_base_url(base)
                .with_api_key("k");
            let target = Target::new(&config).expect("valid");

            let url = target.url(Endpoint::Edits, &model("gpt-image-1"));

            assert_eq!(url.as_str(), "http://localhost:9/v1/images/edits");
        }
    }

    #[test]
    fn azure_urls_name_the_deployment_and_the_api_version() {
        let config = OpenAiConfig::azure("https://r.openai.azure.com/", "k")
            .with_api_version("2025-04-01-preview")
            .with_deployment("gpt-image-1", "images prod");
        let target = Target::new(&config).expect("valid");

        let mapped = target.url(Endpoint::Generations, &model("gpt-image-1"));
        let fallback = target.url(Endpoint::Variations, &model("dall-e-2"));

        assert_eq!(
            mapped.as_str(),
            "https://r.openai.azure.com/openai/deployments/images%20prod/images/generations\
             ?api-version=2025-04-01-preview"
        );
        assert_eq!(
            fallback.path(),
            "/openai/deployments/dall-e-2/images/variations"
        );
        assert_eq!(target.auth().0.as_str(), "api-key");
        assert!(target.auth().1.is_sensitive());
    }

    #[test]
    fn refuses_azure_settings_that_cannot_work() {
        let no_version =
            OpenAiConfig::azure("https://r.openai.azure.com", "k").with_api_version("");
        let empty_deployment = OpenAiConfig::azure("https://r.openai.azure.com", "k")
            .with_deployment("gpt-image-1", "");
        let bad_key = OpenAiConfig::default().with_api_key("sk\nx");

        for (config, expected) in [
            (no_version, "api_version"),
            (empty_deployment, "deployments"),
            (bad_key, "api_key"),
        ] {
            match Target::new(&config) {
                Err(OpenAiError::InvalidConfig { field, .. }) => assert_eq!(field, expected),
                other => panic!("expected InvalidConfig({expected}), got {other:?}"),
            }
        }
    }
}
