//! `migrate-storage --blob-store …`: copies every blob a data dir holds into
//! another blob store, an S3-compatible bucket or another data dir.
//!
//! - **Restartable.** A blob already in the target with the right size is
//!   read back and hashed; when it hashes to its name it is skipped, else it
//!   is copied again. Each copy becomes visible at once and whole (an S3 put
//!   or completed multipart upload; a fsynced file renamed into place), so a
//!   run cut anywhere leaves blobs that are complete or absent, and the next
//!   run goes on from there.
//! - **Verified.** The source's bytes are hashed as they are sent (a
//!   multipart upload is completed, a file renamed, only when they hash to
//!   the blob's name), and every blob is then read back from the target and
//!   hashed before the command says done.
//! - **Bounded memory.** Files are streamed: blobs up to [`SEGMENT_BYTES`]
//!   are one put, larger ones a multipart upload of [`SEGMENT_BYTES`] parts
//!   with at most a few parts in flight.
//! - **Uploads in progress are not moved.** Their bytes stay in the source's
//!   `blobs/uploads/`; the command counts them. A device resuming one asks
//!   the new store (`HEAD`), gets 404 and starts the upload again from byte
//!   0 (docs/storage.md; crates/sync/tests/moved_server.rs tests it with
//!   the real sync engine).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fieldbook_domain::Sha256Hex;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use super::object_uploads::{blob_key, remote_err, S3Settings, SEGMENT_BYTES};
use super::store::{blob_path, BlobError, UploadRecord};

/// Bytes read from a file at a time.
const READ_BYTES: usize = 1 << 20;
/// Multipart parts in flight per blob.
const PARTS_IN_FLIGHT: usize = 4;

/// Where `migrate-storage` copies blobs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobTarget {
    /// An S3-compatible bucket (`--blob-store s3://bucket[/prefix]` and the
    /// settings `serve` takes).
    Bucket(S3Settings),
    /// The data dir the new server will serve with (`--data-dir`): blobs go
    /// to its `blobs/` folder.
    DataDir(PathBuf),
}

impl std::fmt::Display for BlobTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobTarget::Bucket(settings) => f.write_str(&settings.url),
            BlobTarget::DataDir(dir) => write!(f, "{}", dir.join("blobs").display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobMoveError {
    #[error(transparent)]
    Store(#[from] BlobError),
    #[error(
        "--blob-store {0} is the data dir the blobs come from: they are already there; \
         leave --blob-store out"
    )]
    SameDataDir(PathBuf),
    #[error(
        "{count} blobs in {dir} do not hash to their names (damaged on disk) and were not \
         copied: {list}; restore them from a backup (or remove them), then run again"
    )]
    DamagedSource {
        dir: PathBuf,
        count: usize,
        list: String,
    },
    #[error(
        "blob {sha256} reads back from {target} as {actual} ({bytes} bytes) after it was \
         copied; check the blob store, then run again"
    )]
    VerifyFailed {
        sha256: Sha256Hex,
        target: String,
        actual: Sha256Hex,
        bytes: u64,
    },
}

/// What a blob move did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobMoveSummary {
    /// Blobs in the source, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs copied by this run.
    pub copied: usize,
    /// Blobs an earlier run had copied (read back and found whole).
    pub already_there: usize,
    /// Blobs read back from the target and hashed: every one.
    pub verified: usize,
    /// Unfinished tus uploads left in the source (devices start them again).
    pub unfinished_uploads: usize,
}

/// A blob of the source data dir.
struct SourceBlob {
    sha256: Sha256Hex,
    path: PathBuf,
    len: u64,
}

