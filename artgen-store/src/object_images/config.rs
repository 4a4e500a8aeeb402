//! Where images live (`images_url`) and how the S3 client is configured.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::StoreError;

/// The image store an `images_url` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagesUrl {
    /// A local folder: `file:///var/lib/artgen/images`, or the default folder when unset.
    File(Option<PathBuf>),
    /// An S3 bucket (AWS, MinIO, Ceph, R2, ...): `s3://bucket` or `s3://bucket/prefix`.
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix inside it, without leading or trailing `/` (may be empty).
        prefix: String,
    },
    /// A Google Cloud Storage bucket: `gs://bucket[/prefix]`.
    Gcs {
        /// The bucket.
        bucket: String,
        /// Key prefix inside it, without leading or trailing `/` (may be empty).
        prefix: String,
    },
    /// An Azure Blob Storage container: `az://container[/prefix]` (or `azure://`); the
    /// account comes from `AZURE_STORAGE_ACCOUNT_NAME`.
    Azure {
        /// The container.
        container: String,
        /// Blob name prefix inside it, without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

/// What the schemes this build knows look like, for error messages.
const EXPECTED: &str = "file://<folder>, s3://<bucket>[/<prefix>], gs://<bucket>[/<prefix>] \
    or az://<container>[/<prefix>]";

impl ImagesUrl {
    /// Parses an `images_url`; unset or blank is the default local folder.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] for another scheme or a URL without a bucket, naming
    /// the forms this build supports.
    pub fn parse(url: Option<&str>) -> Result<Self, StoreError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self::File(None));
        };
        let invalid =
            || StoreError::InvalidConfig(format!("images_url {url:?}: expected {EXPECTED}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
        let bucket_and_prefix = || {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || bucket.contains(['?', '#', '@']) {
                return Err(invalid());
            }
            Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Self::File((!rest.is_empty()).then(|| PathBuf::from(rest)))),
            "s3" | "s3a" => {
                let (bucket, prefix) = bucket_and_prefix()?;
                Ok(Self::S3 { bucket, prefix })
            }
            "gs" => {
                let (bucket, prefix) = bucket_and_prefix()?;
                Ok(Self::Gcs { bucket, prefix })
            }
            "az" | "azure" => {
                let (container, prefix) = bucket_and_prefix()?;
                Ok(Self::Azure { container, prefix })
            }
            "abfs" | "abfss" => Err(StoreError::InvalidConfig(format!(
                "images_url {url:?}: write Azure containers as az://<container>[/<prefix>], \
                 with the account in AZURE_STORAGE_ACCOUNT_NAME"
            ))),
            other => Err(StoreError::InvalidConfig(format!(
                "images_url {url:?}: unknown scheme {other:?}; expected {EXPECTED}"
            ))),
        }
    }
}

/// How [`ObjectImageStore::from_config`](super::ObjectImageStore::from_config) reaches a
/// bucket.
///
/// `options` are the backend builder's settings under their standard environment names: for
/// S3 `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, ...; for Google
/// Cloud Storage `GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_KEY`,
/// `GOOGLE_APPLICATION_CREDENTIALS`, ...; for Azure `AZURE_STORAGE_ACCOUNT_NAME`,
/// `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_SAS_KEY`, `AZURE_CLIENT_ID`, ... The binary
/// collects them from its environment, this crate never reads it. Names the selected
/// backend does not know are ignored, as the clouds' own tools do. Without keys each builder
/// uses the instance, pod or workload identity.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStoreConfig {
    /// `s3://`, `gs://` or `az://` with bucket (container) and optional prefix.
    pub url: String,
    /// Builder settings by environment name. Values may be secrets: `Debug` shows names only.
    pub options: BTreeMap<String, String>,
    /// Attempts after a failed request (5xx, connection errors), with backoff.
    pub max_retries: usize,
    /// Longest time spent retrying one request, seconds.
    pub retry_timeout_secs: u64,
    /// Timeout of one request, seconds.
    pub request_timeout_secs: u64,
}

impl Default for ObjectStoreConfig {
    /// No bucket; 3 retries within 15 s; 60 s per request.
    fn default() -> Self {
        Self {
            url: String::new(),
            options: BTreeMap::new(),
            max_retries: 3,
            retry_timeout_secs: 15,
            request_timeout_secs: 60,
        }
    }
}

