//! [`ImageStore`] on object storage (S3 and S3-compatible servers, Google Cloud Storage, Azure
//! Blob Storage), with the `object_store` crate.
//!
//! Layout under the bucket's prefix, the same as [`FsImageStore`](crate::FsImageStore)'s
//! folder, so a folder copied into a bucket (or back) is served as it was:
//! `blobs/<first two hex digits>/<sha256>.<ext>`, the bytes, content-addressed, stored once
//! for identical images, with their `Content-Type`. That is the only object per image: what
//! an image is lives in the [`ImageIndex`](artgen_core::ports::ImageIndex). A bucket from
//! before the index also has `meta/<image id>.json` objects; [`ObjectImageStore::legacy_images`]
//! reads them for the one-time import at start and [`ObjectImageStore::forget_legacy`]
//! removes them once imported.
//!
//! An object PUT is atomic, so a reader sees a whole object or none; a `put` of bytes already
//! stored whole does nothing (two replicas racing on one blob both write the same bytes).
//! Every read is checked against the reference's length and SHA-256: [`ImageStore::open`]
//! ends its stream with an error on a mismatch. [`ImageStore::delete`] removes a blob's
//! object (the service calls it once no image row names the blob). [`ImageStore::presign`] signs a
//! `GET` of the blob (S3's query signature, valid for the asked time, at most 7 days), so a
//! client can fetch the bytes from the bucket itself.
//!
//! Durability is the backend's: S3 answers a PUT once the object is stored redundantly.

mod config;

pub use config::{ImagesUrl, ObjectStoreConfig};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use artgen_core::domain::{ImageId, OutputFormat};
use artgen_core::ports::{BlobRef, ImageBody, ImageMeta, ImageStore};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{Attribute, Attributes, ClientOptions, ObjectStore, PutPayload, RetryConfig};

