//! On-disk blob storage: complete blobs by content hash, and the resumable
//! uploads that become them.
//!
//! Layout under `<data_dir>/blobs/`:
//! - `ab/<sha256>` — a complete blob whose SHA-256 was verified (`ab` = the
//!   first two hex digits, so no directory grows to millions of entries);
//! - `uploads/<uuid>.part` — bytes of an unfinished upload;
//! - `uploads/<uuid>.json` — its [`UploadRecord`]: owner, declared hash and
//!   length (and the offset as of its last write);
//! - `uploads/<uuid>.offset` — the *committed* offset, overwritten in place
//!   by every chunk (see `offset_file`); the larger of the two counts.
//!
//! The committed offset is written only after the `.part` file was fsynced up
//! to it, so what HEAD reports is always on disk. Bytes past it (a chunk that
//! was being written when the server died) are cut off when the upload is next
//! touched or when the store is opened. Every path is built from a parsed
//! [`Uuid`] or a validated [`Sha256Hex`]; no client string reaches the disk.

use std::collections::HashMap;
use std::io::{Read, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use chrono::{DateTime, Utc};
use fieldbook_domain::Sha256Hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::chunk_writer::{ChunkWriter, Written};
use super::object_uploads::{ObjectBlobs, S3Settings};
use super::offset_file;

/// Uploads untouched for this long are removed by
/// [`BlobStore::remove_expired_uploads`].
pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// A PATCH whose body stalls this long is treated as a cut connection, so a
/// half-open TCP connection cannot hold an upload's lock forever.
pub const DEFAULT_PATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How much unfinished upload space one user may hold at once, so an
/// authenticated client cannot fill the disk with uploads it never finishes
/// (abandoned ones only go away at [`UPLOAD_EXPIRY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadQuota {
    /// Unfinished uploads per user.
    pub max_unfinished: usize,
    /// Sum of the declared lengths of a user's unfinished uploads.
    pub max_reserved_bytes: u64,
}

impl UploadQuota {
    /// 32 uploads and four maximum-size blobs' worth of bytes: a device
    /// uploads one blob at a time, so this leaves room for a few restarts
    /// that lost their Location.
    pub fn default_for(max_blob_bytes: u64) -> Self {
        UploadQuota {
            max_unfinished: 32,
            max_reserved_bytes: max_blob_bytes.saturating_mul(4),
        }
    }
}

/// Everything that can go wrong in the blob store. The HTTP layer maps each
/// variant to a tus status code.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob storage failed while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("upload record {path} is unreadable: {source}")]
    CorruptRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the upload does not exist, has expired, or belongs to someone else")]
    UploadNotFound,
    #[error(
        "you already have {limit} unfinished uploads; finish or DELETE one before starting another"
    )]
    TooManyUnfinishedUploads { limit: usize },
    #[error(
        "your unfinished uploads already reserve {reserved} bytes and this one needs {length} more, \
         over the limit of {limit}; finish or DELETE some before starting another"
    )]
    UploadBytesQuotaExceeded {
        reserved: u64,
        length: u64,
        limit: u64,
    },
    #[error("the upload is {length} bytes but the server accepts at most {max} bytes per blob")]
    TooLarge { length: u64, max: u64 },
    #[error("empty blobs are not accepted: media must contain at least one byte")]
    EmptyBlob,
    #[error(
        "a blob with this SHA-256 is already stored with {stored} bytes, not {declared}; \
         check the hash and the length"
    )]
    LengthDiffersFromStoredBlob { stored: u64, declared: u64 },
    #[error("Upload-Offset {sent} does not match the upload's offset {current}; HEAD the upload and resume from there")]
    OffsetMismatch { sent: u64, current: u64 },
    #[error(
        "the chunk would go past Upload-Length ({length} bytes); only {remaining} bytes remain"
    )]
    ChunkExceedsLength { length: u64, remaining: u64 },
    #[error(
        "the chunk's SHA-256 does not match Upload-Checksum; the chunk was discarded, resend it"
    )]
    ChecksumMismatch,
    #[error("another request is writing to this upload; retry after it finishes")]
    UploadBusy,
    #[error(
        "the request body ended early; the upload's offset is now {offset}, resume from there"
    )]
    Interrupted { offset: u64 },
    #[error(
        "the uploaded bytes hash to {actual}, not the declared {declared}; \
         the upload was removed, start again with the right hash"
    )]
    WholeFileHashMismatch {
        declared: Sha256Hex,
        actual: Sha256Hex,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io { context, source }
}

/// What is persisted per upload (`uploads/<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub id: Uuid,
    /// The user who created it; nobody else may see or resume it.
    pub owner: Uuid,
    /// The declared identity of the whole blob.
    pub sha256: Sha256Hex,
    pub length: u64,
    pub mime: Option<String>,
    /// Bytes durably in the `.part` file (or `length` once complete).
    pub offset: u64,
    /// The blob was verified and moved into content-addressed storage; the
    /// record stays (until expiry) so a client whose last response was lost
    /// can HEAD the upload and see it finished.
    pub complete: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An upload as the tus endpoints report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TusUpload {
    pub id: Uuid,
    pub sha256: Sha256Hex,
    pub offset: u64,
    pub length: u64,
    pub mime: Option<String>,
    pub complete: bool,
}

