//! Small images as rows of the SQLite database, in front of the folder: the blob port's
//! conformance suite for the database alone and for the two tiers, then where each blob goes,
//! what is found where, what survives a restart, and the WAL that carries them staying bounded.

use std::path::Path;
use std::sync::Arc;

use artgen_core::domain::OutputFormat;
use artgen_core::ports::{read_body, BlobRef, ImageStore};
use artgen_core::testing::{image_store_conformance, sample_bytes, Presign};
use artgen_store::{Durability, FsImageStore, SqliteStore, TieredImageStore};
use bytes::Bytes;

use crate::durability::{lock, unlock};
use crate::images::files;

/// The threshold these tests use: 16 KiB.
const SMALL_MAX: u64 = 16 * 1024;

async fn read(store: &dyn ImageStore, blob: &BlobRef) -> Option<Bytes> {
    let body = store.open(blob).await.expect("open succeeds")?;
    Some(read_body(body, blob.len).await.expect("reads whole"))
}

async fn blob_rows(database: &SqliteStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM blobs")
        .fetch_one(database.pool())
        .await
        .expect("counts blob rows")
}

/// A database file and an image folder in `dir`, and the two tiers over them.
async fn tiers(dir: &Path) -> (SqliteStore, FsImageStore, TieredImageStore) {
    let database = SqliteStore::open(&dir.join("artgen.db"))
        .await
        .expect("database opens");
    let folder = FsImageStore::new(dir.join("images"));
    let tiered = TieredImageStore::new(
        Arc::new(database.clone()),
        Arc::new(folder.clone()),
        SMALL_MAX,
    );
    (database, folder, tiered)
}

#[tokio::test]
async fn the_database_alone_keeps_the_image_store_contract() {
    image_store_conformance(
        &SqliteStore::in_memory().await.expect("opens"),
        Presign::Unsupported,
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = artgen_store::DatabaseConfig {
        durability: Durability::PowerLoss,
        ..Default::default()
    };
    let file = SqliteStore::open_with(&dir.path().join("artgen.db"), &config)
        .await
        .expect("opens");
    image_store_conformance(&file, Presign::Unsupported).await;
}

#[tokio::test]
async fn the_two_tiers_keep_the_image_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_database, _folder, tiered) = tiers(dir.path()).await;
    image_store_conformance(&tiered, Presign::Unsupported).await;
}

#[tokio::test]
async fn a_small_image_is_a_row_and_no_file_and_a_large_one_is_a_file_and_no_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database, _folder, tiered) = tiers(dir.path()).await;
    let small = sample_bytes(usize::try_from(SMALL_MAX).expect("fits"));
    let large = sample_bytes(usize::try_from(SMALL_MAX).expect("fits") + 1);

    let small_blob = tiered
        .put(OutputFormat::Png, small.clone())
        .await
        .expect("put succeeds");
    assert_eq!(blob_rows(&database).await, 1, "the small image is a row");
    assert!(files(&dir.path().join("images")).is_empty(), "and no file");

    let large_blob = tiered
        .put(OutputFormat::Png, large.clone())
        .await
        .expect("put succeeds");
    assert_eq!(blob_rows(&database).await, 1, "the large image is no row");
    assert_eq!(files(&dir.path().join("images")).len(), 1, "but a file");

    assert_eq!(read(&tiered, &small_blob).await, Some(small));
    assert_eq!(read(&tiered, &large_blob).await, Some(large));
    tiered.delete(&small_blob).await.expect("deletes");
    tiered.delete(&large_blob).await.expect("deletes");
    assert_eq!(blob_rows(&database).await, 0, "the row is gone");
    assert!(files(&dir.path().join("images")).is_empty(), "the file too");
}

#[tokio::test]
async fn small_images_kept_as_files_before_the_tiers_are_still_read_and_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database, folder, tiered) = tiers(dir.path()).await;
    let bytes = sample_bytes(500);
    // Written by a version without the database tier.
    let old = folder
        .put(OutputFormat::Jpeg, bytes.clone())
        .await
        .expect("put succeeds");

    assert_eq!(read(&tiered, &old).await, Some(bytes));
    tiered.delete(&old).await.expect("deletes");
    assert!(read(&tiered, &old).await.is_none(), "gone from the folder");
    assert!(files(&dir.path().join("images")).is_empty());
    assert_eq!(blob_rows(&database).await, 0);
}

