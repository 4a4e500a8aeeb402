//! [`ImageStore`] on object storage (S3 and S3-compatible servers, Google Cloud Storage, Azure
//! Blob Storage), with the `object_store` crate.
//!
//! Layout under the bucket's prefix, the same as [`FsImageStore`](crate::FsImageStore)'s
//! folder, so a folder copied into a bucket (or back) is served as it was:
//! - `blobs/<first two hex digits>/<sha256>.<ext>`: the bytes, content-addressed, stored once
//!   for identical images, with their `Content-Type`;
//! - `meta/<image id>.json`: the [`ImageMeta`], the blob's SHA-256 and its length.
//!
//! An object PUT is atomic, so a reader sees a whole object or none; the blob is written
//! before the metadata that names it. A second `put` of an id finds its metadata and does
//! nothing (two replicas racing on one id both write the same image). Every read is checked
//! against the SHA-256: [`ImageStore::get`] refuses a damaged blob and [`ImageStore::open`]
//! ends its stream with an error. [`ImageStore::delete`] removes the metadata only: blobs are
//! shared by identical images. [`ImageStore::presign`] signs a `GET` of the blob (S3 query
//! signature, valid for the asked time, at most 7 days), so a client can fetch the bytes from
//! the bucket itself.
//!
//! Durability is the backend's: S3 answers a PUT once the object is stored redundantly.

mod config;

pub use config::{ImagesUrl, ObjectStoreConfig};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::{ImageId, OutputFormat};
use artgen_core::ports::{ImageHead, ImageMeta, ImageReader, ImageStore};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, PutOptions, PutPayload, RetryConfig,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::image_layout::{extension, is_sha256_hex};
use crate::verify::VerifiedBody;

/// What `meta/<id>.json` holds (a superset of the filesystem store's file).
#[derive(Serialize, Deserialize)]
struct StoredMeta {
    #[serde(flatten)]
    meta: ImageMeta,
    /// Lower-case hex SHA-256 of the image bytes (names the blob).
    sha256: String,
    /// The blob's length; absent in files written by the filesystem store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    len: Option<u64>,
}

/// Images in an object store, content-addressed by SHA-256.
#[derive(Clone)]
pub struct ObjectImageStore {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    /// Key prefix, without leading or trailing `/`; may be empty.
    prefix: String,
    /// What `Debug` and logs show: scheme, bucket and prefix, never credentials.
    name: String,
}

impl std::fmt::Debug for ObjectImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectImageStore")
            .field("location", &self.name)
            .field("presigns", &self.signer.is_some())
            .finish()
    }
}

fn is_not_found(err: &object_store::Error) -> bool {
    matches!(err, object_store::Error::NotFound { .. })
}

/// Timeouts of every request to the backend.
fn client_options(config: &ObjectStoreConfig) -> ClientOptions {
    ClientOptions::new()
        .with_timeout(Duration::from_secs(config.request_timeout_secs))
        .with_connect_timeout(Duration::from_secs(5))
}

/// Retries after a failed request (5xx, connection errors).
fn retry_config(config: &ObjectStoreConfig) -> RetryConfig {
    RetryConfig {
        max_retries: config.max_retries,
        retry_timeout: Duration::from_secs(config.retry_timeout_secs),
        ..RetryConfig::default()
    }
}

/// The options one backend knows, as its builder's keys. As the builders' own `from_env`:
/// names of other backends (and unknown names of this one) are someone else's.
fn known_options<K: FromStr>(config: &ObjectStoreConfig) -> impl Iterator<Item = (K, &str)> {
    config.options.iter().filter_map(|(name, value)| {
        K::from_str(&name.to_ascii_lowercase())
            .ok()
            .map(|key| (key, value.as_str()))
    })
}

/// A builder's refusal; option values are kept out of the message (they may be keys).
fn build_error(config: &ObjectStoreConfig, err: &object_store::Error) -> StoreError {
    StoreError::InvalidConfig(format!("images_url {}: {err}", config.url))
}