impl From<&UploadRecord> for TusUpload {
    fn from(r: &UploadRecord) -> Self {
        TusUpload {
            id: r.id,
            sha256: r.sha256.clone(),
            offset: r.offset,
            length: r.length,
            mime: r.mime.clone(),
            complete: r.complete,
        }
    }
}

/// Answer to an upload creation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The blob is already stored (by anyone): nothing to upload.
    AlreadyStored { length: u64 },
    /// A new upload resource.
    Created(TusUpload),
    /// The caller already has an unfinished upload of this hash and length;
    /// they get it back so a client that lost the Location can resume.
    Resumed(TusUpload),
}

/// One PATCH request's parameters (headers already parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRequest {
    pub offset: u64,
    /// Expected checksum of this chunk (`Upload-Checksum`).
    pub checksum: Option<ChunkChecksum>,
    pub content_length: Option<u64>,
}

/// A chunk's `Upload-Checksum`. CRC-32 catches what a chunk check is for
/// (bytes damaged or cut on the way) at a fraction of SHA-256's cost; the
/// blob's SHA-256, its name, is still verified over the whole file, so a
/// chunk cannot smuggle in other content either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkChecksum {
    Sha256([u8; 32]),
    Crc32(u32),
}

/// Computes a chunk's checksum as its bytes arrive.
pub(super) enum ChunkHasher {
    Sha256(Sha256),
    Crc32(crc32fast::Hasher),
}

impl ChunkHasher {
    pub(super) fn for_checksum(expected: ChunkChecksum) -> ChunkHasher {
        match expected {
            ChunkChecksum::Sha256(_) => ChunkHasher::Sha256(Sha256::new()),
            ChunkChecksum::Crc32(_) => ChunkHasher::Crc32(crc32fast::Hasher::new()),
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        match self {
            ChunkHasher::Sha256(h) => h.update(bytes),
            ChunkHasher::Crc32(h) => h.update(bytes),
        }
    }

    pub(super) fn matches(self, expected: ChunkChecksum) -> bool {
        match (self, expected) {
            (ChunkHasher::Sha256(h), ChunkChecksum::Sha256(want)) => {
                <[u8; 32]>::from(h.finalize()) == want
            }
            (ChunkHasher::Crc32(h), ChunkChecksum::Crc32(want)) => h.finalize() == want,
            _ => false,
        }
    }
}

/// Per-upload state shared between requests.
#[derive(Debug)]
struct UploadSlot {
    owner: Uuid,
    /// Last durable state; HEAD reads it without waiting for a running PATCH.
    record: Mutex<UploadRecord>,
    /// Held for a whole PATCH, DELETE or expiry, so writes never interleave.
    writer: Arc<tokio::sync::Mutex<UploadWriter>>,
}

impl UploadSlot {
    fn snapshot(&self) -> UploadRecord {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace_record(&self, record: UploadRecord) {
        *self.record.lock().unwrap_or_else(PoisonError::into_inner) = record;
    }
}

#[derive(Debug, Default)]
struct UploadWriter {
    /// SHA-256 state of the committed bytes, so completion needs no re-read.
    /// `None` after a restart: the file is hashed from disk at completion.
    hasher: Option<Sha256>,
    /// Set when the upload was removed while a request waited for the lock.
    removed: bool,
}

/// Where a complete blob lives under a data dir's `blobs/` folder (`root`):
/// `ab/<sha256>`.
pub(crate) fn blob_path(root: &Path, sha256: &Sha256Hex) -> PathBuf {
    let hex = sha256.as_str();
    root.join(&hex[..2]).join(hex)
}

/// Content-addressed blob storage with resumable (tus) uploads: in the data
/// directory (the default, described here), or in an S3-compatible store
/// shared by several instances (`remote`, see `object_uploads`).
#[derive(Debug)]
pub struct BlobStore {
    /// Set with `--blob-store s3://…`: every blob and upload lives there,
    /// and the data directory only caches downloaded blobs.
    remote: Option<ObjectBlobs>,
    root: PathBuf,
    uploads_dir: PathBuf,
    max_blob_bytes: u64,
    quota: UploadQuota,
    patch_idle_timeout: Duration,
    uploads: Mutex<HashMap<Uuid, Arc<UploadSlot>>>,
    /// Held from the quota check until the new upload is registered, so
    /// concurrent creations cannot both slip under the quota.
    creation: Mutex<()>,
}

impl BlobStore {
    /// Opens (creating if needed) the blob store under `<data_dir>/blobs` and
    /// recovers unfinished uploads: each `.part` is cut back to its committed
    /// offset, uploads that had all their bytes are finished, orphans removed.
    pub fn open(data_dir: &Path, max_blob_bytes: u64) -> Result<BlobStore, BlobError> {
        BlobStore::open_at(data_dir, None, max_blob_bytes)
    }

    /// Opens the blob store the server is configured with: the data
    /// directory's (`remote` = `None`), or an S3-compatible store.
    pub fn open_at(
        data_dir: &Path,
        remote: Option<&S3Settings>,
        max_blob_bytes: u64,
    ) -> Result<BlobStore, BlobError> {
        let remote = remote
            .map(|settings| ObjectBlobs::open(settings, data_dir))
            .transpose()?;
        let root = data_dir.join("blobs");
        let uploads_dir = root.join("uploads");
        std::fs::create_dir_all(&uploads_dir)
            .map_err(io_err(format!("creating {}", uploads_dir.display())))?;
        let store = BlobStore {
            remote,
            root,
            uploads_dir,
            max_blob_bytes,
            quota: UploadQuota::default_for(max_blob_bytes),
            patch_idle_timeout: DEFAULT_PATCH_IDLE_TIMEOUT,
            uploads: Mutex::new(HashMap::new()),
            creation: Mutex::new(()),
        };
        if store.remote.is_none() {
            store.recover_uploads()?;
        }
        Ok(store)
    }

