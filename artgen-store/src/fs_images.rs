//! [`ImageStore`] on the local filesystem.
//!
//! Layout under the root folder:
//! - `blobs/<first two hex digits>/<sha256>.<ext>`: the bytes, content-addressed, so identical
//!   images are stored once;
//! - `meta/<image id>.json`: the [`ImageMeta`] plus the blob's SHA-256.
//!
//! Every file is written to a temporary file in its final folder, then renamed into place, so
//! a reader sees either nothing or the whole file. The blob is written before the metadata
//! that points to it. Paths are only ever built from ids that pass [`ImageId::parse`] and from
//! hashes this store computed.
//!
//! With the default [`Durability::Crash`] nothing is fsynced on the response path: a crash of
//! the process loses nothing (the kernel holds the written files), while a power loss may lose
//! the files written just before it, leaving them missing or empty. Such an image is never
//! served torn: every blob is checked against its SHA-256 when read (a damaged one is an error)
//! and a blob of the wrong length is written again when the same image comes back. With
//! [`Durability::PowerLoss`] each file and its folder are fsynced before `put` returns.
//!
//! [`ImageStore::open`] streams a blob in chunks, hashing it as it goes; a mismatch ends the
//! stream with an error. [`ImageStore::delete`] removes the metadata file only: a blob can be
//! shared by several images and is left in place (reclaiming blobs no image names is a
//! separate sweep). There are no presigned URLs: ArtGen serves these files itself.
//!
//! Images are users' work, so on Unix files are created with mode `0600` and folders with
//! `0700` (independent of the umask, which can only narrow them). [`FsImageStore::open`] also
//! narrows an existing root folder to its owner, which hides every image below it even when
//! older files are still world-readable.

use std::path::{Path, PathBuf};

use artgen_core::domain::{ImageId, OutputFormat};
use artgen_core::ports::{ImageHead, ImageMeta, ImageReader, ImageStore};
use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt as _;

use crate::config::Durability;
use crate::error::StoreError;
use crate::image_layout::{extension, is_sha256_hex};
use crate::verify::VerifiedBody;

/// What `meta/<id>.json` holds.
#[derive(Serialize, Deserialize)]
struct StoredMeta {
    #[serde(flatten)]
    meta: ImageMeta,
    /// Lower-case hex SHA-256 of the image bytes (names the blob).
    sha256: String,
}

/// Images on local disk, content-addressed by SHA-256.
#[derive(Debug, Clone)]
pub struct FsImageStore {
    root: PathBuf,
    durability: Durability,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
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
/// the file is fsynced before the rename and the folder after it. A missing folder is created
/// (mode `0700`, the file `0600` on Unix) only when the first create fails for want of it, so
/// the common case costs no folder check. Blocking: runs on a blocking-pool thread.
fn write_atomically(path: &Path, contents: &[u8], sync: bool) -> Result<(), StoreError> {
    use std::io::Write as _;

    let dir = path.parent().ok_or_else(|| StoreError::Io {
        path: path.to_owned(),
        source: std::io::Error::other("path has no parent folder"),
    })?;
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
    let written = (|| {
        file.write_all(contents).map_err(io_error(&temp))?;
        if sync {
            file.sync_all().map_err(io_error(&temp))?;
        }
        drop(file);
        std::fs::rename(&temp, path).map_err(io_error(path))
    })();
    if written.is_err() {
        // Best effort: the temp file is garbage either way.
        let _ignored = std::fs::remove_file(&temp);
        return written;
    }
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
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

/// Reads a whole file, `None` when it does not exist (blocking).
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error(path)(err)),
    }
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

    /// The metadata file of a well-formed id.
    fn meta_path(&self, id: &ImageId) -> PathBuf {
        self.root.join("meta").join(format!("{}.json", id.as_str()))
    }

    /// The blob file of a hash this store computed or validated.
    fn blob_path(&self, sha256: &str, format: OutputFormat) -> PathBuf {
        self.root
            .join("blobs")
            .join(&sha256[..2])
            .join(format!("{sha256}.{}", extension(format)))
    }

    /// Stores an image: the whole write (checks, blob, metadata) is one task on the blocking
    /// pool, not one hand-off per file-system call.
    async fn put_image(&self, meta: &ImageMeta, bytes: Bytes) -> Result<(), StoreError> {
        let id = ImageId::parse(meta.id.as_str()).ok_or(StoreError::InvalidImageId)?;
        let meta_path = self.meta_path(&id);
        let store = self.clone();
        let meta = meta.clone();
        blocking(move || store.put_blocking(&meta_path, meta, &bytes)).await
    }

    fn put_blocking(
        &self,
        meta_path: &Path,
        meta: ImageMeta,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        if meta_path.try_exists().map_err(io_error(meta_path))? {
            return Ok(());
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        let blob_path = self.blob_path(&sha256, meta.format);
        let sync = self.durability == Durability::PowerLoss;
        // A blob of the wrong length was cut short by a power loss: write it again.
        let blob_whole = match std::fs::metadata(&blob_path) {
            Ok(found) => u64::try_from(bytes.len()).is_ok_and(|len| found.len() == len),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
            Err(err) => return Err(io_error(&blob_path)(err)),
        };
        if !blob_whole {
            write_atomically(&blob_path, bytes, sync)?;
        }
        let stored = StoredMeta { meta, sha256 };
        write_atomically(meta_path, &serde_json::to_vec(&stored)?, sync)
    }

    /// Reads an image and checks it against its hash, in one task on the blocking pool.
    async fn get_image(&self, id: &ImageId) -> Result<Option<(ImageMeta, Bytes)>, StoreError> {
        let Some(id) = ImageId::parse(id.as_str()) else {
            return Ok(None);
        };
        let store = self.clone();
        blocking(move || store.get_blocking(&id)).await
    }

    /// Reads and checks the metadata file of a well-formed id (blocking).
    fn read_stored(&self, id: &ImageId) -> Result<Option<StoredMeta>, StoreError> {
        let meta_path = self.meta_path(id);
        let Some(json) = read_optional(&meta_path)? else {
            return Ok(None);
        };
        let stored: StoredMeta = serde_json::from_slice(&json)?;
        if !is_sha256_hex(&stored.sha256) || stored.meta.id != *id {
            return Err(StoreError::Corrupt {
                field: "image metadata",
                reason: format!("{} names a bad hash or another id", meta_path.display()),
            });
        }
        Ok(Some(stored))
    }

    fn get_blocking(&self, id: &ImageId) -> Result<Option<(ImageMeta, Bytes)>, StoreError> {
        let Some(stored) = self.read_stored(id)? else {
            return Ok(None);
        };
        let blob_path = self.blob_path(&stored.sha256, stored.meta.format);
        let bytes = std::fs::read(&blob_path).map_err(io_error(&blob_path))?;
        if hex::encode(Sha256::digest(&bytes)) != stored.sha256 {
            return Err(StoreError::Corrupt {
                field: "image blob",
                reason: format!("{} does not match its hash", blob_path.display()),
            });
        }
        Ok(Some((stored.meta, Bytes::from(bytes))))
    }
}

