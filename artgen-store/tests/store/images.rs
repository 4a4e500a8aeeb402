//! The filesystem image store: the blob port's conformance suite, then what is particular to
//! files (one file per image, dedup on disk, torn blobs, hostile refs, the old layout's import,
//! permissions).

use std::path::Path;

use artgen_core::domain::{ImageId, OutputFormat};
use artgen_core::ports::{read_body, BlobRef, ImageStore};
use artgen_core::testing::{image_store_conformance, sample_bytes, Presign};
use artgen_core::ErrorCode;
use artgen_store::{Durability, FsImageStore};
use bytes::Bytes;

/// Every file below `dir`, recursively (also the tiered store's tests).
pub(crate) fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

async fn read(store: &FsImageStore, blob: &BlobRef) -> artgen_core::Result<Bytes> {
    let body = store.open(blob).await?.expect("the blob is stored");
    read_body(body, blob.len).await
}

#[tokio::test]
async fn the_filesystem_store_keeps_the_image_store_contract() {
    for durability in [Durability::Crash, Durability::PowerLoss] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FsImageStore::new(dir.path()).with_durability(durability);
        image_store_conformance(&store, Presign::Unsupported).await;
    }
}

#[tokio::test]
async fn each_new_image_is_one_file_named_by_its_hash_and_twins_share_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let twin = sample_bytes(2048);

    let put = |format, bytes: Bytes| {
        let store = &store;
        async move { store.put(format, bytes).await.expect("put succeeds") }
    };
    let first = put(OutputFormat::Png, twin.clone()).await;
    let other = put(OutputFormat::Jpeg, sample_bytes(100)).await;
    let again = put(OutputFormat::Png, twin).await;
    // Past the size written on the calling thread: hashed while it is written elsewhere.
    let large = sample_bytes(300 * 1024);
    let big = put(OutputFormat::Webp, large.clone()).await;
    let big_again = put(OutputFormat::Webp, large.clone()).await;

    let mut written: Vec<String> = files(dir.path())
        .iter()
        .map(|p| {
            p.strip_prefix(dir.path())
                .expect("below the root")
                .display()
                .to_string()
        })
        .collect();
    written.sort();
    let mut expected = vec![
        format!("blobs/{}/{}.png", &first.sha256[..2], first.sha256),
        format!("blobs/{}/{}.jpg", &other.sha256[..2], other.sha256),
        format!("blobs/{}/{}.webp", &big.sha256[..2], big.sha256),
    ];
    expected.sort();
    assert_eq!(
        written, expected,
        "one file per distinct image, nothing else (no temporary file left)"
    );
    assert_eq!(first, again);
    assert_eq!(big, big_again);
    assert_eq!(big.len, 300 * 1024);
    assert_eq!(read(&store, &big).await.expect("read succeeds"), large);
}

#[tokio::test]
async fn a_tampered_blob_ends_the_stream_with_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let blob = store
        .put(
            OutputFormat::Png,
            Bytes::from_static(b"\x89PNG\r\n\x1a\nreal"),
        )
        .await
        .expect("put succeeds");
    let file = files(&dir.path().join("blobs")).pop().expect("one blob");
    std::fs::write(&file, b"\x89PNG\r\n\x1a\nfake").expect("blob overwritten, same length");

    let err = read(&store, &blob).await.expect_err("hash mismatch");

    assert_eq!(err.code(), ErrorCode::Internal);
}

#[tokio::test]
async fn a_blob_emptied_by_a_power_loss_is_refused_and_written_again_by_the_same_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    for durability in [Durability::Crash, Durability::PowerLoss] {
        let root = dir.path().join(durability.as_str());
        let store = FsImageStore::new(&root).with_durability(durability);
        let bytes = Bytes::from_static(b"\x89PNG\r\n\x1a\nthe same pixels twice");
        let blob = store
            .put(OutputFormat::Png, bytes.clone())
            .await
            .expect("put succeeds");
        let blobs = files(&root.join("blobs"));
        // What a power loss without fsync may leave: the name, not the bytes.
        std::fs::write(&blobs[0], b"").expect("blob emptied");

        let torn = read(&store, &blob).await.expect_err("never served torn");
        store
            .put(OutputFormat::Png, bytes.clone())
            .await
            .expect("put succeeds");

        assert_eq!(torn.code(), ErrorCode::Internal, "{durability}");
        assert_eq!(
            read(&store, &blob).await.expect("read succeeds"),
            bytes,
            "the rewritten blob serves again ({durability})"
        );
    }
}