    /// How long a PATCH body may stall before it counts as a cut connection.
    pub fn with_patch_idle_timeout(mut self, timeout: Duration) -> Self {
        self.patch_idle_timeout = timeout;
        self
    }

    /// Replaces the default [`UploadQuota`].
    pub fn with_upload_quota(mut self, quota: UploadQuota) -> Self {
        self.quota = quota;
        self
    }

    pub fn max_blob_bytes(&self) -> u64 {
        self.max_blob_bytes
    }

    /// Whether a complete, verified blob with this hash is stored. Only
    /// verified blobs ever exist at their content-addressed path.
    pub fn contains(&self, sha256: &Sha256Hex) -> bool {
        self.blob_len(sha256).is_some()
    }

    /// Path of the complete blob, if stored.
    /// With an object store, a verified local copy (fetched on first use;
    /// blocking).
    pub fn path_of(&self, sha256: &Sha256Hex) -> Option<PathBuf> {
        if let Some(remote) = &self.remote {
            return remote.local_copy(sha256).unwrap_or_else(|err| {
                tracing::error!(%err, blob = %sha256, "fetching a blob from the blob store");
                None
            });
        }
        let path = self.blob_path(sha256);
        path.is_file().then_some(path)
    }

    /// Size of the complete blob, if stored.
    pub fn blob_len(&self, sha256: &Sha256Hex) -> Option<u64> {
        if let Some(remote) = &self.remote {
            return remote.blob_len(sha256).unwrap_or_else(|err| {
                tracing::error!(%err, blob = %sha256, "looking up a blob in the blob store");
                None
            });
        }
        std::fs::metadata(self.blob_path(sha256))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// What the store holds for uploads (files under `blobs/uploads/`, or
    /// object keys under `uploads/`), for operators and tests.
    pub fn upload_entries(&self) -> Result<Vec<String>, BlobError> {
        if let Some(remote) = &self.remote {
            return remote.upload_keys();
        }
        let entries = std::fs::read_dir(&self.uploads_dir)
            .map_err(io_err(format!("listing {}", self.uploads_dir.display())))?;
        entries
            .map(|e| {
                e.map(|e| e.file_name().to_string_lossy().into_owned())
                    .map_err(io_err(format!("listing {}", self.uploads_dir.display())))
            })
            .collect()
    }

    /// Whether blobs live in an S3-compatible store rather than the data dir.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    fn blob_path(&self, sha256: &Sha256Hex) -> PathBuf {
        blob_path(&self.root, sha256)
    }

    fn part_path(&self, id: Uuid) -> PathBuf {
        self.uploads_dir.join(format!("{id}.part"))
    }

    fn offset_path(&self, id: Uuid) -> PathBuf {
        self.uploads_dir.join(format!("{id}.offset"))
    }

