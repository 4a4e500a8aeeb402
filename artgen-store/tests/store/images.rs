//! The filesystem image store: the port's conformance suite, then what is particular to files
//! (dedup on disk, atomicity leftovers, hostile ids, permissions).

use std::path::Path;

use artgen_core::domain::{Dimensions, ImageId, OutputFormat, RequestId};
use artgen_core::ports::{ImageMeta, ImageStore};
use artgen_core::testing::{image_store_conformance, Presign};
use artgen_core::ErrorCode;
use artgen_store::{Durability, FsImageStore};
use bytes::Bytes;

fn meta(format: OutputFormat) -> ImageMeta {
    ImageMeta {
        id: ImageId::generate(),
        owner: "ann".to_owned(),
        request_id: RequestId::generate(),
        format,
        dimensions: Dimensions::new(1024, 1536),
        created_at_ms: 1_700_000_000_123,
    }
}

/// Every file below `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
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

#[tokio::test]
async fn the_filesystem_store_keeps_the_image_store_contract() {
    for durability in [Durability::Crash, Durability::PowerLoss] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FsImageStore::new(dir.path()).with_durability(durability);
        image_store_conformance(&store, Presign::Unsupported).await;
    }
}

#[tokio::test]
async fn a_tampered_blob_ends_the_stream_with_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let meta = meta(OutputFormat::Png);
    store
        .put(&meta, Bytes::from_static(b"\x89PNG\r\n\x1a\nreal"))
        .await
        .expect("put succeeds");
    let blob = files(&dir.path().join("blobs")).pop().expect("one blob");
    std::fs::write(&blob, b"\x89PNG\r\n\x1a\nfake").expect("blob overwritten, same length");

    let reader = store.open(&meta.id).await.expect("opens").expect("stored");
    let err = reader.read_all().await.expect_err("hash mismatch detected");

    assert_eq!(err.code(), ErrorCode::Internal);
}

#[tokio::test]
async fn deleting_keeps_the_shared_blob_and_drops_only_the_metadata() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let (first, second) = (meta(OutputFormat::Png), meta(OutputFormat::Png));
    let bytes = Bytes::from_static(b"\x89PNG\r\n\x1a\nshared");
    store
        .put(&first, bytes.clone())
        .await
        .expect("put succeeds");
    store.put(&second, bytes).await.expect("put succeeds");

    store.delete(&first.id).await.expect("delete succeeds");

    assert_eq!(files(&dir.path().join("meta")).len(), 1);
    assert_eq!(files(&dir.path().join("blobs")).len(), 1);
}

#[tokio::test]
async fn stored_images_come_back_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let meta = meta(OutputFormat::Jpeg);
    let bytes = Bytes::from_static(b"\xFF\xD8\xFFnot really a jpeg");

    store.put(&meta, bytes.clone()).await.expect("put succeeds");
    let got = store.get(&meta.id).await.expect("get succeeds");

    assert_eq!(got, Some((meta, bytes)));
    let all = files(dir.path());
    assert_eq!(all.len(), 2, "one blob and one metadata file: {all:?}");
    assert!(all
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "jpg")));
    assert!(
        all.iter().all(|p| !p.to_string_lossy().contains(".tmp-")),
        "no temp files left behind"
    );
}

#[tokio::test]
async fn identical_bytes_are_stored_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let (first, second) = (meta(OutputFormat::Png), meta(OutputFormat::Png));
    let bytes = Bytes::from_static(b"\x89PNG\r\n\x1a\nsame pixels");

    store
        .put(&first, bytes.clone())
        .await
        .expect("put succeeds");
    store
        .put(&second, bytes.clone())
        .await
        .expect("put succeeds");

    assert_eq!(files(&dir.path().join("blobs")).len(), 1);
    assert_eq!(files(&dir.path().join("meta")).len(), 2);
    let got = store.get(&second.id).await.expect("get succeeds");
    assert_eq!(got, Some((second, bytes)));
}

