//! The [`ImageStore`] contract as runnable scenarios, for every adapter's tests.
//!
//! Each scenario takes a fresh, empty store (its own folder, bucket or prefix) and panics
//! with a message naming the broken rule. [`image_store_conformance`] runs them all; an
//! adapter's test suite calls it once per backend:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use artgen_core::testing::{image_store_conformance, InMemoryImageStore, Presign};
//!
//! image_store_conformance(&InMemoryImageStore::default(), Presign::Unsupported).await;
//! # });
//! ```

use std::time::Duration;

use bytes::Bytes;

use crate::domain::{Dimensions, ImageId, OutputFormat, RequestId};
use crate::ports::{ImageHead, ImageMeta, ImageStore};

/// What the store under test says about presigned URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presign {
    /// `presign` is always `None` (the filesystem store, the fake).
    Unsupported,
    /// `presign` of a stored image is a URL (an `http(s)` one); the adapter's own tests fetch
    /// it, since the core has no HTTP client.
    Supported,
}

/// Metadata of a new image with a fresh id.
pub fn sample_meta(format: OutputFormat) -> ImageMeta {
    ImageMeta {
        id: ImageId::generate(),
        owner: "ann".to_owned(),
        request_id: RequestId::generate(),
        format,
        dimensions: Dimensions::new(1024, 1536),
        created_at_ms: 1_700_000_000_123,
    }
}

/// `len` bytes that differ between calls (so tests never share blobs by accident).
pub fn sample_bytes(len: usize) -> Bytes {
    let mut rng = fastrand::Rng::new();
    Bytes::from((0..len).map(|_| rng.u8(..)).collect::<Vec<u8>>())
}

/// Runs every scenario below against `store`, which must start empty.
pub async fn image_store_conformance(store: &dyn ImageStore, presign: Presign) {
    round_trips_through_get_head_and_open(store).await;
    unknown_and_malformed_ids_are_none(store).await;
    putting_an_existing_id_again_is_a_no_op(store).await;
    identical_bytes_under_two_ids_are_both_served_and_deleted_apart(store).await;
    deleted_images_are_gone_and_deleting_twice_is_fine(store).await;
    a_large_image_streams_back_whole(store).await;
    concurrent_puts_of_one_id_all_succeed(store).await;
    presign_follows_the_stores_capability(store, presign).await;
}

async fn read(store: &dyn ImageStore, id: &ImageId) -> Option<(ImageHead, Bytes)> {
    let reader = store.open(id).await.expect("open succeeds")?;
    let head = reader.head.clone();
    let bytes = reader.read_all().await.expect("the body streams whole");
    Some((head, bytes))
}

/// `put` then `get`, `head` and `open` give back the same metadata and bytes.
pub async fn round_trips_through_get_head_and_open(store: &dyn ImageStore) {
    for format in [OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp] {
        let meta = sample_meta(format);
        let bytes = sample_bytes(4096);

        store.put(&meta, bytes.clone()).await.expect("put succeeds");

        let got = store.get(&meta.id).await.expect("get succeeds");
        assert_eq!(got, Some((meta.clone(), bytes.clone())), "get round trip");
        let head = store.head(&meta.id).await.expect("head succeeds");
        let expected = ImageHead {
            meta: meta.clone(),
            len: bytes.len() as u64,
        };
        assert_eq!(
            head.as_ref(),
            Some(&expected),
            "head gives metadata and length"
        );
        assert_eq!(
            read(store, &meta.id).await,
            Some((expected, bytes)),
            "open streams the same bytes"
        );
    }
}

/// Ids never stored, and ids that are not image ids at all, are `None` everywhere.
pub async fn unknown_and_malformed_ids_are_none(store: &dyn ImageStore) {
    let mut ids = vec![ImageId::generate()];
    ids.extend(
        [
            "img_../../secret",
            "../secret",
            "img_/etc/passwd",
            "img_abc",
            "",
        ]
        .map(|text| ImageId::from_trusted(text.to_owned())),
    );
    for id in ids {
        let text = id.as_str().to_owned();
        assert_eq!(store.get(&id).await.expect("get succeeds"), None, "{text}");
        assert_eq!(
            store.head(&id).await.expect("head succeeds"),
            None,
            "{text}"
        );
        assert!(
            store.open(&id).await.expect("open succeeds").is_none(),
            "{text}"
        );
        let link = store
            .presign(&id, Duration::from_secs(60))
            .await
            .expect("presign succeeds");
        assert_eq!(link, None, "no link to nothing: {text}");
    }
    store
        .delete(&ImageId::generate())
        .await
        .expect("deleting an unknown id is a no-op");
}

