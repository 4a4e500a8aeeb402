//! The [`ImageStore`] (blob) contract as runnable scenarios, for every adapter's tests.
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
use crate::ports::{read_body, BlobRef, ImageMeta, ImageStore};

/// What the store under test says about presigned URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presign {
    /// `presign` is always `None` (the filesystem store, the fake).
    Unsupported,
    /// `presign` of a stored blob is a URL (an `http(s)` one); the adapter's own tests fetch
    /// it, since the core has no HTTP client.
    Supported,
}

/// Metadata of a new image with a fresh id, for the blob `blob`.
pub fn sample_meta(blob: &BlobRef) -> ImageMeta {
    ImageMeta {
        id: ImageId::generate(),
        owner: "ann".to_owned(),
        org: None,
        request_id: RequestId::generate(),
        prompt: "a lighthouse at dusk".to_owned(),
        model: "gpt-image-1".to_owned(),
        format: blob.format,
        dimensions: Dimensions::new(1024, 1536),
        sha256: blob.sha256.clone(),
        len: blob.len,
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
    round_trips_through_put_and_open(store).await;
    unknown_and_malformed_blobs_are_none(store).await;
    identical_bytes_are_stored_once_under_one_ref(store).await;
    a_blob_read_against_the_wrong_hash_ends_in_an_error(store).await;
    a_large_image_streams_back_whole(store).await;
    concurrent_puts_of_one_blob_all_succeed(store).await;
    presign_follows_the_stores_capability(store, presign).await;
    delete_removes_a_blob_until_it_is_put_again(store).await;
}

async fn read(store: &dyn ImageStore, blob: &BlobRef) -> Option<Bytes> {
    let body = store.open(blob).await.expect("open succeeds")?;
    Some(
        read_body(body, blob.len)
            .await
            .expect("the body streams whole"),
    )
}

/// `put` names the bytes by their length and a 64-hex hash, and `open` gives them back.
pub async fn round_trips_through_put_and_open(store: &dyn ImageStore) {
    for format in [OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Webp] {
        let bytes = sample_bytes(1000);
        let blob = store
            .put(format, bytes.clone())
            .await
            .expect("put succeeds");
        assert_eq!(blob.len, 1000, "the ref carries the length");
        assert_eq!(blob.format, format, "the ref carries the format");
        assert!(blob.is_well_formed(), "a 64-hex hash: {}", blob.sha256);
        assert_eq!(
            read(store, &blob).await,
            Some(bytes),
            "{format} round-trips"
        );
    }
}

/// A blob never stored, or a reference whose hash is not 64 lower-case hex digits, is `None`.
pub async fn unknown_and_malformed_blobs_are_none(store: &dyn ImageStore) {
    let unknown = BlobRef {
        sha256: "0".repeat(64),
        len: 3,
        format: OutputFormat::Png,
    };
    assert!(store.open(&unknown).await.expect("open succeeds").is_none());
    let malformed = BlobRef {
        sha256: "../../etc/passwd".to_owned(),
        len: 3,
        format: OutputFormat::Png,
    };
    assert!(
        store
            .open(&malformed)
            .await
            .expect("a malformed ref is not an error")
            .is_none(),
        "a malformed ref names no blob"
    );
}

/// The same bytes put twice give the same reference; different bytes a different one.
pub async fn identical_bytes_are_stored_once_under_one_ref(store: &dyn ImageStore) {
    let bytes = sample_bytes(500);
    let first = store
        .put(OutputFormat::Png, bytes.clone())
        .await
        .expect("put succeeds");
    let again = store
        .put(OutputFormat::Png, bytes.clone())
        .await
        .expect("a second put of the same bytes succeeds");
    let other = store
        .put(OutputFormat::Png, sample_bytes(500))
        .await
        .expect("put succeeds");
    assert_eq!(first, again, "identical bytes, one blob");
    assert_ne!(
        first.sha256, other.sha256,
        "different bytes, different blobs"
    );
    assert_eq!(read(store, &again).await, Some(bytes));
}

/// Opening a stored blob with a reference of another length never ends cleanly: the body's
/// check fails (or there is no such blob).
pub async fn a_blob_read_against_the_wrong_hash_ends_in_an_error(store: &dyn ImageStore) {
    let blob = store
        .put(OutputFormat::Png, sample_bytes(300))
        .await
        .expect("put succeeds");
    let wrong = BlobRef {
        len: blob.len + 1,
        ..blob.clone()
    };
    if let Some(body) = store.open(&wrong).await.expect("open succeeds") {
        assert!(
            read_body(body, wrong.len).await.is_err(),
            "a body of another length than the ref says ends in an error"
        );
    }
}

/// A blob larger than any one read chunk streams back whole.
pub async fn a_large_image_streams_back_whole(store: &dyn ImageStore) {
    let bytes = sample_bytes(3 * 1024 * 1024 + 17);
    let blob = store
        .put(OutputFormat::Png, bytes.clone())
        .await
        .expect("put succeeds");
    assert_eq!(read(store, &blob).await, Some(bytes));
}

/// Replicas putting the same bytes at once all succeed with one reference.
pub async fn concurrent_puts_of_one_blob_all_succeed(store: &dyn ImageStore) {
    let bytes = sample_bytes(8192);
    let (a, b, c) = tokio::join!(
        store.put(OutputFormat::Webp, bytes.clone()),
        store.put(OutputFormat::Webp, bytes.clone()),
        store.put(OutputFormat::Webp, bytes.clone()),
    );
    let refs: Vec<BlobRef> = [a, b, c]
        .into_iter()
        .map(|r| r.expect("every concurrent put succeeds"))
        .collect();
    assert!(refs.windows(2).all(|w| w[0] == w[1]), "{refs:?}");
    assert_eq!(read(store, &refs[0]).await, Some(bytes));
}

/// `presign` is `None` for stores without it and an `http(s)` URL for stores with it.
pub async fn presign_follows_the_stores_capability(store: &dyn ImageStore, presign: Presign) {
    let blob = store
        .put(OutputFormat::Png, sample_bytes(256))
        .await
        .expect("put succeeds");

    let link = store
        .presign(&blob, Duration::from_secs(300))
        .await
        .expect("presign succeeds");

    match presign {
        Presign::Unsupported => assert_eq!(link, None),
        Presign::Supported => {
            let link = link.expect("a store that signs gives a link to a stored blob");
            assert!(
                link.starts_with("http://") || link.starts_with("https://"),
                "{link}"
            );
        }
    }
}

/// `delete` removes a blob (and is a no-op the second time, and for malformed refs); a `put`
/// of the same bytes afterwards stores them again.
pub async fn delete_removes_a_blob_until_it_is_put_again(store: &dyn ImageStore) {
    let bytes = sample_bytes(2_048);
    let blob = store
        .put(OutputFormat::Png, bytes.clone())
        .await
        .expect("put succeeds");
    store.delete(&blob).await.expect("delete succeeds");
    assert!(read(store, &blob).await.is_none(), "deleted, so not found");
    store
        .delete(&blob)
        .await
        .expect("a second delete is a no-op");
    let malformed = BlobRef {
        sha256: "../../etc/passwd".to_owned(),
        ..blob.clone()
    };
    store
        .delete(&malformed)
        .await
        .expect("a malformed ref is a no-op, never a path");
    let again = store
        .put(OutputFormat::Png, bytes.clone())
        .await
        .expect("put again succeeds");
    assert_eq!(again, blob);
    assert_eq!(read(store, &blob).await, Some(bytes), "stored again whole");
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
