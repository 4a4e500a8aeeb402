//! [`ImageStore`] on the local filesystem.
//!
//! Layout under the root folder: `blobs/<first two hex digits>/<sha256>.<ext>`, the bytes,
//! content-addressed, so identical images are stored once. That is the only file per image:
//! what an image is (owner, prompt, size, …) is a row of the
//! [`ImageIndex`](artgen_core::ports::ImageIndex), written with the request's usage row. A
//! folder from before the index also has `meta/<image id>.json` files;
//! [`FsImageStore::legacy_images`] reads them for the one-time import at start and
//! [`FsImageStore::forget_legacy`] removes them once imported.
//!
//! Every blob is written to a temporary file (in its final folder, or in `blobs/` for one
//! written while it is hashed), then renamed into place, so a reader sees either nothing or
//! the whole file. Paths are only ever built from hashes this store computed or that are 64
//! lower-case hex digits.
//!
//! With the default [`Durability::Crash`] nothing is fsynced on the response path: a crash of
//! the process loses nothing (the kernel holds the written files), while a power loss may lose
//! the files written just before it, leaving them missing or empty. Such an image is never
//! served torn: every blob is checked against its length and SHA-256 when read (a damaged one
//! ends its stream with an error), and every `put` writes its file again, so the same bytes coming
//! back mend it. With [`Durability::PowerLoss`] each file and its folder are fsynced before
//! `put` returns.
//!
//! `delete` removes a blob's file; the service calls it only once no image row names the
//! blob (identical images share one). There are no presigned URLs: ArtGen serves these files
//! itself.
//!
//! Images are users' work, so on Unix files are created with mode `0600` and folders with
//! `0700` (independent of the umask, which can only narrow them). [`FsImageStore::open`] also
//! narrows an existing root folder to its owner, which hides every image below it even when
//! older files are still world-readable.

use std::path::{Path, PathBuf};

use artgen_core::domain::{ImageId, OutputFormat};
use artgen_core::ports::{BlobRef, ImageBody, ImageMeta, ImageStore};
use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncReadExt as _;

use crate::config::Durability;
use crate::error::{io_error, StoreError};
use crate::image_layout::{extension, LegacyMeta};
use crate::verify::{blob_ref, VerifiedBody};

/// The largest blob written on the calling thread rather than the blocking pool (when not
/// fsynced): a small image's hash and write cost less than the hand-off.
const INLINE_MAX: usize = 64 * 1024;

/// Images on local disk, content-addressed by SHA-256.
#[derive(Debug, Clone)]
pub struct FsImageStore {
    root: PathBuf,
    durability: Durability,
}

/// Mode of the folders this crate creates: owner only.
#[cfg(unix)]
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Mode of the files this crate creates: owner read and write.
#[cfg(unix)]
const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents, each new folder with mode `0700` on Unix.
/// Existing folders are left as they are.
pub(crate) async fn create_private_dir_all(dir: &Path) -> Result<(), StoreError> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(PRIVATE_DIR_MODE);
    builder.create(dir).await.map_err(io_error(dir))
}

/// Options that create a new file, with mode `0600` on Unix, for writing.
fn private_file_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(PRIVATE_FILE_MODE);
    options
}

/// Creates the empty file `path` with mode `0600` on Unix; `Ok(false)` when it already exists
/// (it is then left untouched).
pub(crate) async fn create_private_file(path: &Path) -> Result<bool, StoreError> {
    match private_file_options().open(path).await {
        Ok(_file) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(io_error(path)(err)),
    }
}