#[tokio::test]
async fn a_blob_emptied_by_a_power_loss_is_refused_and_written_again_by_the_same_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    for durability in [Durability::Crash, Durability::PowerLoss] {
        let store =
            FsImageStore::new(dir.path().join(durability.as_str())).with_durability(durability);
        let (first, second) = (meta(OutputFormat::Png), meta(OutputFormat::Png));
        let bytes = Bytes::from_static(b"\x89PNG\r\n\x1a\nthe same pixels twice");
        store
            .put(&first, bytes.clone())
            .await
            .expect("put succeeds");
        let blobs = files(&dir.path().join(durability.as_str()).join("blobs"));
        // What a power loss without fsync may leave: the name, not the bytes.
        std::fs::write(&blobs[0], b"").expect("blob emptied");

        let torn = store.get(&first.id).await.expect_err("never served torn");
        store
            .put(&second, bytes.clone())
            .await
            .expect("put succeeds");

        assert_eq!(torn.code(), ErrorCode::Internal, "{durability}");
        assert_eq!(
            store.get(&second.id).await.expect("get succeeds"),
            Some((second, bytes.clone())),
            "{durability}"
        );
        assert_eq!(
            store.get(&first.id).await.expect("get succeeds"),
            Some((first, bytes)),
            "the rewritten blob serves the first image again ({durability})"
        );
    }
}

#[tokio::test]
async fn putting_an_existing_id_again_is_a_no_op() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let meta = meta(OutputFormat::Webp);
    let original = Bytes::from_static(b"RIFF\0\0\0\0WEBPoriginal");

    store
        .put(&meta, original.clone())
        .await
        .expect("put succeeds");
    store
        .put(&meta, Bytes::from_static(b"RIFF\0\0\0\0WEBPother"))
        .await
        .expect("second put succeeds");

    assert_eq!(
        store.get(&meta.id).await.expect("get succeeds"),
        Some((meta, original))
    );
    assert_eq!(files(&dir.path().join("blobs")).len(), 1);
}

#[tokio::test]
async fn unknown_ids_are_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());

    assert_eq!(
        store.get(&ImageId::generate()).await.expect("get succeeds"),
        None
    );
}

#[tokio::test]
async fn path_traversal_looking_ids_are_none_and_touch_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path().join("images"));
    std::fs::write(dir.path().join("secret.json"), b"{}").expect("decoy written");

    for text in [
        "img_../../secret",
        "../secret",
        "img_/etc/passwd",
        "img_abc",
        "",
    ] {
        let id = ImageId::from_trusted(text.to_owned());
        assert_eq!(store.get(&id).await.expect("get succeeds"), None, "{text}");
    }
    let mut bad = meta(OutputFormat::Png);
    bad.id = ImageId::from_trusted("img_../../secret".to_owned());
    let err = store
        .put(&bad, Bytes::from_static(b"x"))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::Internal);
    assert!(!dir.path().join("images").exists(), "nothing was written");
}

#[tokio::test]
async fn a_tampered_blob_is_an_error_not_wrong_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsImageStore::new(dir.path());
    let meta = meta(OutputFormat::Png);
    store
        .put(&meta, Bytes::from_static(b"\x89PNG\r\n\x1a\nreal"))
        .await
        .expect("put succeeds");
    let blob = files(&dir.path().join("blobs")).pop().expect("one blob");
    std::fs::write(&blob, b"\x89PNG\r\n\x1a\nswapped").expect("blob overwritten");

    let err = store
        .get(&meta.id)
        .await
        .expect_err("hash mismatch detected");

    assert_eq!(err.code(), ErrorCode::Internal);
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
            &meta(OutputFormat::Png),
            Bytes::from_static(b"\x89PNG\r\n\x1a\nprivate"),
        )
        .await
        .expect("put succeeds");

    let written = files(&root);
    assert_eq!(written.len(), 2, "one blob and one metadata file");
    for file in written {
        assert_eq!(mode(&file), "600", "{}", file.display());
    }
    let made = folders(&dir.path().join("data"));
    assert_eq!(
        made.len(),
        5,
        "data, images, blobs, blobs/xx, meta: {made:?}"
    );
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