impl std::fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreConfig")
            .field("url", &self.url)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("max_retries", &self.max_retries)
            .field("retry_timeout_secs", &self.retry_timeout_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .finish()
    }
}

impl ObjectStoreConfig {
    /// A configuration for `url` (`s3://`, `gs://` or `az://`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Sets one builder option by its environment name, e.g. `AWS_ENDPOINT_URL`.
    #[must_use]
    pub fn with_option(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(name.into(), value.into());
        self
    }

    /// Sets every `AWS_*`, `GOOGLE_*` and `AZURE_*` pair of `vars` (e.g. `std::env::vars()`,
    /// in the binary): each backend takes the names it knows.
    #[must_use]
    pub fn with_cloud_options(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.options.extend(vars.into_iter().filter(|(name, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        }));
        self
    }

    /// Sets the retries after a failed request and the longest time spent on them.
    #[must_use]
    pub fn with_retries(mut self, max_retries: usize, within: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_timeout_secs = within.as_secs();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_blank_and_file_urls_are_local_folders() {
        assert_eq!(ImagesUrl::parse(None).expect("ok"), ImagesUrl::File(None));
        assert_eq!(
            ImagesUrl::parse(Some(" ")).expect("ok"),
            ImagesUrl::File(None)
        );
        assert_eq!(
            ImagesUrl::parse(Some("file:///srv/images")).expect("ok"),
            ImagesUrl::File(Some(PathBuf::from("/srv/images")))
        );
    }

    #[test]
    fn s3_urls_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(
            ImagesUrl::parse(Some("s3://art")).expect("ok"),
            ImagesUrl::S3 {
                bucket: "art".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            ImagesUrl::parse(Some("s3://art/prod/images/")).expect("ok"),
            ImagesUrl::S3 {
                bucket: "art".into(),
                prefix: "prod/images".into()
            }
        );
        assert!(ImagesUrl::parse(Some("s3:///images")).is_err());
    }

    #[test]
    fn gs_and_az_urls_name_a_bucket_or_container_and_a_prefix() {
        assert_eq!(
            ImagesUrl::parse(Some("gs://art/prod/")).expect("ok"),
            ImagesUrl::Gcs {
                bucket: "art".into(),
                prefix: "prod".into()
            }
        );
        for url in ["az://images/a/b", "AZURE://images/a/b/"] {
            assert_eq!(
                ImagesUrl::parse(Some(url)).expect("ok"),
                ImagesUrl::Azure {
                    container: "images".into(),
                    prefix: "a/b".into()
                }
            );
        }
        assert!(ImagesUrl::parse(Some("gs://")).is_err());
        assert!(ImagesUrl::parse(Some("az:///x")).is_err());
    }

    #[test]
    fn unknown_schemes_say_what_this_build_supports() {
        let err = ImagesUrl::parse(Some("ftp://x"))
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("unknown scheme"), "{err}");
        assert!(err.contains("gs://") && err.contains("az://"), "{err}");
        let err = ImagesUrl::parse(Some("abfss://c@account.dfs.core.windows.net/x"))
            .expect_err("abfs is written as az://")
            .to_string();
        assert!(err.contains("az://<container>"), "{err}");
    }

    #[test]
    fn cloud_options_take_the_three_clouds_names_only() {
        let config = ObjectStoreConfig::new("gs://art").with_cloud_options([
            ("GOOGLE_SERVICE_ACCOUNT".to_owned(), "/sa.json".to_owned()),
            ("AZURE_STORAGE_ACCOUNT_NAME".to_owned(), "acct".to_owned()),
            ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ]);
        let names: Vec<&str> = config.options.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "AWS_REGION",
                "AZURE_STORAGE_ACCOUNT_NAME",
                "GOOGLE_SERVICE_ACCOUNT"
            ]
        );
    }

    #[test]
    fn debug_shows_option_names_but_never_their_values() {
        let config = ObjectStoreConfig::new("s3://art").with_cloud_options([
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "hunter2".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ]);
        let shown = format!("{config:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            !shown.contains("HOME"),
            "only the clouds' names are taken: {shown}"
        );
    }
}