#[tokio::test]
async fn a_small_image_whose_row_slot_is_taken_goes_to_the_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database, _folder, tiered) = tiers(dir.path()).await;
    let bytes = sample_bytes(700);
    let probe = database
        .put(OutputFormat::Png, bytes.clone())
        .await
        .expect("put succeeds");
    // Another blob's hash with the same first 8 bytes: give the row to it.
    let other = format!("{}{}", &probe.sha256[..16], "0".repeat(48));
    sqlx::query("UPDATE blobs SET sha256 = ?")
        .bind(&other)
        .execute(database.pool())
        .await
        .expect("rewrites the row");
    assert!(
        read(&database, &probe).await.is_none(),
        "the database holds another blob in that slot"
    );

    let blob = tiered
        .put(OutputFormat::Png, bytes.clone())
        .await
        .expect("the folder takes it");
    assert_eq!(blob, probe);
    assert_eq!(files(&dir.path().join("images")).len(), 1, "kept as a file");
    assert_eq!(read(&tiered, &blob).await, Some(bytes));
    tiered.delete(&blob).await.expect("deletes");
    assert!(files(&dir.path().join("images")).is_empty());
    assert_eq!(blob_rows(&database).await, 1, "the other blob's row stays");
}

#[tokio::test]
async fn small_images_go_to_the_folder_when_the_database_cannot_take_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database, _folder, tiered) = tiers(dir.path()).await;
    database.close().await;
    let bytes = sample_bytes(900);

    let blob = tiered
        .put(OutputFormat::Webp, bytes.clone())
        .await
        .expect("the folder takes it");
    assert_eq!(files(&dir.path().join("images")).len(), 1, "kept as a file");
    let folder = FsImageStore::new(dir.path().join("images"));
    assert_eq!(read(&folder, &blob).await, Some(bytes));
}

#[tokio::test]
async fn a_small_image_survives_closing_and_reopening_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = sample_bytes(1_136);
    let blob = {
        let (database, _folder, tiered) = tiers(dir.path()).await;
        let blob = tiered
            .put(OutputFormat::Png, bytes.clone())
            .await
            .expect("put succeeds");
        database.close().await;
        blob
    };
    let (_database, _folder, tiered) = tiers(dir.path()).await;
    assert_eq!(read(&tiered, &blob).await, Some(bytes));
}

#[tokio::test(flavor = "multi_thread")]
async fn small_images_queued_behind_a_commit_share_the_next_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database, _folder, tiered) = tiers(dir.path()).await;
    // Another connection holds the write lock (as a long write of another process would):
    // the puts queue at the writer, and once it is free they are committed together.
    let locker = lock(&dir.path().join("artgen.db")).await;
    let before = database.usage_commits();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let tiered = tiered.clone();
        tasks.spawn(async move { tiered.put(OutputFormat::Png, sample_bytes(1_000)).await });
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    unlock(locker).await;
    let mut blobs: Vec<BlobRef> = Vec::new();
    while let Some(put) = tasks.join_next().await {
        blobs.push(put.expect("task").expect("put succeeds"));
    }
    let commits = database.usage_commits() - before;
    assert_eq!(blob_rows(&database).await, 64);
    assert!(
        commits <= 2,
        "the first put's commit, then one for the 63 that waited: {commits}"
    );
    for blob in &blobs {
        assert!(read(&tiered, blob).await.is_some());
    }
}

#[tokio::test]
async fn the_wal_is_copied_into_the_database_file_while_the_store_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    let database = SqliteStore::open(&path).await.expect("database opens");
    let before = std::fs::metadata(&path).expect("database file").len();
    for _ in 0..40 {
        database
            .put(OutputFormat::Png, sample_bytes(60_000))
            .await
            .expect("put succeeds");
    }
    // 2.4 MB went to the WAL; the usage writer never checkpoints, the checkpointer does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&path).expect("database file").len();
        if now >= before + 2_000_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {now} bytes (was {before}): nothing checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_wal_starts_over_while_writes_keep_coming() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("artgen.db");
    let database = SqliteStore::open(&path).await.expect("database opens");
    let wal = dir.path().join("artgen.db-wal");
    // 192 MB through the WAL from 8 writers at once, leaving the writer no pause to catch up
    // in; the WAL starts over once it holds 64 MiB.
    let writers = (0..8).map(|_| {
        let database = database.clone();
        tokio::spawn(async move {
            for _ in 0..400 {
                database
                    .put(OutputFormat::Png, sample_bytes(60_000))
                    .await
                    .expect("put succeeds");
            }
        })
    });
    for writer in futures_util::future::join_all(writers).await {
        writer.expect("the writer ends");
    }
    let size = std::fs::metadata(&wal).expect("the WAL").len();
    assert!(
        size < 140_000_000,
        "the WAL grew to {size} bytes for 192 MB written: it is never started over"
    );
}