/// A second `put` of a stored id keeps the first image.
pub async fn putting_an_existing_id_again_is_a_no_op(store: &dyn ImageStore) {
    let meta = sample_meta(OutputFormat::Webp);
    let original = sample_bytes(512);
    store
        .put(&meta, original.clone())
        .await
        .expect("put succeeds");
    let mut changed = meta.clone();
    changed.owner = "bob".to_owned();

    store
        .put(&changed, sample_bytes(700))
        .await
        .expect("second put succeeds");

    assert_eq!(
        store.get(&meta.id).await.expect("get succeeds"),
        Some((meta, original)),
        "the first image stays"
    );
}

/// Two images with the same bytes are both served, and deleting one leaves the other whole.
pub async fn identical_bytes_under_two_ids_are_both_served_and_deleted_apart(
    store: &dyn ImageStore,
) {
    let (first, second) = (
        sample_meta(OutputFormat::Png),
        sample_meta(OutputFormat::Png),
    );
    let bytes = sample_bytes(2048);
    store
        .put(&first, bytes.clone())
        .await
        .expect("put succeeds");
    store
        .put(&second, bytes.clone())
        .await
        .expect("put succeeds");

    store.delete(&first.id).await.expect("delete succeeds");

    assert_eq!(store.get(&first.id).await.expect("get succeeds"), None);
    assert_eq!(
        store.get(&second.id).await.expect("get succeeds"),
        Some((second.clone(), bytes.clone())),
        "the shared bytes stay for the other image"
    );
    assert_eq!(
        read(store, &second.id).await.map(|(_, b)| b),
        Some(bytes),
        "and stream"
    );
}

/// After `delete` nothing finds the image; a second delete is a no-op; the id can be stored
/// again.
pub async fn deleted_images_are_gone_and_deleting_twice_is_fine(store: &dyn ImageStore) {
    let meta = sample_meta(OutputFormat::Jpeg);
    let bytes = sample_bytes(1024);
    store.put(&meta, bytes.clone()).await.expect("put succeeds");

    store.delete(&meta.id).await.expect("delete succeeds");
    store
        .delete(&meta.id)
        .await
        .expect("second delete succeeds");

    assert_eq!(store.get(&meta.id).await.expect("get succeeds"), None);
    assert_eq!(store.head(&meta.id).await.expect("head succeeds"), None);
    assert!(store.open(&meta.id).await.expect("open succeeds").is_none());
    let link = store
        .presign(&meta.id, Duration::from_secs(60))
        .await
        .expect("presign succeeds");
    assert_eq!(link, None, "no link to a deleted image");
    store
        .put(&meta, bytes.clone())
        .await
        .expect("put after delete succeeds");
    assert_eq!(
        store.get(&meta.id).await.expect("get succeeds"),
        Some((meta, bytes)),
        "a deleted id can be stored again"
    );
}

/// An image of several megabytes comes back whole through `open`, its chunks in order.
pub async fn a_large_image_streams_back_whole(store: &dyn ImageStore) {
    let meta = sample_meta(OutputFormat::Png);
    let bytes = sample_bytes(6 * 1024 * 1024 + 17);
    store.put(&meta, bytes.clone()).await.expect("put succeeds");

    let (head, streamed) = read(store, &meta.id).await.expect("stored");

    assert_eq!(head.len, bytes.len() as u64);
    assert!(streamed == bytes, "the streamed bytes are the stored ones");
}

/// Replicas storing the same id at once all succeed, and one image results.
pub async fn concurrent_puts_of_one_id_all_succeed(store: &dyn ImageStore) {
    let meta = sample_meta(OutputFormat::Png);
    let bytes = sample_bytes(8192);

    let (a, b, c) = tokio::join!(
        store.put(&meta, bytes.clone()),
        store.put(&meta, bytes.clone()),
        store.put(&meta, bytes.clone()),
    );

    for result in [a, b, c] {
        result.expect("every concurrent put succeeds");
    }
    assert_eq!(
        store.get(&meta.id).await.expect("get succeeds"),
        Some((meta, bytes))
    );
}

/// `presign` is `None` for stores without it and an `http(s)` URL for stores with it.
pub async fn presign_follows_the_stores_capability(store: &dyn ImageStore, presign: Presign) {
    let meta = sample_meta(OutputFormat::Png);
    store
        .put(&meta, sample_bytes(256))
        .await
        .expect("put succeeds");

    let link = store
        .presign(&meta.id, Duration::from_secs(300))
        .await
        .expect("presign succeeds");

    match presign {
        Presign::Unsupported => assert_eq!(link, None),
        Presign::Supported => {
            let link = link.expect("a store that signs gives a link to a stored image");
            assert!(
                link.starts_with("http://") || link.starts_with("https://"),
                "{link}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryImageStore;

    #[tokio::test]
    async fn the_in_memory_fake_keeps_the_contract() {
        image_store_conformance(&InMemoryImageStore::default(), Presign::Unsupported).await;
    }
}
