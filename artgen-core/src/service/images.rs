//! Serving stored images (streamed from the blob store, or a direct link the store signs),
//! the owner's gallery, and removing an image. Every read starts from the image's metadata
//! row, so ownership is settled before a blob is touched.

use std::time::Duration;

use bytes::Bytes;

use crate::domain::{ImageId, Principal, UsageRecord};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{read_body, ImageBody, ImageCursor, ImageMeta, ImagePage};

use super::ArtGen;

/// An opened image: its metadata row, and its bytes still to be read.
pub struct ImageReader {
    /// The image's metadata (`meta.len` is the body's length).
    pub meta: ImageMeta,
    /// The bytes. The stream checks them against the row's length and hash as they pass:
    /// when they do not match, its last item is an error instead of a clean end, so a
    /// consumer that sees an error item MUST discard (or abort sending) what it got.
    pub body: ImageBody,
}

impl ImageReader {
    /// Reads the whole body into one buffer (for small images, replays and tests).
    ///
    /// # Errors
    /// The body's first error item.
    pub async fn read_all(self) -> Result<Bytes> {
        read_body(self.body, self.meta.len).await
    }
}

impl std::fmt::Debug for ImageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageReader")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// An image's metadata row with the usage row of the request that made it: what it cost.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    /// The image's metadata.
    pub meta: ImageMeta,
    /// The usage row of `meta.request_id` (one row for all the images of that request), or
    /// `None` when the store holds none (an image imported without its usage, or a row
    /// whose write still waits in a spool).
    pub usage: Option<UsageRecord>,
}

/// How an image reaches the caller.
#[derive(Debug)]
pub enum ImageDelivery {
    /// A URL of the store's own, signed and expiring, from which the caller fetches the bytes.
    Redirect {
        /// The signed URL.
        url: String,
        /// The image's metadata.
        meta: ImageMeta,
    },
    /// The bytes, streamed through ArtGen.
    Stream(ImageReader),
}

/// Who may read the image.
#[derive(Debug, Clone, Copy)]
pub enum ImageAccess<'a> {
    /// The owner (or an admin): anyone else gets `not_found`.
    Principal(&'a Principal),
    /// A link the edge has already verified (a signed URL): no ownership check.
    Verified,
}

impl ImageAccess<'_> {
    fn allows(self, meta: &ImageMeta) -> bool {
        match self {
            Self::Principal(principal) => meta.owner == principal.user || principal.is_admin(),
            Self::Verified => true,
        }
    }
}

fn not_found() -> Error {
    Error::new(ErrorCode::NotFound, "no such image")
}

/// Images in a gallery page that names no limit.
pub const GALLERY_PAGE_DEFAULT: u32 = 50;
/// The most images in one gallery page.
pub const GALLERY_PAGE_MAX: u32 = 200;

impl ArtGen {
    /// The metadata row of `id`, when `access` may read it.
    async fn allowed_meta(&self, access: ImageAccess<'_>, id: &str) -> Result<ImageMeta> {
        let id = ImageId::parse(id).ok_or_else(not_found)?;
        let meta = self
            .inner
            .ports
            .image_index
            .get_image(&id)
            .await?
            .ok_or_else(not_found)?;
        if !access.allows(&meta) {
            return Err(not_found());
        }
        Ok(meta)
    }

    /// The metadata row of an image `principal` may see (their own; admins see all), without
    /// touching its bytes.
    ///
    /// # Errors
    /// `not_found` when there is no such image or it is someone else's (the same error);
    /// `internal_error` on storage failure.
    pub async fn image_meta(&self, principal: &Principal, id: &str) -> Result<ImageMeta> {
        self.allowed_meta(ImageAccess::Principal(principal), id)
            .await
    }

    /// The metadata row of an image `principal` may see, with the usage row of the request
    /// that made it (for its cost), without touching its bytes. A usage row of another user
    /// than the image's owner is not returned.
    ///
    /// # Errors
    /// `not_found` when there is no such image or it is someone else's (the same error);
    /// `internal_error` on storage failure.
    pub async fn image_details(&self, principal: &Principal, id: &str) -> Result<ImageDetails> {
        let meta = self
            .allowed_meta(ImageAccess::Principal(principal), id)
            .await?;
        let usage = self
            .inner
            .ports
            .usage
            .get(&meta.request_id)
            .await?
            .filter(|row| row.user == meta.owner);
        Ok(ImageDetails { meta, usage })
    }