    fn record_path(&self, id: Uuid) -> PathBuf {
        self.uploads_dir.join(format!("{id}.json"))
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<UploadSlot>>> {
        self.uploads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The caller's upload; someone else's id is indistinguishable from an
    /// unknown one.
    fn owned_slot(&self, id: Uuid, owner: Uuid) -> Result<Arc<UploadSlot>, BlobError> {
        self.slots()
            .get(&id)
            .filter(|slot| slot.owner == owner)
            .cloned()
            .ok_or(BlobError::UploadNotFound)
    }

    /// tus creation. Dedupe is one `stat`: a stored blob answers
    /// [`CreateOutcome::AlreadyStored`] without creating anything.
    pub fn create_upload(
        &self,
        owner: Uuid,
        sha256: Sha256Hex,
        length: u64,
        mime: Option<String>,
    ) -> Result<CreateOutcome, BlobError> {
        if length > self.max_blob_bytes {
            return Err(BlobError::TooLarge {
                length,
                max: self.max_blob_bytes,
            });
        }
        if length == 0 {
            return Err(BlobError::EmptyBlob);
        }
        if let Some(remote) = &self.remote {
            return remote.create_upload(owner, sha256, length, mime, self.quota);
        }
        if let Some(stored) = self.blob_len(&sha256) {
            if stored != length {
                return Err(BlobError::LengthDiffersFromStoredBlob {
                    stored,
                    declared: length,
                });
            }
            return Ok(CreateOutcome::AlreadyStored { length });
        }
        let _creating = self.creation.lock().unwrap_or_else(PoisonError::into_inner);
        let unfinished: Vec<UploadRecord> = self
            .slots()
            .values()
            .filter(|s| s.owner == owner)
            .map(|s| s.snapshot())
            .filter(|r| !r.complete)
            .collect();
        if let Some(record) = unfinished
            .iter()
            .find(|r| r.sha256 == sha256 && r.length == length)
        {
            return Ok(CreateOutcome::Resumed(TusUpload::from(record)));
        }
        if unfinished.len() >= self.quota.max_unfinished {
            return Err(BlobError::TooManyUnfinishedUploads {
                limit: self.quota.max_unfinished,
            });
        }
        let reserved: u64 = unfinished.iter().map(|r| r.length).sum();
        if reserved.saturating_add(length) > self.quota.max_reserved_bytes {
            return Err(BlobError::UploadBytesQuotaExceeded {
                reserved,
                length,
                limit: self.quota.max_reserved_bytes,
            });
        }

        let now = Utc::now();
        let record = UploadRecord {
            id: Uuid::new_v4(),
            owner,
            sha256,
            length,
            mime,
            offset: 0,
            complete: false,
            created_at: now,
            updated_at: now,
        };
        let part = self.part_path(record.id);
        let file =
            std::fs::File::create(&part).map_err(io_err(format!("creating {}", part.display())))?;
        file.sync_all()
            .map_err(io_err(format!("syncing {}", part.display())))?;
        let offset = self.offset_path(record.id);
        offset_file::write(&self.uploads_dir, &offset, 0)
            .map_err(io_err(format!("writing {}", offset.display())))?;
        self.persist_record(&record)?;
        let upload = TusUpload::from(&record);
        self.insert_slot(record, Some(Sha256::new()));
        tracing::info!(upload_id = %upload.id, sha256 = %upload.sha256, length, "blob upload created");
        Ok(CreateOutcome::Created(upload))
    }

    fn insert_slot(&self, record: UploadRecord, hasher: Option<Sha256>) {
        let slot = Arc::new(UploadSlot {
            owner: record.owner,
            writer: Arc::new(tokio::sync::Mutex::new(UploadWriter {
                hasher,
                removed: false,
            })),
            record: Mutex::new(record.clone()),
        });
        self.slots().insert(record.id, slot);
    }

    /// tus HEAD: the durable state of the caller's upload.
    pub fn upload_status(&self, id: Uuid, owner: Uuid) -> Result<TusUpload, BlobError> {
        if let Some(remote) = &self.remote {
            return remote.upload_status(id, owner);
        }
        let slot = self.owned_slot(id, owner)?;
        Ok(TusUpload::from(&slot.snapshot()))
    }

    /// tus PATCH: appends `body` at `chunk.offset`.
    ///
    /// The body is streamed to the `.part` file, never held in memory. The
    /// work runs in its own task holding the upload's lock, so when the client
    /// disconnects (and hyper drops the request future) the bytes that did
    /// arrive are still dealt with by one consistent rule:
    /// - without `Upload-Checksum`, they are kept: fsynced and committed
    ///   (tus 1.0 allows this, and it saves re-sending them);
    /// - with `Upload-Checksum`, the partial chunk cannot be verified, so it is
    ///   discarded and the offset stays where it was.
    ///
    /// When the last byte is committed, the whole file's SHA-256 is checked
    /// against the declared hash before the blob becomes visible.
    pub async fn write_chunk(
        self: &Arc<Self>,
        id: Uuid,
        owner: Uuid,
        chunk: ChunkRequest,
        body: Body,
    ) -> Result<TusUpload, BlobError> {
        if let Some(remote) = &self.remote {
            return remote
                .write_chunk(id, owner, chunk, body, self.patch_idle_timeout)
                .await;
        }
        let slot = self.owned_slot(id, owner)?;
        let writer = Arc::clone(&slot.writer)
            .try_lock_owned()
            .map_err(|_| BlobError::UploadBusy)?;
        let store = Arc::clone(self);
        tokio::spawn(async move { store.apply_chunk(slot, writer, chunk, body).await })
            .await
            .map_err(|join| BlobError::Io {
                context: "writing an upload chunk".into(),
                source: std::io::Error::other(join.to_string()),
            })?
    }

    async fn apply_chunk(
        &self,
        slot: Arc<UploadSlot>,
        mut writer: OwnedMutexGuard<UploadWriter>,
        chunk: ChunkRequest,
        mut body: Body,
    ) -> Result<TusUpload, BlobError> {
        if writer.removed {
            return Err(BlobError::UploadNotFound);
        }
        let record = slot.snapshot();
        if chunk.offset != record.offset {
            return Err(BlobError::OffsetMismatch {
                sent: chunk.offset,
                current: record.offset,
            });
        }
        let remaining = record.length - record.offset;
        if chunk.content_length.is_some_and(|len| len > remaining) {
            return Err(BlobError::ChunkExceedsLength {
                length: record.length,
                remaining,
            });
        }
        if record.complete {
            // Offset == length and an empty body: a retried final PATCH.
            return Ok(TusUpload::from(&record));
        }

        let part = self.part_path(record.id);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&part)
            .await
            .map_err(io_err(format!("opening {}", part.display())))?;
        // Drop bytes of a chunk that was never committed (crash or discard).
        file.set_len(record.offset)
            .await
            .map_err(io_err("truncating to the committed offset"))?;
        let mut file = file.into_std().await;
        std::io::Seek::seek(&mut file, SeekFrom::Start(record.offset))
            .map_err(io_err("seeking to the committed offset"))?;

        // The writing thread writes and keeps the whole-file hash; this task
        // receives and checks the chunk's own checksum (see ChunkWriter).
        let sink = ChunkWriter::start(file, writer.hasher.clone());
        let mut chunk_hasher = chunk.checksum.map(ChunkHasher::for_checksum);
        let mut written: u64 = 0;
        let mut cut = false;
        let discard = || async {
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&part)
                .await
                .map_err(io_err("discarding a rejected chunk"))?;
            file.set_len(record.offset)
                .await
                .map_err(io_err("discarding a rejected chunk"))
        };
        loop {
            let next = tokio::time::timeout(
                self.patch_idle_timeout,
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)),
            )
            .await;
            let frame = match next {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => break,
                // Body error (connection reset / closed early) or a stall.
                Ok(Some(Err(_))) | Err(_) => {
                    cut = true;
                    break;
                }
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers carry nothing we use
            };
            if written + data.len() as u64 > remaining {
                // Whatever the writer did, the chunk is refused.
                let _ = sink.finish().await;
                discard().await?;
                return Err(BlobError::ChunkExceedsLength {
                    length: record.length,
                    remaining,
                });
            }
            if let Some(h) = chunk_hasher.as_mut() {
                h.update(&data);
            }
            written += data.len() as u64;
            if !sink.write(data).await {
                break; // the write failed: finish() says why
            }
        }
        if chunk.content_length.is_some_and(|len| written < len) {
            cut = true;
        }
        let Written { file, file_hasher } = match sink.finish().await {
            Ok(done) => done,
            Err(source) => {
                discard().await?;
                return Err(BlobError::Io {
                    context: format!("writing {}", part.display()),
                    source,
                });
            }
        };

