//! Keeping an answer without the images it carries inline, and putting them back on replay.
//!
//! The images are in the image store already (every image is stored before it is answered),
//! so a kept answer holds only its small fields and, per image, where its base64 text goes
//! back and which stored image it is. Replays are rebuilt from the same bytes with the same
//! encoding, so they are byte-identical to the first answer.

use std::sync::Arc;

use artgen_core::domain::ImageId;
use artgen_core::ports::{read_body, ImageIndex, ImageStore, StoredImage};
use artgen_core::Error;
use base64::Engine as _;
use bytes::Bytes;

use super::request::find;

/// The images whose base64 text (standard alphabet, padded) an answer's body holds, in the
/// order they appear in it. Handlers put this in the response's extensions; the idempotency
/// layer then keeps the answer without the images' bytes.
#[derive(Debug, Clone, Default)]
pub struct InlineImages(pub Vec<(ImageId, Bytes)>);

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `body` with each image's text cut out, and where each goes back. `None` when an image's
/// text is not in the body (after the ones before it): the answer is then kept whole.
pub(super) fn cut_out(body: &[u8], images: &InlineImages) -> Option<(Vec<u8>, Vec<StoredImage>)> {
    let mut kept = Vec::with_capacity(body.len() / 8);
    let mut refs = Vec::with_capacity(images.0.len());
    let mut rest = 0;
    for (id, bytes) in &images.0 {
        let text = encode(bytes);
        let at = rest + find(body.get(rest..)?, text.as_bytes())?;
        kept.extend_from_slice(&body[rest..at]);
        refs.push(StoredImage {
            offset: kept.len(),
            image_id: id.clone(),
        });
        rest = at + text.len();
    }
    kept.extend_from_slice(&body[rest..]);
    Some((kept, refs))
}

/// Where a kept answer's images are read back from: the row names the blob.
#[derive(Clone)]
pub(super) struct ImageSource {
    /// The images' metadata rows.
    pub(super) index: Arc<dyn ImageIndex>,
    /// Their bytes.
    pub(super) blobs: Arc<dyn ImageStore>,
}

impl ImageSource {
    /// The bytes of image `id`; `None` when its row or blob is gone.
    async fn bytes(&self, id: &ImageId) -> Result<Option<Bytes>, Error> {
        let Some(meta) = self.index.get_image(id).await? else {
            return Ok(None);
        };
        match self.blobs.open(&meta.blob()).await? {
            Some(body) => Ok(Some(read_body(body, meta.len).await?)),
            None => Ok(None),
        }
    }
}

/// The first answer's body again: `body` with each image's text put back, read from `store`.
///
/// # Errors
/// `internal_error` when an image is gone from the store or the references do not fit the
/// body (a corrupt record).
pub(super) async fn put_back(
    body: &[u8],
    images: &[StoredImage],
    store: &ImageSource,
) -> Result<Vec<u8>, Error> {
    let mut whole = Vec::with_capacity(body.len());
    let mut rest = 0;
    for image in images {
        let before = body
            .get(rest..image.offset)
            .ok_or_else(|| Error::internal("a kept answer's image offsets do not fit its body"))?;
        whole.extend_from_slice(before);
        let bytes = store.bytes(&image.image_id).await?.ok_or_else(|| {
            Error::internal(format!(
                "image {} of a kept answer is no longer stored",
                image.image_id
            ))
        })?;
        whole.extend_from_slice(encode(&bytes).as_bytes());
        rest = image.offset;
    }
    whole.extend_from_slice(&body[rest..]);
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use artgen_core::domain::{OutputFormat, RequestId};
    use artgen_core::ports::UsageStore as _;
    use artgen_core::testing::conformance::images::image;
    use artgen_core::testing::conformance::usage::record;
    use artgen_core::testing::{InMemoryImageStore, InMemoryUsageStore};

    use super::*;

    fn source() -> ImageSource {
        ImageSource {
            index: Arc::new(InMemoryUsageStore::default()),
            blobs: Arc::new(InMemoryImageStore::default()),
        }
    }

    /// Stores `bytes` as a blob and an image row naming it.
    async fn stored(
        source: &ImageSource,
        index: &InMemoryUsageStore,
        bytes: &'static [u8],
    ) -> (ImageId, Bytes) {
        let blob = source
            .blobs
            .put(OutputFormat::Png, Bytes::from_static(bytes))
            .await
            .expect("stored");
        let row = record("ann", 1);
        let meta = artgen_core::ports::ImageMeta {
            sha256: blob.sha256,
            len: blob.len,
            format: blob.format,
            ..image("ann", &RequestId::generate(), 1)
        };
        index
            .finish(&row, std::slice::from_ref(&meta))
            .await
            .expect("row written");
        (meta.id, Bytes::from_static(bytes))
    }

    #[tokio::test]
    async fn a_body_cut_and_put_back_is_byte_identical_even_with_twin_images() {
        let index = Arc::new(InMemoryUsageStore::default());
        let store = ImageSource {
            index: index.clone(),
            ..source()
        };
        let twin = b"\x89PNG same pixels";
        let images = InlineImages(vec![
            stored(&store, &index, twin).await,
            stored(&store, &index, twin).await,
            stored(&store, &index, b"\x89PNG other").await,
        ]);
        let body = format!(
            r#"{{"images":[{{"b64_json":"{a}","id":1}},{{"b64_json":"{a}"}},{{"b64_json":"{b}"}}],"url":"/x?sig=abc"}}"#,
            a = encode(twin),
            b = encode(b"\x89PNG other"),
        );

        let (kept, refs) = cut_out(body.as_bytes(), &images).expect("every image found");
        let rebuilt = put_back(&kept, &refs, &store).await.expect("rebuilt");

        assert_eq!(rebuilt, body.as_bytes());
        assert_eq!(refs.len(), 3);
        assert!(!String::from_utf8_lossy(&kept).contains(&encode(twin)));
        assert_eq!(
            String::from_utf8_lossy(&kept),
            r#"{"images":[{"b64_json":"","id":1},{"b64_json":""},{"b64_json":""}],"url":"/x?sig=abc"}"#
        );
    }

    #[tokio::test]
    async fn an_image_missing_from_the_body_keeps_it_whole_and_a_lost_image_is_an_error() {
        let index = Arc::new(InMemoryUsageStore::default());
        let store = ImageSource {
            index: index.clone(),
            ..source()
        };
        let images = InlineImages(vec![stored(&store, &index, b"not in the body").await]);
        assert!(cut_out(br#"{"url":"/x"}"#, &images).is_none());

        let lost = StoredImage {
            offset: 2,
            image_id: ImageId::generate(),
        };
        let err = put_back(b"{}", &[lost], &store).await.expect_err("gone");
        assert_eq!(err.code(), artgen_core::ErrorCode::Internal);
        let beyond = StoredImage {
            offset: 9,
            image_id: images.0[0].0.clone(),
        };
        assert!(put_back(b"{}", &[beyond], &store).await.is_err());
    }
}