/// Copies every blob of the data dir `from` into `target` (see the module
/// docs), reporting progress through `progress`.
pub async fn move_blobs(
    from: &Path,
    target: &BlobTarget,
    progress: &mut dyn FnMut(&str),
) -> Result<BlobMoveSummary, BlobMoveError> {
    let root = from.join("blobs");
    let store = TargetStore::open(from, target)?;
    let blobs = source_blobs(&root)?;
    let mut summary = BlobMoveSummary {
        blobs: blobs.len(),
        bytes: blobs.iter().map(|b| b.len).sum(),
        unfinished_uploads: unfinished_uploads(&root.join("uploads"))?,
        ..BlobMoveSummary::default()
    };
    progress(&format!(
        "blobs: {} ({} bytes) in {} to copy to {target}",
        summary.blobs,
        summary.bytes,
        root.display()
    ));
    let mut damaged = Vec::new();
    for (n, blob) in blobs.iter().enumerate() {
        if store.len(&blob.sha256).await? == Some(blob.len)
            && store.digest(&blob.sha256).await? == Some(blob.sha256.clone())
        {
            summary.already_there += 1;
            summary.verified += 1;
        } else {
            if !store.copy(blob).await? {
                damaged.push(blob.sha256.to_string());
                continue;
            }
            summary.copied += 1;
            match store.digest(&blob.sha256).await? {
                Some(actual) if actual == blob.sha256 => summary.verified += 1,
                read_back => {
                    return Err(BlobMoveError::VerifyFailed {
                        sha256: blob.sha256.clone(),
                        target: target.to_string(),
                        actual: read_back.unwrap_or_else(|| Sha256Hex::digest(b"")),
                        bytes: store.len(&blob.sha256).await?.unwrap_or(0),
                    })
                }
            }
        }
        if (n + 1) % 100 == 0 {
            progress(&format!(
                "blobs: {} of {} copied or found whole",
                n + 1,
                summary.blobs
            ));
        }
    }
    if !damaged.is_empty() {
        return Err(BlobMoveError::DamagedSource {
            dir: root,
            count: damaged.len(),
            list: damaged.join(", "),
        });
    }
    progress(&format!(
        "blobs: {} copied, {} already there from an earlier run, {} of {} read back from {target} \
         and verified by SHA-256",
        summary.copied, summary.already_there, summary.verified, summary.blobs
    ));
    Ok(summary)
}

/// Every complete blob under `root` (`ab/<sha256>`), in name order. Other
/// files (uploads, a remote store's cache, temporary files) are not blobs.
fn source_blobs(root: &Path) -> Result<Vec<SourceBlob>, BlobError> {
    let io = |context: String| move |source| BlobError::Io { context, source };
    let mut blobs = Vec::new();
    let dirs = match std::fs::read_dir(root) {
        Ok(dirs) => dirs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(blobs),
        Err(e) => return Err(io(format!("listing {}", root.display()))(e)),
    };
    for dir in dirs {
        let dir = dir.map_err(io(format!("listing {}", root.display())))?;
        let prefix = dir.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 || !dir.path().is_dir() {
            continue;
        }
        let files = std::fs::read_dir(dir.path())
            .map_err(io(format!("listing {}", dir.path().display())))?;
        for file in files {
            let file = file.map_err(io(format!("listing {}", dir.path().display())))?;
            let name = file.file_name().to_string_lossy().into_owned();
            let Ok(sha256) = name.parse::<Sha256Hex>() else {
                continue;
            };
            if !name.starts_with(&prefix) {
                continue;
            }
            let meta = file
                .metadata()
                .map_err(io(format!("reading {}", file.path().display())))?;
            if meta.is_file() {
                blobs.push(SourceBlob {
                    sha256,
                    path: file.path(),
                    len: meta.len(),
                });
            }
        }
    }
    blobs.sort_by(|a, b| a.sha256.as_str().cmp(b.sha256.as_str()));
    Ok(blobs)
}

/// Uploads under `uploads/` whose record does not say complete.
fn unfinished_uploads(uploads: &Path) -> Result<usize, BlobError> {
    let Ok(entries) = std::fs::read_dir(uploads) else {
        return Ok(0);
    };
    let mut count = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let unfinished = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<UploadRecord>(&bytes).ok())
                .is_none_or(|record| !record.complete);
            count += usize::from(unfinished);
        }
    }
    Ok(count)
}

/// The target, opened.
enum TargetStore {
    Bucket {
        store: Arc<dyn ObjectStore>,
        prefix: Key,
    },
    /// A data dir's `blobs/` folder.
    Folder(PathBuf),
}

impl TargetStore {
    fn open(from: &Path, target: &BlobTarget) -> Result<TargetStore, BlobMoveError> {
        match target {
            BlobTarget::Bucket(settings) => {
                let (store, prefix) = settings.build()?;
                Ok(TargetStore::Bucket { store, prefix })
            }
            BlobTarget::DataDir(dir) => {
                let same = std::fs::canonicalize(dir)
                    .ok()
                    .zip(std::fs::canonicalize(from).ok())
                    .is_some_and(|(a, b)| a == b);
                if same {
                    return Err(BlobMoveError::SameDataDir(dir.clone()));
                }
                Ok(TargetStore::Folder(dir.join("blobs")))
            }
        }
    }

    /// The size of the blob in the target, if there.
    async fn len(&self, sha256: &Sha256Hex) -> Result<Option<u64>, BlobError> {
        match self {
            TargetStore::Bucket { store, prefix } => {
                match store.head(&blob_key(prefix, sha256)).await {
                    Ok(meta) => Ok(Some(meta.size)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(remote_err("looking up a blob in the target")(e)),
                }
            }
            TargetStore::Folder(root) => Ok(std::fs::metadata(blob_path(root, sha256))
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())),
        }
    }