#[async_trait]
impl ImageStore for FsImageStore {
    async fn put(&self, meta: &ImageMeta, bytes: Bytes) -> artgen_core::Result<()> {
        Ok(self.put_image(meta, bytes).await?)
    }

    async fn get(&self, id: &ImageId) -> artgen_core::Result<Option<(ImageMeta, Bytes)>> {
        Ok(self.get_image(id).await?)
    }

    async fn head(&self, id: &ImageId) -> artgen_core::Result<Option<ImageHead>> {
        Ok(self
            .stored_blob(id)
            .await?
            .map(|(stored, _, len)| ImageHead {
                meta: stored.meta,
                len,
            }))
    }

    async fn open(&self, id: &ImageId) -> artgen_core::Result<Option<ImageReader>> {
        Ok(self.open_image(id).await?)
    }

    async fn delete(&self, id: &ImageId) -> artgen_core::Result<()> {
        Ok(self.delete_image(id).await?)
    }
}

/// Chunk size of streamed reads.
const READ_CHUNK: usize = 256 * 1024;

/// `head`, `open` and `delete`: they only read what `put_image` writes.
impl FsImageStore {
    /// The metadata of a well-formed, stored id, its blob's path and the blob's length: one
    /// task on the blocking pool.
    async fn stored_blob(
        &self,
        id: &ImageId,
    ) -> Result<Option<(StoredMeta, PathBuf, u64)>, StoreError> {
        let Some(id) = ImageId::parse(id.as_str()) else {
            return Ok(None);
        };
        let store = self.clone();
        blocking(move || {
            let Some(stored) = store.read_stored(&id)? else {
                return Ok(None);
            };
            let blob_path = store.blob_path(&stored.sha256, stored.meta.format);
            let len = std::fs::metadata(&blob_path)
                .map_err(io_error(&blob_path))?
                .len();
            Ok(Some((stored, blob_path, len)))
        })
        .await
    }

    async fn open_image(&self, id: &ImageId) -> Result<Option<ImageReader>, StoreError> {
        let Some((stored, blob_path, len)) = self.stored_blob(id).await? else {
            return Ok(None);
        };
        let file = tokio::fs::File::open(&blob_path)
            .await
            .map_err(io_error(&blob_path))?;
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
            len,
            stored.sha256,
            blob_path.display().to_string(),
        );
        Ok(Some(ImageReader {
            head: ImageHead {
                meta: stored.meta,
                len,
            },
            body: Box::pin(body),
        }))
    }

    /// Removes the metadata file; the blob may be shared with other images, so it stays (see
    /// the module docs).
    async fn delete_image(&self, id: &ImageId) -> Result<(), StoreError> {
        let Some(id) = ImageId::parse(id.as_str()) else {
            return Ok(());
        };
        let meta_path = self.meta_path(&id);
        let sync = self.durability == Durability::PowerLoss;
        blocking(move || {
            match std::fs::remove_file(&meta_path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(err) => return Err(io_error(&meta_path)(err)),
            }
            match meta_path.parent() {
                Some(dir) if sync => sync_dir(dir),
                _ => Ok(()),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
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
        assert!(is_sha256_hex(&hash));
        assert!(!is_sha256_hex(&hash.to_uppercase()));
        assert!(!is_sha256_hex("../../etc/passwd"));
        assert!(!is_sha256_hex(&hash[..63]));
    }
}