        if let (Some(expected), Some(hasher)) = (chunk.checksum, chunk_hasher) {
            if cut || !hasher.matches(expected) {
                drop(file);
                discard().await?;
                return Err(if cut {
                    BlobError::Interrupted {
                        offset: record.offset,
                    }
                } else {
                    BlobError::ChecksumMismatch
                });
            }
        }

        // Durable before the offset is: most of it was written back while
        // the body arrived, so this waits for the tail only.
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|join| BlobError::Io {
                context: format!("syncing {}", part.display()),
                source: std::io::Error::other(join.to_string()),
            })?
            .map_err(io_err(format!("syncing {}", part.display())))?;
        let mut committed = record.clone();
        committed.offset = record.offset + written;
        committed.updated_at = Utc::now();
        self.commit_offset(committed.id, committed.offset).await?;
        slot.replace_record(committed.clone());
        writer.hasher = file_hasher;

        // All bytes are in even if the body then broke (e.g. a chunked body
        // missing its last empty chunk): finish now, or HEAD would report a
        // full offset for a blob that never becomes visible.
        if committed.offset == committed.length {
            return self.complete_upload(&slot, &mut writer, committed).await;
        }
        if cut {
            tracing::info!(upload_id = %record.id, offset = committed.offset, "blob upload chunk cut short; received bytes kept");
            return Err(BlobError::Interrupted {
                offset: committed.offset,
            });
        }
        Ok(TusUpload::from(&committed))
    }

    /// Verifies and publishes an upload that has all its bytes.
    async fn complete_upload(
        &self,
        slot: &UploadSlot,
        writer: &mut UploadWriter,
        record: UploadRecord,
    ) -> Result<TusUpload, BlobError> {
        let digest = writer
            .hasher
            .take()
            .map(|h| Sha256Hex::from_bytes(h.finalize().into()));
        let paths = self.upload_paths(&record);
        let outcome = tokio::task::spawn_blocking(move || publish_upload(&paths, record, digest))
            .await
            .map_err(|join| BlobError::Io {
                context: "verifying an upload".into(),
                source: std::io::Error::other(join.to_string()),
            })?;
        match outcome {
            Ok(record) => {
                tracing::info!(upload_id = %record.id, sha256 = %record.sha256, "blob upload complete");
                let upload = TusUpload::from(&record);
                slot.replace_record(record);
                Ok(upload)
            }
            Err(err) => {
                // A hash mismatch already removed the files; forget the upload.
                if matches!(err, BlobError::WholeFileHashMismatch { .. }) {
                    tracing::warn!(%err, "blob upload rejected");
                    writer.removed = true;
                    self.slots().retain(|_, s| !std::ptr::eq(s.as_ref(), slot));
                }
                Err(err)
            }
        }
    }

    /// tus termination: removes the caller's upload (finished or not; a
    /// finished blob itself stays).
    pub async fn terminate_upload(&self, id: Uuid, owner: Uuid) -> Result<(), BlobError> {
        if let Some(remote) = &self.remote {
            return remote.terminate_upload(id, owner).await;
        }
        let slot = self.owned_slot(id, owner)?;
        let mut writer = Arc::clone(&slot.writer)
            .try_lock_owned()
            .map_err(|_| BlobError::UploadBusy)?;
        if writer.removed {
            return Err(BlobError::UploadNotFound);
        }
        self.remove_upload_files(id)?;
        writer.removed = true;
        self.slots().remove(&id);
        tracing::info!(upload_id = %id, "blob upload terminated");
        Ok(())
    }

    /// Removes uploads (finished or not) not touched for `max_age`; returns
    /// how many. Uploads being written right now are skipped. Call it
    /// periodically with [`UPLOAD_EXPIRY`].
    pub fn remove_expired_uploads(&self, max_age: Duration) -> Result<usize, BlobError> {
        if let Some(remote) = &self.remote {
            return remote.remove_expired_uploads(max_age);
        }
        let cutoff =
            Utc::now() - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        let candidates: Vec<(Uuid, Arc<UploadSlot>)> = self
            .slots()
            .iter()
            .map(|(id, slot)| (*id, Arc::clone(slot)))
            .collect();
        let mut removed = 0;
        for (id, slot) in candidates {
            let Ok(mut writer) = slot.writer.try_lock() else {
                continue;
            };
            if writer.removed || slot.snapshot().updated_at > cutoff {
                continue;
            }
            self.remove_upload_files(id)?;
            writer.removed = true;
            self.slots().remove(&id);
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, "expired blob uploads removed");
        }
        Ok(removed)
    }

    fn remove_upload_files(&self, id: Uuid) -> Result<(), BlobError> {
        for path in [
            self.record_path(id),
            self.part_path(id),
            self.offset_path(id),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("removing {}", path.display()))(e)),
            }
        }
        Ok(())
    }

    fn upload_paths(&self, record: &UploadRecord) -> UploadPaths {
        UploadPaths {
            part: self.part_path(record.id),
            record: self.record_path(record.id),
            offset: self.offset_path(record.id),
            uploads_dir: self.uploads_dir.clone(),
            blob: self.blob_path(&record.sha256),
        }
    }

    fn persist_record(&self, record: &UploadRecord) -> Result<(), BlobError> {
        write_record(&self.uploads_dir, &self.record_path(record.id), record)
    }

    /// Makes `offset` the upload's durable offset (after its bytes were
    /// synced): see [`offset_file`].
    async fn commit_offset(&self, id: Uuid, offset: u64) -> Result<(), BlobError> {
        let dir = self.uploads_dir.clone();
        let path = self.offset_path(id);
        tokio::task::spawn_blocking(move || {
            offset_file::write(&dir, &path, offset)
                .map_err(io_err(format!("writing {}", path.display())))
        })
        .await
        .map_err(|join| BlobError::Io {
            context: "saving an upload offset".into(),
            source: std::io::Error::other(join.to_string()),
        })?
    }

    /// Startup recovery; see [`BlobStore::open`].
    fn recover_uploads(&self) -> Result<(), BlobError> {
        let entries = std::fs::read_dir(&self.uploads_dir)
            .map_err(io_err(format!("listing {}", self.uploads_dir.display())))?;
        let mut records = Vec::new();
        let mut parts = Vec::new();
        let mut offsets = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(io_err(format!("listing {}", self.uploads_dir.display())))?
                .path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let id = Uuid::parse_str(stem).ok();
            match (id, path.extension().and_then(|e| e.to_str())) {
                (Some(id), Some("json")) => records.push((id, path)),
                (Some(id), Some("part")) => parts.push(id),
                (Some(id), Some("offset")) => offsets.push(id),
                // Leftover temp files of an interrupted record write, or junk.
                _ => remove_if_file(&path)?,
            }
        }
        for (id, path) in records {
            let bytes =
                std::fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
            let mut record: UploadRecord = match serde_json::from_slice::<UploadRecord>(&bytes) {
                Ok(record) if record.id == id => record,
                Ok(_) | Err(_) => {
                    // A record we cannot trust is an upload the client
                    // must restart; it will get 404 and POST again.
                    tracing::warn!(path = %path.display(), "discarding unreadable upload record");
                    self.remove_upload_files(id)?;
                    continue;
                }
            };
            if record.complete {
                remove_if_file(&self.part_path(id))?;
                remove_if_file(&self.offset_path(id))?;
                if !self.contains(&record.sha256) {
                    // The blob was removed out of band: the upload must not
                    // claim to be complete.
                    self.remove_upload_files(id)?;
                    continue;
                }
            } else {
                // Chunks commit to the offset file; the record has the
                // offset of its last full write.
                let offset_path = self.offset_path(id);
                if let Some(offset) = offset_file::read(&offset_path) {
                    if offset > record.offset && offset <= record.length {
                        record.offset = offset;
                    }
                }
                // An upload busy until the crash is not an abandoned one.
                if let Ok(modified) = std::fs::metadata(&offset_path).and_then(|m| m.modified()) {
                    record.updated_at = record.updated_at.max(DateTime::<Utc>::from(modified));
                }
                match self.recover_part(record)? {
                    Some(recovered) => record = recovered,
                    None => continue,
                }
            }
            self.insert_slot(record, None);
        }
        for id in parts {
            if !self.slots().contains_key(&id) {
                remove_if_file(&self.part_path(id))?;
            }
        }
        for id in offsets {
            if !self.slots().contains_key(&id) {
                remove_if_file(&self.offset_path(id))?;
            }
        }
        Ok(())
    }

    /// Brings one unfinished upload's `.part` back to its committed offset,
    /// and finishes it if all bytes had been committed before a crash.
    /// `None`: it failed its hash check and was removed.
    fn recover_part(&self, mut record: UploadRecord) -> Result<Option<UploadRecord>, BlobError> {
        let part = self.part_path(record.id);
        let on_disk = match std::fs::metadata(&part) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::File::create(&part)
                    .map_err(io_err(format!("creating {}", part.display())))?;
                0
            }
            Err(e) => return Err(io_err(format!("inspecting {}", part.display()))(e)),
        };
        if on_disk != record.offset {
            // Longer: an uncommitted chunk. Shorter: the disk lost committed
            // bytes; resume from what is really there (the whole-file hash
            // check still guards the result).
            let offset = record.offset.min(on_disk);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&part)
                .map_err(io_err(format!("opening {}", part.display())))?;
            file.set_len(offset)
                .and_then(|()| file.sync_all())
                .map_err(io_err(format!("truncating {}", part.display())))?;
            record.offset = offset;
            self.persist_record(&record)?;
            let offset_path = self.offset_path(record.id);
            offset_file::write(&self.uploads_dir, &offset_path, offset)
                .map_err(io_err(format!("writing {}", offset_path.display())))?;
        }
        if record.offset == record.length {
            let paths = self.upload_paths(&record);
            return match publish_upload(&paths, record.clone(), None) {
                Ok(done) => Ok(Some(done)),
                Err(BlobError::WholeFileHashMismatch { .. }) => {
                    tracing::warn!(upload_id = %record.id, "recovered upload failed its hash check; removed");
                    Ok(None)
                }
                Err(e) => Err(e),
            };
        }
        Ok(Some(record))
    }
}