/// Removes the group and other permission bits of an existing file or folder (Unix only;
/// never widens). A missing path is fine. Failing to change the mode (e.g. the path belongs to
/// another user) is logged, not returned: the data is still usable, only less private.
pub(crate) async fn restrict_to_owner(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = match tokio::fs::metadata(path).await {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot read permissions");
                return;
            }
        };
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return;
        }
        let narrowed_mode = mode & !0o077;
        let narrowed = std::fs::Permissions::from_mode(narrowed_mode);
        match tokio::fs::set_permissions(path, narrowed).await {
            Ok(()) => tracing::info!(
                path = %path.display(),
                from = format!("{mode:o}"),
                to = format!("{narrowed_mode:o}"),
                "restricted permissions to the owner"
            ),
            Err(err) => tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                error = %err,
                "readable by others and cannot be restricted"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `contents` to `path` atomically: temp file in the same folder, rename. With `sync`,
/// the file is fsynced before the rename and the folder after it. Blocking: runs on a
/// blocking-pool thread.
fn write_atomically(path: &Path, contents: &[u8], sync: bool) -> Result<(), StoreError> {
    let dir = path.parent().ok_or_else(|| StoreError::Io {
        path: path.to_owned(),
        source: std::io::Error::other("path has no parent folder"),
    })?;
    let temp = write_temp(dir, contents, sync)?;
    rename_into(&temp, path)?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Writes `contents` to a new temporary file in `dir` (fsynced with `sync`) and returns its
/// path. A missing folder is created (mode `0700`, the file `0600` on Unix) only when the
/// first create fails for want of it, so the common case costs no folder check. On failure
/// nothing is left behind.
fn write_temp(dir: &Path, contents: &[u8], sync: bool) -> Result<PathBuf, StoreError> {
    use std::io::Write as _;

    let temp = dir.join(format!(".tmp-{:016x}", rand::random::<u64>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    let mut file = match options.open(&temp) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir_all_blocking(dir)?;
            options.open(&temp).map_err(io_error(&temp))?
        }
        Err(err) => return Err(io_error(&temp)(err)),
    };
    let written = file
        .write_all(contents)
        .and_then(|()| if sync { file.sync_all() } else { Ok(()) });
    drop(file);
    match written {
        Ok(()) => Ok(temp),
        Err(err) => {
            // Best effort: the temp file is garbage either way.
            let _ignored = std::fs::remove_file(&temp);
            Err(io_error(&temp)(err))
        }
    }
}

/// Renames the temporary file `temp` to `path` (on the same file system), creating `path`'s
/// folder when the rename fails for want of it. On failure `temp` is removed.
fn rename_into(temp: &Path, path: &Path) -> Result<(), StoreError> {
    let renamed = match std::fs::rename(temp, path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && temp.exists() => path
            .parent()
            .map_or(Ok(()), create_private_dir_all_blocking)
            .and_then(|()| std::fs::rename(temp, path).map_err(io_error(path))),
        other => other.map_err(io_error(path)),
    };
    if renamed.is_err() {
        // Best effort: the temp file is garbage either way.
        let _ignored = std::fs::remove_file(temp);
    }
    renamed
}

/// Creates `dir` and its missing parents, each new folder with mode `0700` on Unix (blocking).
fn create_private_dir_all_blocking(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder.create(dir).map_err(io_error(dir))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    let handle = std::fs::File::open(dir).map_err(io_error(dir))?;
    handle.sync_all().map_err(io_error(dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Runs blocking file work on tokio's blocking pool: one hand-off for a whole operation.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(StoreError::Task)?
}

impl FsImageStore {
    /// A store rooted at `root`; folders are created on first write. Does no I/O; prefer
    /// [`FsImageStore::open`] in a server, which also secures an existing root folder.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            durability: Durability::Crash,
        }
    }

    /// Sets what a stored image survives: [`Durability::PowerLoss`] fsyncs each file and its
    /// folder before `put` returns; the default [`Durability::Crash`] does not.
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// A store rooted at `root`, creating the folder (mode `0700` on Unix) when missing and
    /// narrowing an existing one to its owner (group and other bits removed), so images written
    /// before ArtGen restricted permissions are hidden too.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the folder cannot be created.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        create_private_dir_all(&root).await?;
        restrict_to_owner(&root).await;
        Ok(Self::new(root))
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of the metadata files of stores from before the image index.
    fn legacy_dir(&self) -> PathBuf {
        self.root.join("meta")
    }

    /// The blob file of a hash this store computed or validated.
    fn blob_path(&self, blob: &BlobRef) -> PathBuf {
        self.root
            .join("blobs")
            .join(&blob.sha256[..2])
            .join(format!("{}.{}", blob.sha256, extension(blob.format)))
    }

    /// Stores a blob. A small blob that is not fsynced (at most [`INLINE_MAX`] bytes,
    /// [`Durability::Crash`]) is written on the calling thread: its hash and page-cache write
    /// take a few tens of microseconds, less than the thread hand-offs of the blocking pool.
    /// A larger one is hashed on one blocking-pool thread while it is written to a temporary
    /// file on another, then renamed into the folder its hash names: for a 1.1 MB image the
    /// hash and the write take about 0.7 ms and 1 ms here, so a lone request waits for the
    /// longer of the two, not their sum. With [`Durability::PowerLoss`] the whole write
    /// (hash, file, `fsync`s) is one task on the blocking pool.
    async fn put_blob(&self, format: OutputFormat, bytes: Bytes) -> Result<BlobRef, StoreError> {
        match self.durability {
            Durability::Crash if bytes.len() <= INLINE_MAX => self.put_blocking(format, &bytes),
            Durability::Crash => self.put_overlapped(format, bytes).await,
            Durability::PowerLoss => {
                let store = self.clone();
                blocking(move || store.put_blocking(format, &bytes)).await
            }
        }
    }

    /// See [`FsImageStore::put_blob`]. The temporary file is in `blobs/`, on the same file
    /// system as every blob's folder, so the rename stays atomic; the rename itself (one
    /// call) is made on the calling thread.
    async fn put_overlapped(
        &self,
        format: OutputFormat,
        bytes: Bytes,
    ) -> Result<BlobRef, StoreError> {
        let hashing = {
            let bytes = bytes.clone();
            blocking(move || Ok(blob_ref(format, &bytes)))
        };
        let staging = self.root.join("blobs");
        let writing = blocking(move || write_temp(&staging, &bytes, false));
        let (blob, temp) = tokio::join!(hashing, writing);
        let temp = temp?;
        match blob {
            Ok(blob) => {
                rename_into(&temp, &self.blob_path(&blob))?;
                Ok(blob)
            }
            Err(err) => {
                // Best effort: the temp file is garbage either way.
                let _ignored = std::fs::remove_file(&temp);
                Err(err)
            }
        }
    }

    fn put_blocking(&self, format: OutputFormat, bytes: &[u8]) -> Result<BlobRef, StoreError> {
        let blob = blob_ref(format, bytes);
        // Written every time, even when the file is there: a rename over an identical file
        // is harmless, a file a power loss cut short is mended on the way, and a new image
        // (nearly every one) is not first looked up in vain.
        write_atomically(
            &self.blob_path(&blob),
            bytes,
            self.durability == Durability::PowerLoss,
        )?;
        Ok(blob)
    }

    /// Removes a blob's file (one task on the blocking pool); a missing one is fine.
    async fn delete_blob(&self, blob: &BlobRef) -> Result<(), StoreError> {
        if !blob.is_well_formed() {
            return Ok(());
        }
        let path = self.blob_path(blob);
        blocking(move || match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path)(err)),
            _ => Ok(()),
        })
        .await
    }

    async fn open_blob(&self, blob: &BlobRef) -> Result<Option<ImageBody>, StoreError> {
        if !blob.is_well_formed() {
            return Ok(None);
        }
        let blob_path = self.blob_path(blob);
        let file = match tokio::fs::File::open(&blob_path).await {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io_error(&blob_path)(err)),
        };
        let path = blob_path.clone();
        let chunks = futures_util::stream::unfold(Some(file), move |file| {
            let path = path.clone();
            async move {
                let mut file = file?;
                let mut buf = bytes::BytesMut::with_capacity(READ_CHUNK);
                match file.read_buf(&mut buf).await {
                    Ok(0) => None,
                    Ok(_) => Some((Ok(buf.freeze()), Some(file))),
                    Err(err) => Some((Err(io_error(&path)(err)), None)),
                }
            }
        });
        let body = VerifiedBody::new(
            Box::pin(chunks),
            blob.len,
            blob.sha256.clone(),
            blob_path.display().to_string(),
        );
        Ok(Some(Box::pin(body)))
    }

    /// The images a store from before the image index described in `meta/<id>.json` files,
    /// for importing into the index at start (see [`FsImageStore::forget_legacy`]). A file
    /// that cannot be read as such (or names a missing blob) is logged and skipped.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the folder cannot be listed.
    pub async fn legacy_images(&self) -> Result<Vec<ImageMeta>, StoreError> {
        let store = self.clone();
        blocking(move || {
            let dir = store.legacy_dir();
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(err) => return Err(io_error(&dir)(err)),
            };
            let mut found = Vec::new();
            for entry in entries {
                let path = entry.map_err(io_error(&dir))?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                match store.read_legacy(&path) {
                    Ok(meta) => found.push(meta),
                    Err(err) => tracing::warn!(
                        path = %path.display(),
                        error = %err,
                        "an old image metadata file is unreadable; that image is not imported"
                    ),
                }
            }
            Ok(found)
        })
        .await
    }

    /// Reads one old metadata file, taking the blob's length from the blob itself.
    fn read_legacy(&self, path: &Path) -> Result<ImageMeta, StoreError> {
        let json = std::fs::read(path).map_err(io_error(path))?;
        let legacy: LegacyMeta = serde_json::from_slice(&json)?;
        if !legacy.is_sound() {
            return Err(StoreError::Corrupt {
                field: "image metadata",
                reason: format!("{} names a bad id or hash", path.display()),
            });
        }
        let probe = BlobRef {
            sha256: legacy.sha256.clone(),
            len: 0,
            format: legacy.format,
        };
        let blob_path = self.blob_path(&probe);
        let len = std::fs::metadata(&blob_path)
            .map_err(io_error(&blob_path))?
            .len();
        Ok(legacy.into_meta(len))
    }

    /// Removes the old metadata files of `ids` once their rows are in the index, so the
    /// folder ends with one file per image and a deleted image is not imported again.
    ///
    /// # Errors
    /// [`StoreError::Io`] when a file cannot be removed.
    pub async fn forget_legacy(&self, ids: Vec<ImageId>) -> Result<(), StoreError> {
        let dir = self.legacy_dir();
        let sync = self.durability == Durability::PowerLoss;
        blocking(move || {
            for id in &ids {
                let path = dir.join(format!("{}.json", id.as_str()));
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(io_error(&path)(err)),
                }
            }
            if sync && !ids.is_empty() {
                sync_dir(&dir)?;
            }
            // An emptied folder goes too; one still holding files stays.
            let _ignored = std::fs::remove_dir(&dir);
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ImageStore for FsImageStore {
    async fn put(&self, format: OutputFormat, bytes: Bytes) -> artgen_core::Result<BlobRef> {
        Ok(self.put_blob(format, bytes).await?)
    }

    async fn open(&self, blob: &BlobRef) -> artgen_core::Result<Option<ImageBody>> {
        Ok(self.open_blob(blob).await?)
    }

    async fn delete(&self, blob: &BlobRef) -> artgen_core::Result<()> {
        Ok(self.delete_blob(blob).await?)
    }
}

/// Chunk size of streamed reads.
const READ_CHUNK: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn jpeg_blobs_use_the_jpg_extension() {
        assert_eq!(extension(OutputFormat::Png), "png");
        assert_eq!(extension(OutputFormat::Jpeg), "jpg");
        assert_eq!(extension(OutputFormat::Webp), "webp");
    }

    #[test]
    fn only_lower_case_sha256_hex_is_a_valid_blob_name() {
        let hash = hex::encode(Sha256::digest(b"x"));
        let named = |sha256: &str| BlobRef {
            sha256: sha256.to_owned(),
            len: 1,
            format: OutputFormat::Png,
        };
        assert!(named(&hash).is_well_formed());
        assert!(!named(&hash.to_uppercase()).is_well_formed());
        assert!(!named("../../etc/passwd").is_well_formed());
        assert!(!named(&hash[..63]).is_well_formed());
    }
}