    /// Opens an image for `access`: the row first (ownership), then the blob.
    pub(super) async fn open_image(
        &self,
        access: ImageAccess<'_>,
        id: &str,
    ) -> Result<ImageReader> {
        let meta = self.allowed_meta(access, id).await?;
        let body = self
            .inner
            .ports
            .images
            .open(&meta.blob())
            .await?
            .ok_or_else(|| {
                Error::internal(format!(
                    "image {} has a metadata row but its blob is missing",
                    meta.id
                ))
            })?;
        Ok(ImageReader { meta, body })
    }

    /// An image for `access`: with `redirect_for` and a store that signs URLs, a link valid
    /// that long (only the metadata row is read); otherwise the bytes as a stream, so a large
    /// image is never held whole. The row is read and ownership checked before the blob is.
    ///
    /// # Errors
    /// `not_found` when the image does not exist or `access` may not read it (the same error
    /// in both cases); `internal_error` on storage failure.
    pub async fn deliver_image(
        &self,
        access: ImageAccess<'_>,
        id: &str,
        redirect_for: Option<Duration>,
    ) -> Result<ImageDelivery> {
        let meta = self.allowed_meta(access, id).await?;
        let images = &self.inner.ports.images;
        let blob = meta.blob();
        if let Some(expires_in) = redirect_for {
            if let Some(url) = images.presign(&blob, expires_in).await? {
                return Ok(ImageDelivery::Redirect { url, meta });
            }
        }
        let body = images.open(&blob).await?.ok_or_else(|| {
            Error::internal(format!(
                "image {} has a metadata row but its blob is missing",
                meta.id
            ))
        })?;
        Ok(ImageDelivery::Stream(ImageReader { meta, body }))
    }

    /// A page of `principal`'s own images, newest first (from the metadata rows only; no
    /// blob is read). `limit` defaults to [`GALLERY_PAGE_DEFAULT`] and is capped at
    /// [`GALLERY_PAGE_MAX`]; the page's `next_cursor`, passed back as `after`, reads the next.
    ///
    /// # Errors
    /// `internal_error` on storage failure.
    pub async fn gallery(
        &self,
        principal: &Principal,
        after: Option<&ImageCursor>,
        limit: Option<u32>,
    ) -> Result<ImagePage> {
        let limit = limit
            .unwrap_or(GALLERY_PAGE_DEFAULT)
            .clamp(1, GALLERY_PAGE_MAX);
        let images = self
            .inner
            .ports
            .image_index
            .list_images(&principal.user, after, limit)
            .await?;
        Ok(ImagePage::new(images, limit as usize))
    }