impl ObjectImageStore {
    /// A store over any `object_store` backend (e.g. `object_store::memory::InMemory` in
    /// tests), under `prefix`; `signer` signs direct links, when the backend can.
    pub fn new(store: Arc<dyn ObjectStore>, signer: Option<Arc<dyn Signer>>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/').to_owned();
        Self {
            name: format!("{store}/{prefix}"),
            store,
            signer,
            prefix,
        }
    }

    /// A store on the bucket (or container) of `config.url`: `s3://`, `gs://` or `az://`,
    /// configured from `config.options`. Does no I/O; [`ObjectImageStore::check`] does.
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] when the URL is not an object-store one or an option is
    /// invalid.
    pub fn from_config(config: &ObjectStoreConfig) -> Result<Self, StoreError> {
        match ImagesUrl::parse(Some(&config.url))? {
            ImagesUrl::S3 { bucket, prefix } => Self::s3(config, &bucket, &prefix),
            ImagesUrl::Gcs { bucket, prefix } => Self::gcs(config, &bucket, &prefix),
            ImagesUrl::Azure { container, prefix } => Self::azure(config, &container, &prefix),
            ImagesUrl::File(_) => Err(StoreError::InvalidConfig(format!(
                "{:?} is not an object-store URL (s3://, gs:// or az://)",
                config.url
            ))),
        }
    }

    fn s3(config: &ObjectStoreConfig, bucket: &str, prefix: &str) -> Result<Self, StoreError> {
        // Client options first: the builder replaces them whole, and options may refine them.
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_client_options(client_options(config));
        for (key, value) in known_options::<AmazonS3ConfigKey>(config) {
            builder = builder.with_config(key, value);
        }
        let s3 = builder
            .with_retry(retry_config(config))
            .build()
            .map_err(|e| build_error(config, &e))?;
        Ok(Self::named(Arc::new(s3), "s3", bucket, prefix))
    }

    fn gcs(config: &ObjectStoreConfig, bucket: &str, prefix: &str) -> Result<Self, StoreError> {
        let mut builder = GoogleCloudStorageBuilder::new()
            .with_bucket_name(bucket)
            .with_client_options(client_options(config));
        for (key, value) in known_options::<GoogleConfigKey>(config) {
            builder = builder.with_config(key, value);
        }
        let gcs = builder
            .with_retry(retry_config(config))
            .build()
            .map_err(|e| build_error(config, &e))?;
        Ok(Self::named(Arc::new(gcs), "gs", bucket, prefix))
    }

    fn azure(
        config: &ObjectStoreConfig,
        container: &str,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        let mut builder = MicrosoftAzureBuilder::new()
            .with_container_name(container)
            .with_client_options(client_options(config));
        for (key, value) in known_options::<AzureConfigKey>(config) {
            builder = builder.with_config(key, value);
        }
        let azure = builder
            .with_retry(retry_config(config))
            .build()
            .map_err(|e| build_error(config, &e))?;
        Ok(Self::named(Arc::new(azure), "az", container, prefix))
    }

    /// A store on `backend`, which also signs links, shown as `scheme://bucket/prefix`.
    fn named<B: ObjectStore + Signer>(
        backend: Arc<B>,
        scheme: &str,
        bucket: &str,
        prefix: &str,
    ) -> Self {
        let mut store = Self::new(backend.clone(), Some(backend), prefix);
        store.name = format!("{scheme}://{bucket}/{}", store.prefix);
        store
    }

    /// The location, for logs: `s3://bucket/prefix` (never credentials).
    pub fn location(&self) -> &str {
        &self.name
    }

    /// Checks that the bucket answers and the credentials are accepted, by looking for an
    /// object that does not exist.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the backend cannot be reached or refuses the request.
    pub async fn check(&self) -> Result<(), StoreError> {
        match self.store.head(&self.key("meta/.artgen-check")).await {
            Ok(_) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    fn key(&self, relative: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(relative)
        } else {
            Path::from(format!("{}/{relative}", self.prefix))
        }
    }

    fn meta_key(&self, id: &ImageId) -> Path {
        self.key(&format!("meta/{}.json", id.as_str()))
    }

    fn blob_key(&self, sha256: &str, format: OutputFormat) -> Path {
        self.key(&format!(
            "blobs/{}/{sha256}.{}",
            &sha256[..2],
            extension(format)
        ))
    }

    async fn put_image(&self, meta: &ImageMeta, bytes: Bytes) -> Result<(), StoreError> {
        let id = ImageId::parse(meta.id.as_str()).ok_or(StoreError::InvalidImageId)?;
        let meta_key = self.meta_key(&id);
        match self.store.head(&meta_key).await {
            Ok(_) => return Ok(()),
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(err.into()),
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let blob_key = self.blob_key(&sha256, meta.format);
        let len = bytes.len() as u64;
        let blob_whole = match self.store.head(&blob_key).await {
            Ok(found) => found.size == len,
            Err(err) if is_not_found(&err) => false,
            Err(err) => return Err(err.into()),
        };
        if !blob_whole {
            let attributes = Attributes::from_iter([
                (Attribute::ContentType, meta.format.mime()),
                (Attribute::CacheControl, "private, max-age=3600, immutable"),
            ]);
            self.store
                .put_opts(&blob_key, PutPayload::from(bytes), attributes.into())
                .await?;
        }
        let stored = StoredMeta {
            meta: meta.clone(),
            sha256,
            len: Some(len),
        };
        let json = serde_json::to_vec_pretty(&stored)?;
        let attributes = Attributes::from_iter([(Attribute::ContentType, "application/json")]);
        self.store
            .put_opts(
                &meta_key,
                PutPayload::from(json),
                PutOptions::from(attributes),
            )
            .await?;
        Ok(())
    }

    /// The checked metadata of a well-formed, stored id.
    async fn stored_meta(&self, id: &ImageId) -> Result<Option<StoredMeta>, StoreError> {
        let Some(id) = ImageId::parse(id.as_str()) else {
            return Ok(None);
        };
        let meta_key = self.meta_key(&id);
        let json = match self.store.get(&meta_key).await {
            Ok(found) => found.bytes().await?,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let stored: StoredMeta = serde_json::from_slice(&json)?;
        if !is_sha256_hex(&stored.sha256) || stored.meta.id != id {
            return Err(StoreError::Corrupt {
                field: "image metadata",
                reason: format!("{meta_key} names a bad hash or another id"),
            });
        }
        Ok(Some(stored))
    }

    /// Fetches a blob the metadata names; a missing one is damage, not absence.
    async fn fetch_blob(&self, key: &Path) -> Result<object_store::GetResult, StoreError> {
        self.store.get(key).await.map_err(|err| {
            if is_not_found(&err) {
                StoreError::Corrupt {
                    field: "image blob",
                    reason: format!("{key} is missing"),
                }
            } else {
                err.into()
            }
        })
    }

    async fn get_image(&self, id: &ImageId) -> Result<Option<(ImageMeta, Bytes)>, StoreError> {
        let Some(stored) = self.stored_meta(id).await? else {
            return Ok(None);
        };
        let blob_key = self.blob_key(&stored.sha256, stored.meta.format);
        let bytes = self.fetch_blob(&blob_key).await?.bytes().await?;
        if hex::encode(Sha256::digest(&bytes)) != stored.sha256 {
            return Err(StoreError::Corrupt {
                field: "image blob",
                reason: format!("{blob_key} does not match its hash"),
            });
        }
        Ok(Some((stored.meta, bytes)))
    }

    async fn head_image(&self, id: &ImageId) -> Result<Option<ImageHead>, StoreError> {
        let Some(stored) = self.stored_meta(id).await? else {
            return Ok(None);
        };
        let len = match stored.len {
            Some(len) => len,
            None => {
                let blob_key = self.blob_key(&stored.sha256, stored.meta.format);
                self.store.head(&blob_key).await?.size
            }
        };
        Ok(Some(ImageHead {
            meta: stored.meta,
            len,
        }))
    }

    async fn open_image(&self, id: &ImageId) -> Result<Option<ImageReader>, StoreError> {
        let Some(stored) = self.stored_meta(id).await? else {
            return Ok(None);
        };
        let blob_key = self.blob_key(&stored.sha256, stored.meta.format);
        let found = self.fetch_blob(&blob_key).await?;
        // The length the metadata recorded, when it did: a blob of another length is damage.
        let len = stored.len.unwrap_or(found.meta.size);
        let chunks = found
            .into_stream()
            .map(|chunk| chunk.map_err(StoreError::from));
        let body = VerifiedBody::new(Box::pin(chunks), len, stored.sha256, blob_key.to_string());
        Ok(Some(ImageReader {
            head: ImageHead {
                meta: stored.meta,
                len,
            },
            body: Box::pin(body),
        }))
    }

    async fn delete_image(&self, id: &ImageId) -> Result<(), StoreError> {
        let Some(id) = ImageId::parse(id.as_str()) else {
            return Ok(());
        };
        match self.store.delete(&self.meta_key(&id)).await {
            Ok(()) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn presign_image(
        &self,
        id: &ImageId,
        expires_in: Duration,
    ) -> Result<Option<String>, StoreError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let Some(stored) = self.stored_meta(id).await? else {
            return Ok(None);
        };
        let blob_key = self.blob_key(&stored.sha256, stored.meta.format);
        let url = signer
            .signed_url(http::Method::GET, &blob_key, expires_in)
            .await?;
        Ok(Some(url.to_string()))
    }
}

#[async_trait]
impl ImageStore for ObjectImageStore {
    async fn put(&self, meta: &ImageMeta, bytes: Bytes) -> artgen_core::Result<()> {
        Ok(self.put_image(meta, bytes).await?)
    }

    async fn get(&self, id: &ImageId) -> artgen_core::Result<Option<(ImageMeta, Bytes)>> {
        Ok(self.get_image(id).await?)
    }

    async fn head(&self, id: &ImageId) -> artgen_core::Result<Option<ImageHead>> {
        Ok(self.head_image(id).await?)
    }

    async fn open(&self, id: &ImageId) -> artgen_core::Result<Option<ImageReader>> {
        Ok(self.open_image(id).await?)
    }

    async fn delete(&self, id: &ImageId) -> artgen_core::Result<()> {
        Ok(self.delete_image(id).await?)
    }

    async fn presign(
        &self,
        id: &ImageId,
        expires_in: Duration,
    ) -> artgen_core::Result<Option<String>> {
        Ok(self.presign_image(id, expires_in).await?)
    }
}

#[cfg(test)]
mod tests {
    use artgen_core::testing::{image_store_conformance, sample_bytes, sample_meta, Presign};
    use artgen_core::ErrorCode;
    use object_store::memory::InMemory;

    use super::*;

    #[test]
    fn each_scheme_builds_its_backend_without_io_and_names_it_without_secrets() {
        let cases = [
            (
                ObjectStoreConfig::new("s3://art/prod/")
                    .with_option("AWS_REGION", "eu-west-1")
                    .with_option("AWS_ACCESS_KEY_ID", "artgen-test-id")
                    .with_option("AWS_SECRET_ACCESS_KEY", "s3-secret-value"),
                "s3://art/prod",
            ),
            (
                // No key: the workload identity, looked up at the first request.
                ObjectStoreConfig::new("gs://art-gcs/x/y"),
                "gs://art-gcs/x/y",
            ),
            (
                ObjectStoreConfig::new("az://images")
                    .with_option("AZURE_STORAGE_ACCOUNT_NAME", "artgenacct")
                    // base64 of "secret-value"
                    .with_option("AZURE_STORAGE_ACCOUNT_KEY", "c2VjcmV0LXZhbHVl"),
                "az://images/",
            ),
        ];
        for (config, location) in cases {
            let store = ObjectImageStore::from_config(&config).unwrap_or_else(|e| {
                panic!("{} builds: {e}", config.url);
            });
            assert_eq!(store.location(), location);
            let shown = format!("{store:?}");
            for secret in ["s3-secret-value", "c2VjcmV0LXZhbHVl"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            assert!(shown.contains("presigns: true"), "{shown}");
        }
    }

    #[test]
    fn a_folder_url_is_no_object_store() {
        let err = ObjectImageStore::from_config(&ObjectStoreConfig::new("file:///srv"))
            .expect_err("file:// is the filesystem store's")
            .to_string();
        assert!(err.contains("not an object-store URL"), "{err}");
    }

    #[tokio::test]
    async fn keeps_the_image_store_contract_over_an_in_memory_backend() {
        for prefix in ["", "some/prefix/"] {
            let store = ObjectImageStore::new(Arc::new(InMemory::new()), None, prefix);
            image_store_conformance(&store, Presign::Unsupported).await;
        }
    }

    #[tokio::test]
    async fn writes_the_filesystem_layout_under_the_prefix() {
        let backend = Arc::new(InMemory::new());
        let store = ObjectImageStore::new(backend.clone(), None, "/art/");
        let meta = sample_meta(OutputFormat::Jpeg);
        let bytes = sample_bytes(100);
        store.put(&meta, bytes.clone()).await.expect("put succeeds");

        let mut keys: Vec<String> = backend
            .list(None)
            .map(|o| o.expect("listed").location.to_string())
            .collect()
            .await;
        keys.sort();

        let sha = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            keys,
            [
                format!("art/blobs/{}/{sha}.jpg", &sha[..2]),
                format!("art/meta/{}.json", meta.id.as_str()),
            ]
        );
    }

    #[tokio::test]
    async fn a_tampered_or_missing_blob_is_an_error_not_wrong_bytes() {
        let backend = Arc::new(InMemory::new());
        let store = ObjectImageStore::new(backend.clone(), None, "");
        let meta = sample_meta(OutputFormat::Png);
        let bytes = sample_bytes(300);
        store.put(&meta, bytes.clone()).await.expect("put succeeds");
        let sha = hex::encode(Sha256::digest(&bytes));
        let blob = store.blob_key(&sha, OutputFormat::Png);
        backend
            .put(&blob, PutPayload::from(sample_bytes(300)))
            .await
            .expect("blob swapped");

        let got = store.get(&meta.id).await.expect_err("hash mismatch");
        let reader = store.open(&meta.id).await.expect("opens").expect("stored");
        let streamed = reader.read_all().await.expect_err("hash mismatch");
        backend.delete(&blob).await.expect("blob removed");
        let missing = store.get(&meta.id).await.expect_err("blob missing");

        for err in [got, streamed, missing] {
            assert_eq!(err.code(), ErrorCode::Internal);
        }
    }

    #[tokio::test]
    async fn reads_metadata_the_filesystem_store_wrote() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fs = crate::FsImageStore::new(dir.path());
        let meta = sample_meta(OutputFormat::Webp);
        let bytes = sample_bytes(64);
        fs.put(&meta, bytes.clone()).await.expect("put succeeds");
        let backend = Arc::new(InMemory::new());
        for entry in walk(dir.path()) {
            let relative = entry.strip_prefix(dir.path()).expect("below the root");
            let data = std::fs::read(&entry).expect("readable");
            backend
                .put(
                    &Path::from(relative.to_string_lossy().as_ref()),
                    PutPayload::from(data),
                )
                .await
                .expect("copied");
        }
        let store = ObjectImageStore::new(backend, None, "");

        let head = store.head(&meta.id).await.expect("head succeeds");
        let got = store.get(&meta.id).await.expect("get succeeds");

        assert_eq!(
            head.map(|h| h.len),
            Some(64),
            "the length comes from the blob"
        );
        assert_eq!(got, Some((meta, bytes)));
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
