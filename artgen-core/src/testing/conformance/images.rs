//! The [`ImageIndex`] contract, with the rows written by [`UsageStore::finish`], as
//! scenarios run against every SQL adapter (and the in-memory fake).

use std::future::Future;
use std::sync::Arc;

use crate::domain::{Dimensions, ImageId, OutputFormat, RequestId};
use crate::ports::{ImageCursor, ImageIndex, ImageMeta, UsageStore};

use super::usage::{started, succeeded};

/// A store under test: one backend seen through both ports.
#[derive(Clone)]
pub struct Backend {
    /// The usage port (whose finish writes image rows).
    pub usage: Arc<dyn UsageStore>,
    /// The image index of the same backend.
    pub images: Arc<dyn ImageIndex>,
}

/// Runs every scenario, each on a fresh, empty backend from `new_backend`.
///
/// # Panics
/// When the backend breaks the contract.
pub async fn image_index_suite<F, Fut>(mut new_backend: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Backend>,
{
    a_finish_writes_its_image_rows_which_round_trip(new_backend().await).await;
    a_failed_finish_writes_no_image_and_a_replayed_one_no_second_row(new_backend().await).await;
    a_gallery_pages_newest_first_without_repeats_or_skips(new_backend().await).await;
    deleting_removes_the_row_once(new_backend().await).await;
    importing_keeps_rows_already_there(new_backend().await).await;
    retention_finds_old_images_oldest_first_and_forgets_old_prompts(new_backend().await).await;
}

/// An image row of `owner` at `created_at_ms` for the request `request_id`.
pub fn image(owner: &str, request_id: &RequestId, created_at_ms: i64) -> ImageMeta {
    ImageMeta {
        id: ImageId::generate(),
        owner: owner.to_owned(),
        org: Some("acme".to_owned()),
        request_id: request_id.clone(),
        prompt: "a lighthouse in a storm, «ünïcode» and 'quotes'".to_owned(),
        model: "gpt-image-1".to_owned(),
        format: OutputFormat::Webp,
        dimensions: Dimensions::new(1536, 1024),
        sha256: "ab".repeat(32),
        len: 123_456,
        created_at_ms,
    }
}

/// Scenario: a finish writes its image rows with every field intact; `get` of an unknown id
/// is `None`.
pub async fn a_finish_writes_its_image_rows_which_round_trip(backend: Backend) {
    let open = started("ann", 1_000);
    backend.usage.start(&open).await.expect("start succeeds");
    let first = image("ann", &open.request_id, 1_000);
    let second = ImageMeta {
        org: None,
        format: OutputFormat::Png,
        ..image("ann", &open.request_id, 1_000)
    };

    backend
        .usage
        .finish(&succeeded(&open), &[first.clone(), second.clone()])
        .await
        .expect("finish succeeds");

    for expected in [&first, &second] {
        let got = backend
            .images
            .get_image(&expected.id)
            .await
            .expect("get succeeds");
        assert_eq!(got.as_ref(), Some(expected), "the row round-trips");
    }
    let none = backend
        .images
        .get_image(&ImageId::generate())
        .await
        .expect("get succeeds");
    assert_eq!(none, None);
}

/// Scenario: a finish without images writes none, and images finished twice (a replayed
/// spool, a retried write) have one row each, kept as first written.
pub async fn a_failed_finish_writes_no_image_and_a_replayed_one_no_second_row(backend: Backend) {
    let failed = started("ann", 1_000);
    backend.usage.start(&failed).await.expect("start succeeds");
    backend
        .usage
        .finish(&succeeded(&failed), &[])
        .await
        .expect("finish succeeds");
    let listed = backend
        .images
        .list_images("ann", None, 10)
        .await
        .expect("list succeeds");
    assert!(listed.is_empty(), "{listed:?}");

    let open = started("ann", 2_000);
    let kept = image("ann", &open.request_id, 2_000);
    let changed = ImageMeta {
        prompt: "another prompt".to_owned(),
        ..kept.clone()
    };
    backend
        .usage
        .finish(&succeeded(&open), std::slice::from_ref(&kept))
        .await
        .expect("finish succeeds");
    backend
        .usage
        .finish(&succeeded(&open), &[changed])
        .await
        .expect("a second finish succeeds");
    let listed = backend
        .images
        .list_images("ann", None, 10)
        .await
        .expect("list succeeds");
    assert_eq!(listed, vec![kept], "one row, as first written");
}

/// Scenario: pages of an owner's gallery follow the cursor, newest first (ties by id
/// descending), with no image repeated or skipped, and nobody else's image in them.
pub async fn a_gallery_pages_newest_first_without_repeats_or_skips(backend: Backend) {
    let mut mine = Vec::new();
    for (i, at) in [5_000, 7_000, 7_000, 7_000, 1_000, 9_000, 3_000]
        .iter()
        .enumerate()
    {
        let open = started("ann", *at);
        let images = vec![image("ann", &open.request_id, *at)];
        let theirs = image("bob", &open.request_id, *at + i as i64);
        backend
            .usage
            .finish(&succeeded(&open), &[images[0].clone(), theirs])
            .await
            .expect("finish succeeds");
        mine.extend(images);
    }
    mine.sort_by(|a, b| (b.created_at_ms, b.id.as_str()).cmp(&(a.created_at_ms, a.id.as_str())));

    let mut seen = Vec::new();
    let mut cursor: Option<ImageCursor> = None;
    for _page in 0..10 {
        let page = backend
            .images
            .list_images("ann", cursor.as_ref(), 3)
            .await
            .expect("list succeeds");
        assert!(page.len() <= 3, "a page holds at most its limit");
        let Some(last) = page.last() else { break };
        cursor = Some(ImageCursor::after(last));
        seen.extend(page);
    }
    assert_eq!(seen, mine, "every image once, newest first, only ann's");
}

/// Scenario: `delete` removes a row (`true`), and again finds nothing (`false`); other rows
/// stay; `blob_in_use` holds while any row names the bytes.
pub async fn deleting_removes_the_row_once(backend: Backend) {
    let open = started("ann", 1_000);
    let gone = image("ann", &open.request_id, 1_000);
    let stays = image("ann", &open.request_id, 1_000);
    backend
        .usage
        .finish(&succeeded(&open), &[gone.clone(), stays.clone()])
        .await
        .expect("finish succeeds");

    assert!(backend.images.delete_image(&gone.id).await.expect("delete"));
    assert!(!backend.images.delete_image(&gone.id).await.expect("again"));
    assert_eq!(backend.images.get_image(&gone.id).await.expect("get"), None);
    assert_eq!(
        backend.images.get_image(&stays.id).await.expect("get"),
        Some(stays.clone())
    );
    // Both rows named the same bytes: the blob is in use until the last row goes.
    let in_use = |sha: String| {
        let images = backend.images.clone();
        async move { images.blob_in_use(&sha).await.expect("blob_in_use") }
    };
    assert!(in_use(stays.sha256.clone()).await, "the other row names it");
    assert!(!in_use("cd".repeat(32)).await, "no row names these bytes");
    assert!(backend
        .images
        .delete_image(&stays.id)
        .await
        .expect("delete"));
    assert!(!in_use(stays.sha256.clone()).await, "no row is left");
}

/// Scenario: `list_expired` returns the images created before the cutoff, oldest first (ties
/// by id), at most `limit`; `forget_prompts` empties the prompts of older usage rows only,
/// keeps their counts and cost, and counts nothing the second time.
pub async fn retention_finds_old_images_oldest_first_and_forgets_old_prompts(backend: Backend) {
    let mut expected = Vec::new();
    for at in [3_000, 1_000, 2_000, 2_000, 9_000] {
        let open = started("ann", at);
        backend.usage.start(&open).await.expect("start succeeds");
        let row = image("ann", &open.request_id, at);
        backend
            .usage
            .finish(&succeeded(&open), std::slice::from_ref(&row))
            .await
            .expect("finish succeeds");
        if at < 5_000 {
            expected.push(row);
        }
    }
    expected
        .sort_by(|a, b| (a.created_at_ms, a.id.as_str()).cmp(&(b.created_at_ms, b.id.as_str())));
    let found = backend
        .images
        .list_expired(5_000, 100)
        .await
        .expect("list_expired");
    assert_eq!(
        found, expected,
        "every image before the cutoff, oldest first"
    );
    let first_two = backend
        .images
        .list_expired(5_000, 2)
        .await
        .expect("list_expired");
    assert_eq!(first_two, expected[..2], "at most `limit`, from the oldest");
    assert!(
        backend
            .images
            .list_expired(1_000, 100)
            .await
            .expect("list_expired")
            .is_empty(),
        "the cutoff is exclusive"
    );

    assert_eq!(
        backend.usage.forget_prompts(2_500).await.expect("forget"),
        3
    );
    assert_eq!(backend.usage.forget_prompts(2_500).await.expect("again"), 0);
    let rows = backend
        .usage
        .list(&crate::domain::UsageQuery::default())
        .await
        .expect("list");
    assert_eq!(rows.len(), 5, "rows stay");
    for row in rows {
        let kept = succeeded(&started("ann", row.created_at_ms));
        if row.created_at_ms < 2_500 {
            assert!(row.prompt.is_empty(), "an old prompt is forgotten");
        } else {
            assert_eq!(row.prompt, kept.prompt, "a newer prompt stays");
        }
        assert_eq!(
            (row.cost, row.images, row.tokens),
            (kept.cost, kept.images, kept.tokens),
            "the aggregates stay"
        );
    }
}

/// Scenario: importing counts only new rows and keeps an existing row as it is.
pub async fn importing_keeps_rows_already_there(backend: Backend) {
    let open = started("ann", 1_000);
    let existing = image("ann", &open.request_id, 1_000);
    backend
        .usage
        .finish(&succeeded(&open), std::slice::from_ref(&existing))
        .await
        .expect("finish succeeds");
    let imported = ImageMeta {
        prompt: String::new(),
        model: String::new(),
        org: None,
        ..image("ann", &RequestId::generate(), 500)
    };
    let overwrite = ImageMeta {
        owner: "mallory".to_owned(),
        ..existing.clone()
    };

    let new = backend
        .images
        .import_images(&[imported.clone(), overwrite])
        .await
        .expect("import succeeds");
    let again = backend
        .images
        .import_images(std::slice::from_ref(&imported))
        .await
        .expect("a second import succeeds");

    assert_eq!((new, again), (1, 0));
    assert_eq!(
        backend.images.get_image(&existing.id).await.expect("get"),
        Some(existing)
    );
    assert_eq!(
        backend.images.get_image(&imported.id).await.expect("get"),
        Some(imported)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryUsageStore;

    #[tokio::test]
    async fn the_in_memory_fake_keeps_the_contract() {
        image_index_suite(|| async {
            let store = Arc::new(InMemoryUsageStore::default());
            Backend {
                usage: store.clone(),
                images: store,
            }
        })
        .await;
    }
}
