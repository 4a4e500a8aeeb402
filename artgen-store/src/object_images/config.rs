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
}

impl ImagesUrl {
    /// Parses an `images_url`; unset or blank is the default local folder.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] for another scheme, naming what this build supports:
    /// Google Cloud Storage (`gs://`) and Azure (`az://`, `azure://`, `abfs://`) are not built
    /// in (their S3-compatible endpoints work through `s3://` and `AWS_ENDPOINT_URL`).
    pub fn parse(url: Option<&str>) -> Result<Self, StoreError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self::File(None));
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            StoreError::InvalidConfig(format!(
                "images_url {url:?}: expected file://<folder> or s3://<bucket>[/<prefix>]"
            ))
        })?;
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Self::File((!rest.is_empty()).then(|| PathBuf::from(rest)))),
            "s3" | "s3a" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() || bucket.contains(['?', '#', '@']) {
                    return Err(StoreError::InvalidConfig(format!(
                        "images_url {url:?}: expected s3://<bucket>[/<prefix>]"
                    )));
                }
                Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                })
            }
            "gs" | "az" | "azure" | "abfs" | "abfss" => Err(StoreError::InvalidConfig(format!(
                "images_url {url:?}: this ArtGen is built with the S3 backend only (file:// and \
                 s3://); for Google Cloud Storage or Azure use an S3-compatible endpoint with \
                 s3:// and AWS_ENDPOINT_URL"
            ))),
            other => Err(StoreError::InvalidConfig(format!(
                "images_url {url:?}: unknown scheme {other:?}; expected file:// or s3://"
            ))),
        }
    }
}

/// How [`ObjectImageStore::s3`](super::ObjectImageStore::s3) reaches a bucket.
///
/// `options` are the S3 builder's settings under their standard environment names
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, ...); the binary
/// collects them from its environment, this crate never reads it. Unknown names are ignored,
/// as the AWS tools do. Without keys the builder uses the instance or pod credentials.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStoreConfig {
    /// `s3://bucket[/prefix]`.
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
    /// A configuration for `url` (`s3://bucket[/prefix]`).
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

    /// Sets every `AWS_*` pair of `vars` (e.g. `std::env::vars()`, in the binary).
    #[must_use]
    pub fn with_aws_options(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.options.extend(
            vars.into_iter()
                .filter(|(name, _)| name.starts_with("AWS_")),
        );
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
    fn other_clouds_say_what_this_build_supports() {
        for url in ["gs://bucket", "az://container", "abfss://x@y/z"] {
            let err = ImagesUrl::parse(Some(url))
                .expect_err("not built in")
                .to_string();
            assert!(err.contains("S3 backend only"), "{err}");
        }
        let err = ImagesUrl::parse(Some("ftp://x"))
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("unknown scheme"), "{err}");
    }

    #[test]
    fn debug_shows_option_names_but_never_their_values() {
        let config = ObjectStoreConfig::new("s3://art").with_aws_options([
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "hunter2".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ]);
        let shown = format!("{config:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            !shown.contains("HOME"),
            "only AWS_ names are taken: {shown}"
        );
    }
}