/// Runs [`BlobStore::remove_expired_uploads`] every `every` (normally with
/// `max_age` = [`UPLOAD_EXPIRY`]) until the returned task is aborted.
pub fn spawn_upload_expiry(
    store: Arc<BlobStore>,
    every: Duration,
    max_age: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            let store = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || store.remove_expired_uploads(max_age)).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::warn!(%err, "removing expired blob uploads failed"),
                Err(err) => tracing::warn!(%err, "blob upload expiry run panicked"),
            }
        }
    })
}

#[derive(Debug)]
struct UploadPaths {
    part: PathBuf,
    record: PathBuf,
    offset: PathBuf,
    uploads_dir: PathBuf,
    blob: PathBuf,
}

/// Checks the whole-file hash and moves the `.part` into content-addressed
/// storage (fsync, rename, fsync directory). On a mismatch the upload's files
/// are removed. Blocking.
fn publish_upload(
    paths: &UploadPaths,
    mut record: UploadRecord,
    digest: Option<Sha256Hex>,
) -> Result<UploadRecord, BlobError> {
    let actual = match digest {
        Some(digest) => digest,
        None => hash_file(&paths.part)?,
    };
    if actual != record.sha256 {
        remove_if_file(&paths.part)?;
        remove_if_file(&paths.record)?;
        remove_if_file(&paths.offset)?;
        return Err(BlobError::WholeFileHashMismatch {
            declared: record.sha256,
            actual,
        });
    }
    let blob_dir = paths.blob.parent().expect("blob paths have a parent");
    std::fs::create_dir_all(blob_dir)
        .map_err(io_err(format!("creating {}", blob_dir.display())))?;
    if paths.blob.is_file() {
        // Someone else finished the same content meanwhile; theirs is
        // identical (same verified hash), so keep it and drop ours.
        remove_if_file(&paths.part)?;
    } else {
        // The .part was fsynced when its last chunk was committed.
        std::fs::rename(&paths.part, &paths.blob).map_err(io_err(format!(
            "moving {} to {}",
            paths.part.display(),
            paths.blob.display()
        )))?;
        sync_dir(blob_dir)?;
    }
    record.complete = true;
    record.offset = record.length;
    record.updated_at = Utc::now();
    write_record(&paths.uploads_dir, &paths.record, &record)?;
    // The record says complete now; the offset file has nothing left to say.
    remove_if_file(&paths.offset)?;
    Ok(record)
}