use crate::error::StoreError;
use crate::image_layout::{extension, LegacyMeta};
use crate::verify::{blob_ref, VerifiedBody};

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

    fn blob_key(&self, blob: &BlobRef) -> Path {
        self.key(&format!(
            "blobs/{}/{}.{}",
            &blob.sha256[..2],
            blob.sha256,
            extension(blob.format)
        ))
    }

    async fn put_blob(&self, format: OutputFormat, bytes: Bytes) -> Result<BlobRef, StoreError> {
        let blob = blob_ref(format, &bytes);
        let blob_key = self.blob_key(&blob);
        let blob_whole = match self.store.head(&blob_key).await {
            Ok(found) => found.size == blob.len,
            Err(err) if is_not_found(&err) => false,
            Err(err) => return Err(err.into()),
        };
        if !blob_whole {
            let attributes = Attributes::from_iter([
                (Attribute::ContentType, format.mime()),
                (Attribute::CacheControl, "private, max-age=3600, immutable"),
            ]);
            self.store
                .put_opts(&blob_key, PutPayload::from(bytes), attributes.into())
                .await?;
        }
        Ok(blob)
    }

    /// Removes a blob's object; a missing one is fine.
    async fn delete_blob(&self, blob: &BlobRef) -> Result<(), StoreError> {
        if !blob.is_well_formed() {
            return Ok(());
        }
        match self.store.delete(&self.blob_key(blob)).await {
            Err(err) if !is_not_found(&err) => Err(err.into()),
            _ => Ok(()),
        }
    }

    async fn open_blob(&self, blob: &BlobRef) -> Result<Option<ImageBody>, StoreError> {
        if !blob.is_well_formed() {
            return Ok(None);
        }
        let blob_key = self.blob_key(blob);
        let found = match self.store.get(&blob_key).await {
            Ok(found) => found,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let chunks = found
            .into_stream()
            .map(|chunk| chunk.map_err(StoreError::from));
        let body = VerifiedBody::new(
            Box::pin(chunks),
            blob.len,
            blob.sha256.clone(),
            blob_key.to_string(),
        );
        Ok(Some(Box::pin(body)))
    }

    async fn presign_blob(
        &self,
        blob: &BlobRef,
        expires_in: Duration,
    ) -> Result<Option<String>, StoreError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        if !blob.is_well_formed() {
            return Ok(None);
        }
        let url = signer
            .signed_url(http::Method::GET, &self.blob_key(blob), expires_in)
            .await?;
        Ok(Some(url.to_string()))
    }

    /// The images a bucket from before the image index described in `meta/<id>.json`
    /// objects, for importing into the index at start (see
    /// [`ObjectImageStore::forget_legacy`]). An object that cannot be read as such is logged
    /// and skipped.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the objects cannot be listed or read.
    pub async fn legacy_images(&self) -> Result<Vec<ImageMeta>, StoreError> {
        let prefix = self.key("meta");
        let listed: Vec<_> = self.store.list(Some(&prefix)).collect().await;
        let mut found = Vec::new();
        for object in listed {
            let object = object?;
            let key = object.location;
            if !key.as_ref().ends_with(".json") {
                continue;
            }
            let json = self.store.get(&key).await?.bytes().await?;
            let legacy = match serde_json::from_slice::<LegacyMeta>(&json) {
                Ok(legacy) if legacy.is_sound() => legacy,
                Ok(_) | Err(_) => {
                    tracing::warn!(key = %key, "an old image metadata object is unreadable; that image is not imported");
                    continue;
                }
            };
            let len = match legacy.len {
                Some(len) => len,
                None => {
                    let probe = BlobRef {
                        sha256: legacy.sha256.clone(),
                        len: 0,
                        format: legacy.format,
                    };
                    self.store.head(&self.blob_key(&probe)).await?.size
                }
            };
            found.push(legacy.into_meta(len));
        }
        Ok(found)
    }

    /// Removes the old metadata objects of `ids` once their rows are in the index, so a
    /// deleted image is not imported again.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when an object cannot be removed.
    pub async fn forget_legacy(&self, ids: Vec<ImageId>) -> Result<(), StoreError> {
        for id in &ids {
            match self.store.delete(&self.meta_key(id)).await {
                Ok(()) => {}
                Err(err) if is_not_found(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ImageStore for ObjectImageStore {
    async fn put(&self, format: OutputFormat, bytes: Bytes) -> artgen_core::Result<BlobRef> {
        Ok(self.put_blob(format, bytes).await?)
    }

    async fn open(&self, blob: &BlobRef) -> artgen_core::Result<Option<ImageBody>> {
        Ok(self.open_blob(blob).await?)
    }

    async fn delete(&self, blob: &BlobRef) -> artgen_core::Result<()> {
        Ok(self.delete_blob(blob).await?)
    }

    async fn presign(
        &self,
        blob: &BlobRef,
        expires_in: Duration,
    ) -> artgen_core::Result<Option<String>> {
        Ok(self.presign_blob(blob, expires_in).await?)
    }
}

#[cfg(test)]
mod tests {
    use artgen_core::ports::read_body;
    use artgen_core::testing::{image_store_conformance, sample_bytes, Presign};
    use artgen_core::ErrorCode;
    use object_store::memory::InMemory;
    use sha2::{Digest, Sha256};

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
    async fn writes_one_object_per_image_in_the_filesystem_layout_under_the_prefix() {
        let backend = Arc::new(InMemory::new());
        let store = ObjectImageStore::new(backend.clone(), None, "/art/");
        let bytes = sample_bytes(100);
        let blob = store
            .put(OutputFormat::Jpeg, bytes.clone())
            .await
            .expect("put succeeds");

        let keys: Vec<String> = backend
            .list(None)
            .map(|o| o.expect("listed").location.to_string())
            .collect()
            .await;

        let sha = hex::encode(Sha256::digest(&bytes));
        assert_eq!(blob.sha256, sha);
        assert_eq!(keys, [format!("art/blobs/{}/{sha}.jpg", &sha[..2])]);
    }

    #[tokio::test]
    async fn a_tampered_or_missing_blob_is_an_error_or_absent_not_wrong_bytes() {
        let backend = Arc::new(InMemory::new());
        let store = ObjectImageStore::new(backend.clone(), None, "");
        let blob = store
            .put(OutputFormat::Png, sample_bytes(300))
            .await
            .expect("put succeeds");
        let key = store.blob_key(&blob);
        backend
            .put(&key, PutPayload::from(sample_bytes(300)))
            .await
            .expect("blob swapped");

        let body = store.open(&blob).await.expect("opens").expect("stored");
        let streamed = read_body(body, blob.len).await.expect_err("hash mismatch");
        backend.delete(&key).await.expect("blob removed");
        let missing = store.open(&blob).await.expect("open succeeds");

        assert_eq!(streamed.code(), ErrorCode::Internal);
        assert!(missing.is_none());
    }

    #[tokio::test]
    async fn old_metadata_objects_are_read_for_import_and_then_forgotten() {
        let backend = Arc::new(InMemory::new());
        let store = ObjectImageStore::new(backend.clone(), None, "p");
        let bytes = sample_bytes(64);
        let blob = store
            .put(OutputFormat::Webp, bytes.clone())
            .await
            .expect("put succeeds");
        let id = ImageId::generate();
        let old = format!(
            r#"{{"id":"{id}","owner":"ann","request_id":"req_0123456789abcdefghjkmnpq","format":"webp","dimensions":"8x8","created_at_ms":5,"sha256":"{}"}}"#,
            blob.sha256
        );
        backend
            .put(&store.meta_key(&id), PutPayload::from(old.into_bytes()))
            .await
            .expect("old metadata written");

        let found = store.legacy_images().await.expect("listed");
        store
            .forget_legacy(vec![id.clone()])
            .await
            .expect("forgotten");
        let again = store.legacy_images().await.expect("listed");

        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, id);
        assert_eq!(found[0].blob(), blob, "the length comes from the blob");
        assert!(again.is_empty());
    }
}