    /// The SHA-256 of the blob's bytes as the target holds them (streamed).
    async fn digest(&self, sha256: &Sha256Hex) -> Result<Option<Sha256Hex>, BlobError> {
        let mut hasher = Sha256::new();
        match self {
            TargetStore::Bucket { store, prefix } => {
                let got = match store.get(&blob_key(prefix, sha256)).await {
                    Ok(got) => got,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(remote_err("reading a blob back from the target")(e)),
                };
                let mut stream = got.into_stream();
                while let Some(bytes) = stream.next().await {
                    hasher
                        .update(bytes.map_err(remote_err("reading a blob back from the target"))?);
                }
            }
            TargetStore::Folder(root) => {
                let path = blob_path(root, sha256);
                let mut file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => {
                        return Err(BlobError::Io {
                            context: format!("reading {} back", path.display()),
                            source,
                        })
                    }
                };
                hash_reader(&mut file, &mut hasher, |_| Ok(())).map_err(|source| {
                    BlobError::Io {
                        context: format!("reading {} back", path.display()),
                        source,
                    }
                })?;
            }
        }
        Ok(Some(Sha256Hex::from_bytes(hasher.finalize().into())))
    }

    /// Copies `blob` into the target; the copy becomes visible only if the
    /// bytes sent hash to its name. `false`: they did not (nothing stored).
    async fn copy(&self, blob: &SourceBlob) -> Result<bool, BlobError> {
        let io = |context: String| move |source| BlobError::Io { context, source };
        let reading = format!("reading {}", blob.path.display());
        let mut file = std::fs::File::open(&blob.path).map_err(io(reading.clone()))?;
        let mut hasher = Sha256::new();
        match self {
            TargetStore::Bucket { store, prefix } => {
                let key = blob_key(prefix, &blob.sha256);
                if blob.len <= SEGMENT_BYTES as u64 {
                    let mut bytes = Vec::with_capacity(blob.len as usize);
                    file.read_to_end(&mut bytes).map_err(io(reading))?;
                    hasher.update(&bytes);
                    if Sha256Hex::from_bytes(hasher.finalize().into()) != blob.sha256 {
                        return Ok(false);
                    }
                    store
                        .put(&key, PutPayload::from(bytes))
                        .await
                        .map_err(remote_err("storing a blob in the target"))?;
                    return Ok(true);
                }
                let multipart = store
                    .put_multipart(&key)
                    .await
                    .map_err(remote_err("starting to store a blob in the target"))?;
                let mut writer = WriteMultipart::new_with_chunk_size(multipart, SEGMENT_BYTES);
                let mut buf = vec![0u8; READ_BYTES];
                let sent = async {
                    loop {
                        let n = file.read(&mut buf).map_err(io(reading.clone()))?;
                        if n == 0 {
                            return Ok::<(), BlobError>(());
                        }
                        hasher.update(&buf[..n]);
                        writer
                            .wait_for_capacity(PARTS_IN_FLIGHT)
                            .await
                            .map_err(remote_err("storing a blob in the target"))?;
                        writer.write(&buf[..n]);
                    }
                }
                .await;
                if let Err(e) = sent {
                    let _ = writer.abort().await;
                    return Err(e);
                }
                if Sha256Hex::from_bytes(hasher.finalize().into()) != blob.sha256 {
                    let _ = writer.abort().await;
                    return Ok(false);
                }
                writer
                    .finish()
                    .await
                    .map_err(remote_err("storing a blob in the target"))?;
                Ok(true)
            }
            TargetStore::Folder(root) => {
                let path = blob_path(root, &blob.sha256);
                let dir = path.parent().expect("a blob path has a folder");
                std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
                // One name per blob: a run cut mid-copy leaves a file the
                // next run overwrites, not one more stray file.
                let tmp = dir.join(format!(".{}.migrate-storage.tmp", blob.sha256));
                let writing = format!("writing {}", tmp.display());
                let mut out = std::fs::File::create(&tmp).map_err(io(writing.clone()))?;
                hash_reader(&mut file, &mut hasher, |bytes| out.write_all(bytes))
                    .map_err(io(writing.clone()))?;
                out.sync_all().map_err(io(writing))?;
                drop(out);
                if Sha256Hex::from_bytes(hasher.finalize().into()) != blob.sha256 {
                    let _ = std::fs::remove_file(&tmp);
                    return Ok(false);
                }
                std::fs::rename(&tmp, &path).map_err(io(format!(
                    "renaming {} to {}",
                    tmp.display(),
                    path.display()
                )))?;
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io(format!("syncing {}", dir.display())))?;
                Ok(true)
            }
        }
    }
}