fn hash_file(path: &Path) -> Result<Sha256Hex, BlobError> {
    let mut file =
        std::fs::File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Sha256Hex::from_bytes(hasher.finalize().into()))
}

/// Writes the record atomically and durably: temp file, fsync, rename, fsync
/// the directory.
fn write_record(dir: &Path, path: &Path, record: &UploadRecord) -> Result<(), BlobError> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(record).expect("upload records always serialize");
    let mut file =
        std::fs::File::create(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("renaming {}", tmp.display())))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("syncing directory {}", dir.display())))
}

fn remove_if_file(path: &Path) -> Result<(), BlobError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("removing {}", path.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1 << 20;

    fn new_upload(store: &BlobStore, owner: Uuid, data: &[u8]) -> TusUpload {
        match store
            .create_upload(owner, Sha256Hex::digest(data), data.len() as u64, None)
            .unwrap()
        {
            CreateOutcome::Created(upload) => upload,
            other => panic!("expected a new upload, got {other:?}"),
        }
    }

    /// Rewrites an upload's record on disk as a crash would have left it.
    fn set_committed_offset(dir: &Path, id: Uuid, offset: u64) {
        let path = dir.join(format!("blobs/uploads/{id}.json"));
        let mut record: UploadRecord =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        record.offset = offset;
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    }

    #[test]
    fn open_finishes_an_upload_that_had_all_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Uuid::new_v4();
        let data = b"every byte arrived before the crash".to_vec();
        let upload = {
            let store = BlobStore::open(dir.path(), MAX).unwrap();
            new_upload(&store, owner, &data)
        };
        let part = dir.path().join(format!("blobs/uploads/{}.part", upload.id));
        std::fs::write(&part, &data).unwrap();
        set_committed_offset(dir.path(), upload.id, data.len() as u64);

        let store = BlobStore::open(dir.path(), MAX).unwrap();
        assert!(store.contains(&upload.sha256));
        assert_eq!(
            std::fs::read(store.path_of(&upload.sha256).unwrap()).unwrap(),
            data
        );
        let status = store.upload_status(upload.id, owner).unwrap();
        assert!(status.complete);
        assert_eq!(status.offset, data.len() as u64);
        assert!(!part.exists());
    }

    #[test]
    fn open_drops_a_full_upload_with_the_wrong_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Uuid::new_v4();
        let declared = b"what the client promised".to_vec();
        let upload = {
            let store = BlobStore::open(dir.path(), MAX).unwrap();
            new_upload(&store, owner, &declared)
        };
        let part = dir.path().join(format!("blobs/uploads/{}.part", upload.id));
        std::fs::write(&part, b"what actually arrived...").unwrap();
        set_committed_offset(dir.path(), upload.id, declared.len() as u64);

        let store = BlobStore::open(dir.path(), MAX).unwrap();
        assert!(!store.contains(&upload.sha256));
        assert!(matches!(
            store.upload_status(upload.id, owner),
            Err(BlobError::UploadNotFound)
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs/uploads"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn open_resumes_from_what_is_really_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Uuid::new_v4();
        let data = vec![7u8; 1000];
        let upload = {
            let store = BlobStore::open(dir.path(), MAX).unwrap();
            new_upload(&store, owner, &data)
        };
        // The record claims 600 bytes but only 250 reached the disk.
        std::fs::write(
            dir.path().join(format!("blobs/uploads/{}.part", upload.id)),
            &data[..250],
        )
        .unwrap();
        set_committed_offset(dir.path(), upload.id, 600);
        let store = BlobStore::open(dir.path(), MAX).unwrap();
        assert_eq!(store.upload_status(upload.id, owner).unwrap().offset, 250);
    }

    #[test]
    fn open_removes_orphans_and_untrustworthy_records() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Uuid::new_v4();
        let (kept, corrupt, finished) = {
            let store = BlobStore::open(dir.path(), MAX).unwrap();
            (
                new_upload(&store, owner, b"kept"),
                new_upload(&store, owner, b"corrupt"),
                new_upload(&store, owner, b"finished, blob later lost"),
            )
        };
        let uploads = dir.path().join("blobs/uploads");
        let orphan_part = uploads.join(format!("{}.part", Uuid::new_v4()));
        std::fs::write(&orphan_part, b"no record").unwrap();
        let leftover_tmp = uploads.join(format!("{}.json.tmp", kept.id));
        std::fs::write(&leftover_tmp, b"{").unwrap();
        std::fs::write(uploads.join(format!("{}.json", corrupt.id)), b"{not json").unwrap();
        let finished_record = uploads.join(format!("{}.json", finished.id));
        let mut record: UploadRecord =
            serde_json::from_slice(&std::fs::read(&finished_record).unwrap()).unwrap();
        record.complete = true;
        record.offset = record.length;
        std::fs::write(&finished_record, serde_json::to_vec(&record).unwrap()).unwrap();

        let store = BlobStore::open(dir.path(), MAX).unwrap();
        assert_eq!(store.upload_status(kept.id, owner).unwrap().offset, 0);
        for gone in [corrupt.id, finished.id] {
            assert!(matches!(
                store.upload_status(gone, owner),
                Err(BlobError::UploadNotFound)
            ));
        }
        let mut left: Vec<String> = std::fs::read_dir(&uploads)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                format!("{}.json", kept.id),
                format!("{}.offset", kept.id),
                format!("{}.part", kept.id)
            ]
        );
    }

    #[test]
    fn open_takes_the_offset_the_chunks_committed_to_the_offset_file() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Uuid::new_v4();
        let data = vec![9u8; 1000];
        let upload = {
            let store = BlobStore::open(dir.path(), MAX).unwrap();
            new_upload(&store, owner, &data)
        };
        // Two chunks committed (300 bytes) then a crash mid-way through a
        // third (100 more bytes on disk): the record still says 0.
        let uploads = dir.path().join("blobs/uploads");
        std::fs::write(uploads.join(format!("{}.part", upload.id)), &data[..400]).unwrap();
        let offset = uploads.join(format!("{}.offset", upload.id));
        offset_file::write(&uploads, &offset, 300).unwrap();
        let store = BlobStore::open(dir.path(), MAX).unwrap();
        assert_eq!(store.upload_status(upload.id, owner).unwrap().offset, 300);
        assert_eq!(
            std::fs::metadata(uploads.join(format!("{}.part", upload.id)))
                .unwrap()
                .len(),
            300,
            "the uncommitted bytes were cut off"
        );
        // An offset file that is not one we wrote whole falls back to the record.
        drop(store);
        std::fs::write(&offset, b"garbage").unwrap();
        let store = BlobStore::open(dir.path(), MAX).unwrap();
        assert_eq!(store.upload_status(upload.id, owner).unwrap().offset, 300);
    }

    #[test]
    fn creation_validates_size_before_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), MAX).unwrap();
        let owner = Uuid::new_v4();
        let sha = Sha256Hex::digest(b"x");
        assert!(matches!(
            store.create_upload(owner, sha.clone(), MAX + 1, None),
            Err(BlobError::TooLarge { .. })
        ));
        assert!(matches!(
            store.create_upload(owner, Sha256Hex::digest(b""), 0, None),
            Err(BlobError::EmptyBlob)
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs/uploads"))
                .unwrap()
                .count(),
            0
        );
    }
}
