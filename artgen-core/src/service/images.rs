//! Serving stored images: streamed from the store, or a direct link the store signs.

use std::time::Duration;

use crate::domain::{ImageId, Principal};
use crate::error::{Error, ErrorCode, Result};
use crate::ports::{ImageMeta, ImageReader};

use super::ArtGen;

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

impl ArtGen {
    /// An image for `access`: with `redirect_for` and a store that signs URLs, a link valid
    /// that long (only the metadata is read); otherwise the bytes as a stream, so a large image
    /// is never held whole.
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
        let id = ImageId::parse(id).ok_or_else(not_found)?;
        let images = &self.inner.ports.images;
        if let Some(expires_in) = redirect_for {
            let head = images.head(&id).await?.ok_or_else(not_found)?;
            if !access.allows(&head.meta) {
                return Err(not_found());
            }
            if let Some(url) = images.presign(&id, expires_in).await? {
                return Ok(ImageDelivery::Redirect {
                    url,
                    meta: head.meta,
                });
            }
        }
        let reader = images.open(&id).await?.ok_or_else(not_found)?;
        if !access.allows(&reader.head.meta) {
            return Err(not_found());
        }
        Ok(ImageDelivery::Stream(reader))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use bytes::Bytes;

    use super::*;
    use crate::domain::{Catalog, GenerateParams, RequestId, Role};
    use crate::ports::{ImageHead, ImageStore};
    use crate::service::{Ports, RequestContext};
    use crate::testing::{InMemoryImageStore, MockProvider};

    /// The in-memory store, signing links like an object store.
    #[derive(Default)]
    struct SigningStore(InMemoryImageStore);

    #[async_trait]
    impl ImageStore for SigningStore {
        async fn put(&self, meta: &ImageMeta, bytes: Bytes) -> Result<()> {
            self.0.put(meta, bytes).await
        }
        async fn get(&self, id: &ImageId) -> Result<Option<(ImageMeta, Bytes)>> {
            self.0.get(id).await
        }
        async fn head(&self, id: &ImageId) -> Result<Option<ImageHead>> {
            self.0.head(id).await
        }
        async fn open(&self, id: &ImageId) -> Result<Option<ImageReader>> {
            self.0.open(id).await
        }
        async fn delete(&self, id: &ImageId) -> Result<()> {
            self.0.delete(id).await
        }
        async fn presign(&self, id: &ImageId, expires_in: Duration) -> Result<Option<String>> {
            let url = format!(
                "https://bucket.example/{}?ttl={}",
                id.as_str(),
                expires_in.as_secs()
            );
            Ok(self.0.head(id).await?.map(|_| url))
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
        assert_eq!(reader.read_all().await.expect("streams"), bytes);
        assert_eq!(hidden.code(), ErrorCode::NotFound);
        assert_eq!(absent.code(), ErrorCode::NotFound);
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
}