#[tokio::test]
async fn path_traversal_looking_refs_are_none_and_touch_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path().join("images"));
    std::fs::write(dir.path().join("secret.png"), b"not an image").expect("bait written");
    for sha256 in ["../../secret", "../secret.png", &"A".repeat(64), ""] {
        let blob = BlobRef {
            sha256: sha256.to_owned(),
            len: 12,
            format: OutputFormat::Png,
        };
        assert!(
            store.open(&blob).await.expect("no error").is_none(),
            "{sha256}"
        );
    }
    assert!(!dir.path().join("images").exists(), "nothing was created");
}

#[tokio::test]
async fn an_old_layout_folder_lists_its_images_for_import_and_forgets_them_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let bytes = sample_bytes(77);
    let blob = store
        .put(OutputFormat::Webp, bytes.clone())
        .await
        .expect("put succeeds");
    let id = ImageId::generate();
    let meta_dir = dir.path().join("meta");
    std::fs::create_dir(&meta_dir).expect("meta folder");
    std::fs::write(
        meta_dir.join(format!("{id}.json")),
        format!(
            r#"{{"id":"{id}","owner":"ann","request_id":"req_0123456789abcdefghjkmnpq","format":"webp","dimensions":"8x8","created_at_ms":5,"sha256":"{}"}}"#,
            blob.sha256
        ),
    )
    .expect("old metadata written");
    std::fs::write(meta_dir.join("img_broken.json"), b"{").expect("junk written");

    let found = store.legacy_images().await.expect("listed");
    store
        .forget_legacy(found.iter().map(|m| m.id.clone()).collect())
        .await
        .expect("forgotten");

    assert_eq!(found.len(), 1, "the unreadable file is skipped");
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].owner, "ann");
    assert_eq!(found[0].blob(), blob, "the length is read from the blob");
    assert!(!meta_dir.join(format!("{id}.json")).exists());
    assert!(store.legacy_images().await.expect("listed").len() <= 1);
}

/// The permission bits of `path`, in octal (Unix).
#[cfg(unix)]
fn mode(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", metadata.permissions().mode() & 0o7777)
}

/// Every folder below `dir`, recursively, `dir` included.
#[cfg(unix)]
fn folders(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir).expect("folder readable").flatten() {
        if entry.path().is_dir() {
            out.extend(folders(&entry.path()));
        }
    }
    out
}

#[cfg(unix)]
#[tokio::test]
async fn image_files_are_private_to_the_owner_and_their_folders_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("data").join("images");
    let store = FsImageStore::new(&root);

    store
        .put(
            OutputFormat::Png,
            Bytes::from_static(b"\x89PNG\r\n\x1a\nprivate"),
        )
        .await
        .expect("put succeeds");

    let written = files(&root);
    assert_eq!(written.len(), 1, "one blob, and no metadata file");
    for file in written {
        assert_eq!(mode(&file), "600", "{}", file.display());
    }
    let made = folders(&dir.path().join("data"));
    assert_eq!(made.len(), 4, "data, images, blobs, blobs/xx: {made:?}");
    for folder in made {
        assert_eq!(mode(&folder), "700", "{}", folder.display());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn opening_creates_a_private_root_or_narrows_an_existing_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = dir.path().join("fresh");
    let old = dir.path().join("old");
    std::fs::create_dir(&old).expect("folder made");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755))
        .expect("mode widened, as an older version left it");

    FsImageStore::open(&fresh).await.expect("store opens");
    FsImageStore::open(&old).await.expect("store opens");

    assert_eq!(mode(&fresh), "700");
    assert_eq!(mode(&old), "700");
}