/// Reads `reader` to its end in [`READ_BYTES`] pieces, hashing each and
/// handing it to `sink`.
fn hash_reader(
    reader: &mut impl Read,
    hasher: &mut Sha256,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data dir with `blobs` stored as the server stores them, plus an
    /// unfinished upload, a finished one and stray files that are not blobs.
    fn source(blobs: &[&[u8]]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        for bytes in blobs {
            let path = blob_path(&root, &Sha256Hex::digest(bytes));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let uploads = root.join("uploads");
        std::fs::create_dir_all(&uploads).unwrap();
        for (id, complete) in [(uuid::Uuid::new_v4(), false), (uuid::Uuid::new_v4(), true)] {
            let record = UploadRecord {
                id,
                owner: uuid::Uuid::new_v4(),
                sha256: Sha256Hex::digest(b"on its way"),
                length: 10,
                mime: None,
                offset: 4,
                complete,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            };
            std::fs::write(
                uploads.join(format!("{id}.json")),
                serde_json::to_vec(&record).unwrap(),
            )
            .unwrap();
            std::fs::write(uploads.join(format!("{id}.part")), b"on i").unwrap();
        }
        std::fs::create_dir_all(root.join("cache/ab")).unwrap();
        std::fs::create_dir_all(root.join("ab")).unwrap();
        std::fs::write(root.join("ab").join("not-a-blob"), b"x").unwrap();
        dir
    }

    #[tokio::test]
    async fn every_blob_lands_verified_and_a_second_run_copies_nothing() {
        let big: Vec<u8> = (0..(SEGMENT_BYTES + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let from = source(&[b"photo one", b"photo two", &big]);
        let to = tempfile::tempdir().unwrap();
        let target = BlobTarget::DataDir(to.path().to_owned());
        let mut progress = |_: &str| {};
        let first = move_blobs(from.path(), &target, &mut progress)
            .await
            .unwrap();
        assert_eq!(
            (
                first.blobs,
                first.copied,
                first.already_there,
                first.verified
            ),
            (3, 3, 0, 3)
        );
        assert_eq!(first.bytes, (9 + 9 + big.len()) as u64);
        assert_eq!(first.unfinished_uploads, 1);
        for bytes in [&b"photo one"[..], b"photo two", &big] {
            let stored = std::fs::read(blob_path(
                &to.path().join("blobs"),
                &Sha256Hex::digest(bytes),
            ));
            assert_eq!(stored.unwrap(), bytes);
        }

        // An interrupted earlier run: one blob missing, one cut short.
        let root = to.path().join("blobs");
        std::fs::remove_file(blob_path(&root, &Sha256Hex::digest(b"photo one"))).unwrap();
        std::fs::write(blob_path(&root, &Sha256Hex::digest(&big)), &big[..100]).unwrap();
        let again = move_blobs(from.path(), &target, &mut progress)
            .await
            .unwrap();
        assert_eq!(
            (again.copied, again.already_there, again.verified),
            (2, 1, 3)
        );
        let third = move_blobs(from.path(), &target, &mut progress)
            .await
            .unwrap();
        assert_eq!((third.copied, third.already_there), (0, 3));
    }

    #[tokio::test]
    async fn a_damaged_source_blob_is_named_and_never_stored() {
        let from = source(&[b"good photo", b"photo that rots"]);
        let rotten = blob_path(
            &from.path().join("blobs"),
            &Sha256Hex::digest(b"photo that rots"),
        );
        std::fs::write(&rotten, b"photo that rotz").unwrap();
        let to = tempfile::tempdir().unwrap();
        let target = BlobTarget::DataDir(to.path().to_owned());
        let mut progress = |_: &str| {};
        let err = move_blobs(from.path(), &target, &mut progress)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, BlobMoveError::DamagedSource { count: 1, .. }),
            "{message}"
        );
        assert!(message.contains(Sha256Hex::digest(b"photo that rots").as_str()));
        let root = to.path().join("blobs");
        assert!(!blob_path(&root, &Sha256Hex::digest(b"photo that rots")).exists());
        assert!(blob_path(&root, &Sha256Hex::digest(b"good photo")).exists());
        // No temporary file is left beside the blobs.
        let rotten_name = Sha256Hex::digest(b"photo that rots");
        let left: Vec<_> = std::fs::read_dir(root.join(&rotten_name.as_str()[..2]))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn the_source_data_dir_is_refused_as_its_own_target() {
        let from = source(&[b"photo"]);
        let target = BlobTarget::DataDir(from.path().to_owned());
        let mut progress = |_: &str| {};
        let err = move_blobs(from.path(), &target, &mut progress)
            .await
            .unwrap_err();
        assert!(matches!(err, BlobMoveError::SameDataDir(_)), "{err}");
    }
}