    /// Removes an image of `principal`'s (an admin may remove anyone's): its metadata row
    /// goes, so it is no longer listed or served (signed links included), and then its blob,
    /// unless identical bytes back another image still. A blob that cannot be removed is
    /// logged (the image is gone either way); a blob left by a crash between the two steps
    /// stays until a sweep of unnamed blobs, which is not built.
    ///
    /// # Errors
    /// `not_found` when there is no such image or it is someone else's (the same error);
    /// `internal_error` on storage failure.
    pub async fn delete_image(&self, principal: &Principal, id: &str) -> Result<()> {
        let meta = self
            .allowed_meta(ImageAccess::Principal(principal), id)
            .await?;
        let ports = &self.inner.ports;
        if !ports.image_index.delete_image(&meta.id).await? {
            return Err(not_found());
        }
        if ports.image_index.blob_in_use(&meta.sha256).await? {
            return Ok(());
        }
        if let Err(err) = ports.images.delete(&meta.blob()).await {
            tracing::error!(
                image_id = %meta.id,
                sha256 = %meta.sha256,
                error = %err,
                "an image's row is removed but its blob could not be; it stays in the store"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::domain::{Catalog, GenerateParams, OutputFormat, RequestId, Role};
    use crate::ports::{BlobRef, ImageStore};
    use crate::service::{Ports, RequestContext};
    use crate::testing::{InMemoryImageStore, MockProvider};

    /// The in-memory store, signing links like an object store, and counting the blobs it
    /// opened and signed; with `broken`, every open fails.
    #[derive(Default)]
    struct SigningStore {
        inner: InMemoryImageStore,
        touched: AtomicUsize,
        broken: bool,
    }

    #[async_trait]
    impl ImageStore for SigningStore {
        async fn put(&self, format: OutputFormat, bytes: Bytes) -> Result<BlobRef> {
            self.inner.put(format, bytes).await
        }
        async fn open(&self, blob: &BlobRef) -> Result<Option<ImageBody>> {
            self.touched.fetch_add(1, Ordering::SeqCst);
            if self.broken {
                return Err(Error::internal("this blob store must not be read"));
            }
            self.inner.open(blob).await
        }
        async fn delete(&self, blob: &BlobRef) -> Result<()> {
            self.inner.delete(blob).await
        }
        async fn presign(&self, blob: &BlobRef, expires_in: Duration) -> Result<Option<String>> {
            self.touched.fetch_add(1, Ordering::SeqCst);
            let url = format!(
                "https://bucket.example/{}?ttl={}",
                blob.sha256,
                expires_in.as_secs()
            );
            Ok(Some(url))
        }
    }

    async fn service_with_one_image(images: Arc<dyn ImageStore>) -> (ArtGen, String, Bytes) {
        let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
        ports.images = images;
        let service = ArtGen::new(Catalog::default(), ports);
        let ctx = RequestContext::new(RequestId::generate(), Principal::new("lisa", Role::User));
        let params = GenerateParams {
            model: "dall-e-2".into(),
            prompt: "a kite".into(),
            size: Some("256x256".into()),
            ..Default::default()
        };
        let generation = service.generate(&ctx, params).await.expect("generates");
        let image = &generation.images[0];
        (service, image.id.as_str().to_owned(), image.bytes.clone())
    }

    #[tokio::test]
    async fn the_owner_gets_the_bytes_streamed_and_others_the_same_404_as_for_nothing() {
        let (service, id, bytes) =
            service_with_one_image(Arc::new(InMemoryImageStore::default())).await;
        let lisa = Principal::new("lisa", Role::User);
        let other = Principal::new("somchai", Role::User);

        let delivered = service
            .deliver_image(
                ImageAccess::Principal(&lisa),
                &id,
                Some(Duration::from_secs(60)),
            )
            .await
            .expect("the owner may read it");
        let hidden = service
            .deliver_image(ImageAccess::Principal(&other), &id, None)
            .await
            .expect_err("hidden");
        let absent = service
            .deliver_image(ImageAccess::Verified, "img_000000000000000000000000", None)
            .await
            .expect_err("absent");

        let ImageDelivery::Stream(reader) = delivered else {
            panic!("a store without links streams");
        };
        assert_eq!(reader.meta.prompt, "a kite", "the row keeps the prompt");
        assert_eq!(reader.read_all().await.expect("streams"), bytes);
        assert_eq!(hidden.code(), ErrorCode::NotFound);
        assert_eq!(absent.code(), ErrorCode::NotFound);
    }

    #[tokio::test]
    async fn details_carry_the_cost_of_the_request_that_made_the_image_and_only_for_the_owner() {
        let mut ports = Ports::in_memory(Arc::new(MockProvider::new()));
        ports.images = Arc::new(InMemoryImageStore::default());
        let service = ArtGen::new(Catalog::default(), ports);
        let lisa = Principal::new("lisa", Role::User);
        let ctx = RequestContext::new(RequestId::generate(), lisa.clone());
        let params = GenerateParams {
            model: "dall-e-2".into(),
            prompt: "two kites".into(),
            size: Some("256x256".into()),
            n: Some(2),
            ..Default::default()
        };
        let generation = service.generate(&ctx, params).await.expect("generates");
        let second = generation.images[1].id.as_str().to_owned();

        let details = service
            .image_details(&lisa, &second)
            .await
            .expect("the owner reads it");
        let hidden = service
            .image_details(&Principal::new("somchai", Role::User), &second)
            .await
            .expect_err("not theirs");

        let usage = details.usage.expect("the request's usage row");
        assert_eq!(usage.request_id, generation.request_id);
        assert_eq!(usage.cost, generation.cost, "the settled cost");
        assert!(generation.cost.micros() > 0, "dall-e-2 is priced per image");
        assert_eq!(usage.images, 2, "one row for both images");
        assert_eq!(details.meta.prompt, "two kites");
        assert_eq!(hidden.code(), ErrorCode::NotFound);
    }

    #[tokio::test]
    async fn a_store_that_signs_gives_a_link_only_when_asked_and_only_to_those_allowed() {
        let (service, id, _) = service_with_one_image(Arc::new(SigningStore::default())).await;
        let admin = Principal::new("root", Role::Admin);
        let other = Principal::new("somchai", Role::User);
        let ttl = Some(Duration::from_secs(90));

        let linked = service
            .deliver_image(ImageAccess::Principal(&admin), &id, ttl)
            .await
            .expect("admins read all");
        let streamed = service
            .deliver_image(ImageAccess::Verified, &id, None)
            .await
            .expect("verified link");
        let hidden = service
            .deliver_image(ImageAccess::Principal(&other), &id, ttl)
            .await
            .expect_err("no link for others");

        assert!(
            matches!(&linked, ImageDelivery::Redirect { url, .. } if url.ends_with("?ttl=90")),
            "{linked:?}"
        );
        assert!(matches!(streamed, ImageDelivery::Stream(_)));
        assert_eq!(hidden.code(), ErrorCode::NotFound);
    }

    #[tokio::test]
    async fn ownership_is_checked_on_the_row_before_any_blob_is_read() {
        let store = Arc::new(SigningStore {
            broken: true,
            ..SigningStore::default()
        });
        let (service, id, _) = service_with_one_image(store.clone()).await;
        let other = Principal::new("somchai", Role::User);
        let ttl = Some(Duration::from_secs(90));

        let streamed = service
            .deliver_image(ImageAccess::Principal(&other), &id, None)
            .await
            .expect_err("hidden");
        let linked = service
            .deliver_image(ImageAccess::Principal(&other), &id, ttl)
            .await
            .expect_err("hidden");
        let fetched = service.image(&other, &id).await.expect_err("hidden");
        let deleted = service.delete_image(&other, &id).await.expect_err("hidden");

        for err in [streamed, linked, fetched, deleted] {
            assert_eq!(
                err.code(),
                ErrorCode::NotFound,
                "a 404, not a storage error"
            );
        }
        assert_eq!(
            store.touched.load(Ordering::SeqCst),
            0,
            "no blob was touched"
        );
    }

    #[tokio::test]
    async fn deleting_removes_the_blob_once_no_image_names_it() {
        let blobs = Arc::new(InMemoryImageStore::default());
        let (service, id, _) = service_with_one_image(blobs.clone()).await;
        let lisa = Principal::new("lisa", Role::User);
        let index = &service.inner.ports.image_index;
        let first = index
            .get_image(&ImageId::parse(&id).expect("an image id"))
            .await
            .expect("get")
            .expect("the row");
        // A second image of identical bytes shares the blob.
        let twin = ImageMeta {
            id: ImageId::generate(),
            ..first.clone()
        };
        index
            .import_images(std::slice::from_ref(&twin))
            .await
            .expect("import");
        assert_eq!(blobs.blob_count(), 1);

        service.delete_image(&lisa, &id).await.expect("deletes");
        assert_eq!(blobs.blob_count(), 1, "the twin still names the blob");
        let twin_bytes = service.image(&lisa, twin.id.as_str()).await;
        assert!(twin_bytes.is_ok(), "the twin is still served");

        service
            .delete_image(&lisa, twin.id.as_str())
            .await
            .expect("deletes");
        assert_eq!(blobs.blob_count(), 0, "no image names the blob any more");
    }

    #[tokio::test]
    async fn a_deleted_image_is_neither_listed_nor_served_and_others_cannot_delete() {
        let (service, id, _) =
            service_with_one_image(Arc::new(InMemoryImageStore::default())).await;
        let lisa = Principal::new("lisa", Role::User);
        let other = Principal::new("somchai", Role::User);

        let listed = service.gallery(&lisa, None, None).await.expect("lists");
        let theirs = service.gallery(&other, None, None).await.expect("lists");
        let refused = service
            .delete_image(&other, &id)
            .await
            .expect_err("not theirs");
        service
            .delete_image(&lisa, &id)
            .await
            .expect("the owner deletes");
        let after = service.gallery(&lisa, None, None).await.expect("lists");
        let gone = service.image(&lisa, &id).await.expect_err("gone");
        let twice = service.delete_image(&lisa, &id).await.expect_err("gone");

        assert_eq!(listed.images.len(), 1);
        assert_eq!(listed.images[0].id.as_str(), id);
        assert!(theirs.images.is_empty());
        assert_eq!(refused.code(), ErrorCode::NotFound);
        assert!(after.images.is_empty());
        assert_eq!(gone.code(), ErrorCode::NotFound);
        assert_eq!(twice.code(), ErrorCode::NotFound);
    }
}
