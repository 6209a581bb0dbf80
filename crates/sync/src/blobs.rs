//! Blob uploads: tus 1.0.0 (core + creation + checksum) against the server's
//! `/api/v1/blobs`, one blob at a time.
//!
//! - **Resumable**: the upload URL is persisted right after creation and the
//!   server-confirmed offset after every chunk, so an upload continues after
//!   an app restart, a network cut or a server restart. A stored URL is
//!   always checked with `HEAD` first: the server may hold more than this
//!   device knows (a chunk whose answer was lost) or less (bytes it had not
//!   fsynced when it died).
//! - **Dedupe**: creating an upload for a hash the server already stores
//!   answers `200` + `Fieldbook-Blob-Exists: true`; that blob is done without
//!   sending a byte.
//! - **Flat memory**: chunk bodies are streamed from the file in 1 MiB
//!   pieces, never held whole; a blocking thread hashes the next chunk (for
//!   its `Upload-Checksum`) while the current one is sent. Memory does not
//!   grow with the chunk size, so chunks can be large: the upload waits for
//!   the server's fsync after each one, and fewer waits mean throughput
//!   close to a single plain PATCH.
//! - **Corrupt local files**: the server checks the whole file's SHA-256
//!   when the last chunk arrives and answers 422; the blob is then reported
//!   (not retried while the file stays as it is). The client does not hash
//!   the whole file itself: that would be one more pass over a multi-GB
//!   video for a case the server already catches.
//! - **Never in the way**: the engine can raise a flag (see
//!   [`BlobUploader::yield_to`]) and the uploader stops between chunks, so a
//!   2 GB video never holds back a report or a status change.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use fieldbook_domain::Sha256Hex;
use fieldbook_store::BlobUpload;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER,
};
use reqwest::{Response, StatusCode, Url};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::{with_store, SharedStore, SyncError};

/// Bytes per PATCH. Big enough that the server's per-chunk fsync and the
/// request's round trip are small next to the transfer (the upload waits
/// for each answer), small enough that a chunk cut on a slow link costs
/// little to resend. Memory does not depend on it (bodies are streamed).
pub const DEFAULT_CHUNK_SIZE: usize = 64 << 20;
/// Size of the pieces a chunk body is streamed in.
const BODY_PIECE: usize = 1 << 20;
/// Pieces read ahead of the socket.
const BODY_PIECES_AHEAD: usize = 4;

const TUS_VERSION: &str = "1.0.0";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
static FIELDBOOK_BLOB_EXISTS: HeaderName = HeaderName::from_static("fieldbook-blob-exists");
/// tus' status for a chunk that does not match its `Upload-Checksum`.
const CHECKSUM_MISMATCH: u16 = 460;
/// A chunk the server keeps receiving damaged is given up on after this
/// many tries in a row (the link or the file changes under us).
const MAX_CHECKSUM_RETRIES: u32 = 3;
/// Longest wait a `Retry-After` may impose inside one run; longer waits are
/// left to the engine's loop.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How far the blob queue got, for the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlobProgress {
    /// Blobs finished in this run (uploaded, already on the server, or
    /// given up on).
    pub blobs_done: u64,
    /// Blobs that were queued when the run started.
    pub blobs_total: u64,
    /// Bytes the server has of the queued blobs (including what earlier runs
    /// sent).
    pub bytes_done: u64,
    /// Size of all queued blobs.
    pub bytes_total: u64,
}

/// A blob this run could not upload and will not retry by itself, with the
/// reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobFailure {
    pub sha256: Sha256Hex,
    /// `local_file_missing`, `local_file_corrupt`, or the server's code
    /// (e.g. `blob_too_large`).
    pub code: String,
    pub message: String,
}

/// What one [`BlobUploader::upload_pending`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlobUploadSummary {
    /// Blobs now on the server (sent in this run or deduplicated).
    pub uploaded_blobs: u64,
    /// Of those, blobs the server already had: no bytes sent.
    pub deduplicated_blobs: u64,
    /// Bytes sent in this run that the server confirmed.
    pub uploaded_bytes: u64,
    /// Blobs given up on in this run; they stay queued.
    pub failed: Vec<BlobFailure>,
    /// The run stopped early because the engine asked it to yield; the
    /// rest of the queue is for the next run.
    pub interrupted: bool,
}

/// Retries of transient failures (network, 5xx, 423 locked, 429) inside one
/// run, before the run gives up and leaves the rest to the engine's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Consecutive failures tolerated; progress resets the count.
    pub attempts: u32,
    /// First wait; doubled after each failure.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Size and modification time of a local file: a file known to be corrupt
/// is skipped until it changes, so it is not re-sent on every sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Uploads the store's blob queue with tus. Clones share the memory of
/// which local files were found corrupt.
#[derive(Clone)]
pub struct BlobUploader {
    client: reqwest::Client,
    server_url: String,
    token: String,
    chunk_size: usize,
    patch_timeout: Duration,
    retry: RetryPolicy,
    yield_flag: Option<Arc<AtomicBool>>,
    corrupt_files: Arc<Mutex<HashMap<Sha256Hex, FileStamp>>>,
}

impl std::fmt::Debug for BlobUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("BlobUploader")
            .field("server_url", &self.server_url)
            .field("chunk_size", &self.chunk_size)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl BlobUploader {
    /// An uploader for the server at `server_url` (its root, e.g.
    /// `https://fieldbook.example.com`), authenticating with `token`.
    pub fn new(client: reqwest::Client, server_url: &str, token: String) -> Self {
        BlobUploader {
            client,
            server_url: server_url.to_owned(),
            token,
            chunk_size: DEFAULT_CHUNK_SIZE,
            patch_timeout: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            yield_flag: None,
            corrupt_files: Arc::default(),
        }
    }

    /// Bytes per PATCH (at least 1).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Time limit of one PATCH, replacing the client's own timeout for
    /// chunks: a chunk on a slow link takes longer than a JSON request.
    pub fn patch_timeout(mut self, timeout: Duration) -> Self {
        self.patch_timeout = timeout;
        self
    }

    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// While `flag` is set, the uploader stops at the next chunk boundary
    /// (progress persisted) and returns with `interrupted = true`. The engine
    /// sets it when local changes are waiting to be pushed.
    pub fn yield_to(mut self, flag: Arc<AtomicBool>) -> Self {
        self.yield_flag = Some(flag);
        self
    }

    /// Same uploader (and memory of corrupt files) with another token, after
    /// the person signed in again.
    pub fn with_token(&self, token: String) -> Self {
        BlobUploader {
            token,
            ..self.clone()
        }
    }

    fn should_yield(&self) -> bool {
        self.yield_flag
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    /// Uploads every blob from `store.blobs_pending_upload(..)`, oldest
    /// first, calling `progress` after each confirmed chunk.
    ///
    /// A blob that cannot be uploaded for a reason retrying will not fix (its
    /// local file is missing or corrupt, the server refuses it) is reported in
    /// [`BlobUploadSummary::failed`] and the next blob goes on. Network
    /// failures, 5xx and 429 are retried a few times, then returned as the
    /// run's error; a 401 ends the run at once.
    pub async fn upload_pending(
        &self,
        store: &SharedStore,
        progress: &(dyn Fn(BlobProgress) + Send + Sync),
    ) -> Result<BlobUploadSummary, SyncError> {
        let endpoint = self.endpoint()?;
        let queue = with_store(store, |s| s.blobs_pending_upload(usize::MAX))?;
        let mut tally = ProgressTally {
            offsets: queue.iter().map(|b| b.upload_offset).collect(),
            blobs_done: 0,
            blobs_total: queue.len() as u64,
            bytes_total: queue.iter().map(|b| b.blob.size).sum(),
        };
        let mut summary = BlobUploadSummary::default();
        progress(tally.snapshot());
        for (index, blob) in queue.iter().enumerate() {
            if self.should_yield() {
                summary.interrupted = true;
                break;
            }
            let mut on_offset = |offset: u64| {
                tally.offsets[index] = offset;
                progress(tally.snapshot());
            };
            let outcome = self
                .upload_one(&endpoint, store, blob, &mut on_offset)
                .await?;
            summary.uploaded_bytes += outcome.sent_bytes;
            let stored = matches!(outcome.end, BlobEnd::Uploaded | BlobEnd::Deduplicated);
            match outcome.end {
                BlobEnd::Uploaded => summary.uploaded_blobs += 1,
                BlobEnd::Deduplicated => {
                    summary.uploaded_blobs += 1;
                    summary.deduplicated_blobs += 1;
                }
                BlobEnd::Failed(failure) => {
                    tracing::warn!(sha256 = %failure.sha256, code = %failure.code, "blob upload given up: {}", failure.message);
                    summary.failed.push(failure);
                }
                BlobEnd::Interrupted => {
                    summary.interrupted = true;
                    break;
                }
            }
            if stored {
                tally.offsets[index] = blob.blob.size;
            }
            tally.blobs_done += 1;
            progress(tally.snapshot());
        }
        Ok(summary)
    }

    fn endpoint(&self) -> Result<Endpoint, SyncError> {
        let invalid = |reason: &str| SyncError::InvalidServerUrl {
            url: self.server_url.clone(),
            reason: reason.to_owned(),
        };
        let mut root = Url::parse(&self.server_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(root.scheme(), "http" | "https") {
            return Err(invalid("only http and https addresses work"));
        }
        // `join` replaces the last path segment unless the path ends in '/'.
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        let collection = root
            .join("api/v1/blobs")
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Endpoint { root, collection })
    }

    /// One blob, from wherever the server has it to the end.
    async fn upload_one(
        &self,
        endpoint: &Endpoint,
        store: &SharedStore,
        blob: &BlobUpload,
        on_offset: &mut (dyn FnMut(u64) + Send),
    ) -> Result<BlobOutcome, SyncError> {
        let sha256 = &blob.blob.sha256;
        let length = blob.blob.size;
        let failed = |code: &str, message: String| BlobOutcome {
            sent_bytes: 0,
            end: BlobEnd::Failed(BlobFailure {
                sha256: sha256.clone(),
                code: code.to_owned(),
                message,
            }),
        };
        let stamp = match FileStamp::of(&blob.local_path) {
            Ok(stamp) => stamp,
            Err(err) => {
                return Ok(failed(
                    "local_file_missing",
                    format!(
                        "the file {} cannot be read ({err}); it cannot be uploaded until it is restored",
                        blob.local_path.display()
                    ),
                ))
            }
        };
        if stamp.len != length || self.known_corrupt(sha256, stamp) {
            return Ok(failed(
                "local_file_corrupt",
                corrupt_message(&blob.local_path),
            ));
        }

        let mut state = UploadState {
            url: blob.upload_url.clone(),
            // Unknown until the server said (HEAD or creation).
            offset: None,
            sent_bytes: 0,
            failures: Failures::new(self.retry),
            checksum_retries: 0,
        };
        loop {
            let Some(url) = state.url.clone() else {
                match self.create(endpoint, blob).await {
                    Ok(Created::Upload { location, offset }) => {
                        state.failures.reset();
                        persist_progress(store, sha256, Some(&location), offset)?;
                        on_offset(offset);
                        state.url = Some(location);
                        state.offset = Some(offset);
                    }
                    Ok(Created::AlreadyStored) => {
                        with_store(store, |s| s.mark_blob_uploaded(sha256))?;
                        return Ok(BlobOutcome {
                            sent_bytes: state.sent_bytes,
                            end: BlobEnd::Deduplicated,
                        });
                    }
                    Ok(Created::Refused { code, message }) => return Ok(failed(&code, message)),
                    Err(step) => state.failures.absorb(step).await?,
                }
                continue;
            };
            let offset = match state.offset {
                Some(offset) => offset,
                None => {
                    match self.head(endpoint, &url).await {
                        Ok(Some(offset)) => {
                            persist_progress(store, sha256, Some(&url), offset)?;
                            on_offset(offset);
                            state.offset = Some(offset);
                        }
                        Ok(None) => {
                            // Expired, removed, or a server that lost it: start over.
                            persist_progress(store, sha256, None, 0)?;
                            on_offset(0);
                            state.url = None;
                        }
                        Err(step) => state.failures.absorb(step).await?,
                    }
                    continue;
                }
            };
            if offset >= length {
                // Complete on the server (its last answer may have been lost).
                with_store(store, |s| s.mark_blob_uploaded(sha256))?;
                return Ok(BlobOutcome {
                    sent_bytes: state.sent_bytes,
                    end: BlobEnd::Uploaded,
                });
            }
            match self
                .send_chunks(endpoint, store, blob, &url, offset, &mut state, on_offset)
                .await?
            {
                ChunksEnd::Resync => {}
                ChunksEnd::Interrupted => {
                    return Ok(BlobOutcome {
                        sent_bytes: state.sent_bytes,
                        end: BlobEnd::Interrupted,
                    })
                }
                ChunksEnd::Corrupt => {
                    self.remember_corrupt(sha256, &blob.local_path);
                    let mut outcome =
                        failed("local_file_corrupt", corrupt_message(&blob.local_path));
                    outcome.sent_bytes = state.sent_bytes;
                    return Ok(outcome);
                }
                ChunksEnd::Refused { code, message } => {
                    let mut outcome = failed(&code, message);
                    outcome.sent_bytes = state.sent_bytes;
                    return Ok(outcome);
                }
            }
        }
    }

    /// Sends chunks from `offset` until the blob is complete (then returns
    /// `Resync` with the final offset known) or something needs the caller:
    /// a new offset from the server, a new upload, a failure.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    async fn send_chunks(
        &self,
        endpoint: &Endpoint,
        store: &SharedStore,
        blob: &BlobUpload,
        url: &str,
        offset: u64,
        state: &mut UploadState,
        on_offset: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ChunksEnd, SyncError> {
        let sha256 = &blob.blob.sha256;
        let target = endpoint.resolve(url)?;
        let mut chunks = spawn_chunk_reader(
            blob.local_path.clone(),
            offset,
            blob.blob.size,
            self.chunk_size,
        );
        while let Some(read) = chunks.recv().await {
            if self.should_yield() {
                return Ok(ChunksEnd::Interrupted);
            }
            let chunk = match read {
                Ok(chunk) => chunk,
                Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(ChunksEnd::Corrupt)
                }
                Err(err) => {
                    return Ok(ChunksEnd::Refused {
                        code: "local_file_unreadable".into(),
                        message: format!(
                            "the file {} could not be read ({err}); it stays queued",
                            blob.local_path.display()
                        ),
                    })
                }
            };
            let sent = chunk.len;
            let expected = chunk.offset + sent;
            match self.patch(&target, &blob.local_path, chunk).await {
                Ok(Patched::Offset(new_offset)) => {
                    state.failures.reset();
                    state.checksum_retries = 0;
                    state.sent_bytes += sent;
                    persist_progress(store, sha256, Some(url), new_offset)?;
                    on_offset(new_offset);
                    state.offset = Some(new_offset);
                    if new_offset != expected {
                        // The server moved somewhere else than expected;
                        // follow it with a fresh reader.
                        return Ok(ChunksEnd::Resync);
                    }
                    if new_offset >= blob.blob.size {
                        return Ok(ChunksEnd::Resync);
                    }
                }
                Ok(Patched::OffsetMismatch(current)) => {
                    // Normal once after a lost answer; a server whose offset
                    // keeps disagreeing must not keep us looping.
                    state.offset = current;
                    state.failures.absorb(Step::disagreement()).await?;
                    return Ok(ChunksEnd::Resync);
                }
                Ok(Patched::ChecksumMismatch) => {
                    state.checksum_retries += 1;
                    if state.checksum_retries > MAX_CHECKSUM_RETRIES {
                        return Ok(ChunksEnd::Refused {
                            code: "checksum_mismatch".into(),
                            message: format!(
                                "the server received a damaged chunk {MAX_CHECKSUM_RETRIES} times in a row; the upload is retried on the next sync"
                            ),
                        });
                    }
                    // Same offset again: the reader restarts there.
                    return Ok(ChunksEnd::Resync);
                }
                Ok(Patched::HashMismatch) => {
                    // The server removed the upload after the whole file's
                    // hash did not match: the bytes on this disk are wrong.
                    persist_progress(store, sha256, None, 0)?;
                    state.url = None;
                    return Ok(ChunksEnd::Corrupt);
                }
                Ok(Patched::Gone) => {
                    persist_progress(store, sha256, None, 0)?;
                    on_offset(0);
                    state.url = None;
                    state.offset = None;
                    state.failures.absorb(Step::disagreement()).await?;
                    return Ok(ChunksEnd::Resync);
                }
                Ok(Patched::Refused { code, message }) => {
                    return Ok(ChunksEnd::Refused { code, message })
                }
                Err(step) => {
                    // Where the chunk ended is unknown: ask the server.
                    state.offset = None;
                    state.failures.absorb(step).await?;
                    return Ok(ChunksEnd::Resync);
                }
            }
        }
        // The reader stopped without an error only if it reached the end,
        // which the loop above already handled; ask the server to be sure.
        state.offset = None;
        Ok(ChunksEnd::Resync)
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(&self.token)
            .header(&TUS_RESUMABLE, TUS_VERSION)
    }

    async fn create(&self, endpoint: &Endpoint, blob: &BlobUpload) -> Result<Created, Step> {
        let response = self
            .request(reqwest::Method::POST, endpoint.collection.clone())
            .header(&UPLOAD_LENGTH, blob.blob.size)
            .header(
                &UPLOAD_METADATA,
                upload_metadata(&blob.blob.sha256, &blob.blob.mime),
            )
            .send()
            .await
            .map_err(Step::transport)?;
        let status = response.status();
        if status == StatusCode::OK && header_is_true(response.headers(), &FIELDBOOK_BLOB_EXISTS) {
            return Ok(Created::AlreadyStored);
        }
        if status == StatusCode::CREATED {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Step::protocol("an upload was created without a Location"))?
                .to_owned();
            let offset = header_u64(response.headers(), &UPLOAD_OFFSET).unwrap_or(0);
            return Ok(Created::Upload { location, offset });
        }
        // Nothing in a refused creation is worth retrying (too large, empty,
        // a stored blob of another length): report it.
        let refusal = classify(response).await?;
        Ok(Created::Refused {
            code: refusal.code(),
            message: refusal.message(),
        })
    }

    /// The server's offset, or `None` when the upload is gone.
    async fn head(&self, endpoint: &Endpoint, url: &str) -> Result<Option<u64>, Step> {
        let target = endpoint.resolve(url).map_err(Step::Fatal)?;
        let response = self
            .request(reqwest::Method::HEAD, target)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .send()
            .await
            .map_err(Step::transport)?;
        if response.status() == StatusCode::OK {
            return header_u64(response.headers(), &UPLOAD_OFFSET)
                .map(Some)
                .ok_or_else(|| Step::protocol("HEAD answered without Upload-Offset"));
        }
        match classify(response).await? {
            Refusal::Gone => Ok(None),
            refusal => Err(Step::protocol(&format!(
                "HEAD of an upload was refused: {}",
                refusal.message()
            ))),
        }
    }

    async fn patch(&self, target: &Url, path: &Path, chunk: Chunk) -> Result<Patched, Step> {
        let checksum = format!(
            "sha256 {}",
            base64::engine::general_purpose::STANDARD.encode(chunk.digest)
        );
        let response = self
            .request(reqwest::Method::PATCH, target.clone())
            .timeout(self.patch_timeout)
            .header(CONTENT_TYPE, OFFSET_OCTET_STREAM)
            .header(&UPLOAD_OFFSET, chunk.offset)
            .header(&UPLOAD_CHECKSUM, checksum)
            .header(CONTENT_LENGTH, chunk.len)
            .body(reqwest::Body::wrap_stream(FileRegion::spawn(
                path.to_owned(),
                chunk.offset,
                chunk.len,
            )))
            .send()
            .await
            .map_err(Step::transport)?;
        if response.status() == StatusCode::NO_CONTENT {
            return header_u64(response.headers(), &UPLOAD_OFFSET)
                .map(Patched::Offset)
                .ok_or_else(|| Step::protocol("PATCH answered without Upload-Offset"));
        }
        Ok(match classify(response).await? {
            Refusal::Gone => Patched::Gone,
            Refusal::Conflict(current) => Patched::OffsetMismatch(current),
            Refusal::ChecksumMismatch => Patched::ChecksumMismatch,
            Refusal::HashMismatch => Patched::HashMismatch,
            // 413 means the offsets disagree: resync from HEAD.
            Refusal::Other { status, .. } if status == StatusCode::PAYLOAD_TOO_LARGE => {
                Patched::OffsetMismatch(None)
            }
            refusal => Patched::Refused {
                code: refusal.code(),
                message: refusal.message(),
            },
        })
    }

    fn known_corrupt(&self, sha256: &Sha256Hex, stamp: FileStamp) -> bool {
        self.corrupt_files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sha256)
            .is_some_and(|known| *known == stamp)
    }

    fn remember_corrupt(&self, sha256: &Sha256Hex, path: &Path) {
        if let Ok(stamp) = FileStamp::of(path) {
            self.corrupt_files
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(sha256.clone(), stamp);
        }
    }
}

fn corrupt_message(path: &Path) -> String {
    format!(
        "the file {} no longer matches the photo or video it was saved as (damaged on disk); it cannot be uploaded — attach it again from the original",
        path.display()
    )
}

/// The server root and the tus collection under it.
#[derive(Debug, Clone)]
struct Endpoint {
    root: Url,
    collection: Url,
}

impl Endpoint {
    /// Upload URLs are stored as the server gave them (a path): resolving
    /// them against the current server address keeps them valid when the
    /// server comes back on another address.
    fn resolve(&self, location: &str) -> Result<Url, SyncError> {
        self.root
            .join(location)
            .map_err(|e| SyncError::Protocol(format!("upload location {location:?}: {e}")))
    }
}

struct UploadState {
    url: Option<String>,
    offset: Option<u64>,
    sent_bytes: u64,
    failures: Failures,
    checksum_retries: u32,
}

struct BlobOutcome {
    sent_bytes: u64,
    end: BlobEnd,
}

enum BlobEnd {
    Uploaded,
    Deduplicated,
    Failed(BlobFailure),
    Interrupted,
}

enum ChunksEnd {
    /// Ask the server where the upload stands (or create a new one) and go on.
    Resync,
    Interrupted,
    Corrupt,
    Refused {
        code: String,
        message: String,
    },
}

enum Created {
    Upload { location: String, offset: u64 },
    AlreadyStored,
    Refused { code: String, message: String },
}

enum Patched {
    Offset(u64),
    OffsetMismatch(Option<u64>),
    ChecksumMismatch,
    HashMismatch,
    Gone,
    Refused { code: String, message: String },
}

/// A request that did not get a usable answer.
#[derive(Debug)]
enum Step {
    /// Worth retrying after a pause (network, 5xx, 423, 429).
    Transient {
        error: SyncError,
        wait: Option<Duration>,
    },
    /// Ends the run (401, nonsense answers).
    Fatal(SyncError),
}

impl Step {
    fn transport(err: reqwest::Error) -> Step {
        Step::Transient {
            error: crate::client::transport_error(err),
            wait: None,
        }
    }

    /// The server's view of the upload differs from ours (offset moved,
    /// upload gone): follow it at once, but only a few times in a row.
    fn disagreement() -> Step {
        Step::Transient {
            error: SyncError::Protocol(
                "the server's upload offset keeps changing under this device".into(),
            ),
            wait: Some(Duration::ZERO),
        }
    }

    fn protocol(what: &str) -> Step {
        Step::Fatal(SyncError::Protocol(what.to_owned()))
    }
}

/// Consecutive transient failures of one blob, with exponential backoff.
struct Failures {
    policy: RetryPolicy,
    count: u32,
}

impl Failures {
    fn new(policy: RetryPolicy) -> Self {
        Failures { policy, count: 0 }
    }

    fn reset(&mut self) {
        self.count = 0;
    }

    fn delay(&self) -> Duration {
        let factor = 1u32 << self.count.saturating_sub(1).min(16);
        self.policy
            .first_delay
            .saturating_mul(factor)
            .min(self.policy.max_delay)
    }

    /// Waits before the next try, or returns the error once the budget is
    /// spent (or at once for a fatal one).
    async fn absorb(&mut self, step: Step) -> Result<(), SyncError> {
        let (error, wait) = match step {
            Step::Fatal(error) => return Err(error),
            Step::Transient { error, wait } => (error, wait),
        };
        self.count += 1;
        if self.count > self.policy.attempts {
            return Err(error);
        }
        let delay = wait.unwrap_or_else(|| self.delay()).min(MAX_RETRY_AFTER);
        tracing::debug!(error = %error, ?delay, attempt = self.count, "blob upload retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// A non-success answer, sorted by what the uploader does about it.
enum Refusal {
    /// 404 / 410: the upload no longer exists.
    Gone,
    /// 409 with the server's current offset (if it said).
    Conflict(Option<u64>),
    ChecksumMismatch,
    /// 422: the whole file's hash differs from the declared one.
    HashMismatch,
    Other {
        status: StatusCode,
        code: String,
        message: String,
    },
}

impl Refusal {
    fn code(&self) -> String {
        match self {
            Refusal::Gone => "upload_not_found".into(),
            Refusal::Conflict(_) => "offset_mismatch".into(),
            Refusal::ChecksumMismatch => "checksum_mismatch".into(),
            Refusal::HashMismatch => "blob_hash_mismatch".into(),
            Refusal::Other { code, .. } => code.clone(),
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::Other {
                status, message, ..
            } => format!("the server refused the file (HTTP {status}): {message}"),
            other => format!("the server refused the request ({})", other.code()),
        }
    }
}

/// Sorts an error answer: transient ones and 401 become a [`Step`], the
/// rest a [`Refusal`] for the caller to act on.
async fn classify(response: Response) -> Result<Refusal, Step> {
    let status = response.status();
    let headers = response.headers().clone();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    let code = body["code"].as_str().unwrap_or("").to_owned();
    let message = body["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| status.to_string());
    match status.as_u16() {
        401 => Err(Step::Fatal(SyncError::Unauthorized)),
        404 | 410 => Ok(Refusal::Gone),
        409 if code == "blob_length_mismatch" => Ok(Refusal::Other {
            status,
            code,
            message,
        }),
        409 => Ok(Refusal::Conflict(header_u64(&headers, &UPLOAD_OFFSET))),
        422 => Ok(Refusal::HashMismatch),
        // Another PATCH of this upload still runs (typically ours, cut a
        // moment ago, not yet noticed by the server): wait, then HEAD.
        423 => Err(Step::Transient {
            error: SyncError::Server {
                status: 423,
                message,
            },
            wait: None,
        }),
        429 => {
            let retry_after = header_u64(&headers, &RETRY_AFTER).map(Duration::from_secs);
            Err(Step::Transient {
                error: SyncError::RateLimited {
                    message,
                    retry_after,
                },
                wait: retry_after,
            })
        }
        CHECKSUM_MISMATCH => Ok(Refusal::ChecksumMismatch),
        500..=599 => Err(Step::Transient {
            error: SyncError::Server {
                status: status.as_u16(),
                message,
            },
            wait: None,
        }),
        _ => Ok(Refusal::Other {
            status,
            code: if code.is_empty() {
                format!("http_{}", status.as_u16())
            } else {
                code
            },
            message,
        }),
    }
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn header_is_true(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
}

/// `sha256 <base64 of the hex digest>[,mime <base64>]`. A mime type the
/// server would refuse is left out rather than failing the upload over it.
fn upload_metadata(sha256: &Sha256Hex, mime: &str) -> HeaderValue {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut value = format!("sha256 {}", b64.encode(sha256.as_str()));
    let sendable_mime = !mime.is_empty()
        && mime.len() <= 255
        && mime.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if sendable_mime {
        value.push_str(",mime ");
        value.push_str(&b64.encode(mime));
    }
    HeaderValue::from_str(&value).expect("base64 and ASCII letters are valid header text")
}

fn persist_progress(
    store: &SharedStore,
    sha256: &Sha256Hex,
    url: Option<&str>,
    offset: u64,
) -> Result<(), SyncError> {
    with_store(store, |s| s.set_blob_upload_progress(sha256, url, offset))
}

struct ProgressTally {
    offsets: Vec<u64>,
    blobs_done: u64,
    blobs_total: u64,
    bytes_total: u64,
}

impl ProgressTally {
    fn snapshot(&self) -> BlobProgress {
        BlobProgress {
            blobs_done: self.blobs_done,
            blobs_total: self.blobs_total,
            bytes_done: self.offsets.iter().sum(),
            bytes_total: self.bytes_total,
        }
    }
}

/// One PATCH: where, how long, and the checksum of those bytes.
struct Chunk {
    offset: u64,
    len: u64,
    digest: [u8; 32],
}

/// A chunk's bytes streamed from the file as a request body: a blocking
/// thread reads `BODY_PIECE`s, at most `BODY_PIECES_AHEAD` ahead of the
/// socket. A file that ends early ends the body with an error (the request
/// fails; the next hash pass reports the file).
struct FileRegion {
    pieces: mpsc::Receiver<std::io::Result<Vec<u8>>>,
}

impl FileRegion {
    fn spawn(path: PathBuf, offset: u64, len: u64) -> FileRegion {
        let (tx, rx) = mpsc::channel(BODY_PIECES_AHEAD);
        tokio::task::spawn_blocking(move || {
            let read = || -> std::io::Result<()> {
                let mut file = File::open(&path)?;
                file.seek(SeekFrom::Start(offset))?;
                let mut left = len;
                while left > 0 {
                    let want = left.min(BODY_PIECE as u64);
                    let mut piece = Vec::with_capacity(want as usize);
                    (&mut file).take(want).read_to_end(&mut piece)?;
                    if piece.is_empty() {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    left -= piece.len() as u64;
                    if tx.blocking_send(Ok(piece)).is_err() {
                        return Ok(()); // the request was dropped
                    }
                }
                Ok(())
            };
            if let Err(err) = read() {
                let _ = tx.blocking_send(Err(err));
            }
        });
        FileRegion { pieces: rx }
    }
}

impl futures_core::Stream for FileRegion {
    type Item = std::io::Result<Vec<u8>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.pieces.poll_recv(cx)
    }
}

/// Hashes `path` from `start` to `length` chunk by chunk on a blocking
/// thread. A chunk is hashed only once the channel has room, i.e. once the
/// previous one was taken for sending: the hashing stays one chunk ahead.
/// Dropping the receiver stops the reader.
fn spawn_chunk_reader(
    path: PathBuf,
    start: u64,
    length: u64,
    chunk_size: usize,
) -> mpsc::Receiver<std::io::Result<Chunk>> {
    let (tx, rx) = mpsc::channel(1);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let result = read_chunks(&path, start, length, chunk_size, &mut || {
            runtime.block_on(tx.reserve()).ok()
        });
        if let Err(err) = result {
            // Nobody may be listening any more; that is fine.
            let _ = tx.blocking_send(Err(err));
        }
    });
    rx
}

/// Room for one chunk in the reader's channel.
type ChunkSlot<'a> = mpsc::Permit<'a, std::io::Result<Chunk>>;

/// The reading half of [`spawn_chunk_reader`]. `slot` waits for room for
/// the next chunk and returns `None` when the consumer is gone.
fn read_chunks<'a>(
    path: &Path,
    start: u64,
    length: u64,
    chunk_size: usize,
    slot: &mut dyn FnMut() -> Option<ChunkSlot<'a>>,
) -> std::io::Result<()> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut offset = start;
    let mut buffer = vec![0u8; BODY_PIECE];
    while offset < length {
        let Some(slot) = slot() else {
            return Ok(());
        };
        let len = (length - offset).min(chunk_size as u64);
        let mut hasher = Sha256::new();
        let mut left = len;
        while left > 0 {
            let want = left.min(buffer.len() as u64) as usize;
            let n = file.read(&mut buffer[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the file ends at {} bytes", offset + len - left),
                ));
            }
            hasher.update(&buffer[..n]);
            left -= n as u64;
        }
        slot.send(Ok(Chunk {
            offset,
            len,
            digest: hasher.finalize().into(),
        }));
        offset += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(path: &Path, start: u64, length: u64, chunk: usize) -> std::io::Result<Vec<Chunk>> {
        let (tx, mut rx) = mpsc::channel(1024);
        read_chunks(path, start, length, chunk, &mut || tx.try_reserve().ok())?;
        let mut out = Vec::new();
        while let Ok(read) = rx.try_recv() {
            out.push(read?);
        }
        Ok(out)
    }

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        file
    }

    #[test]
    fn chunks_cover_the_file_with_their_own_checksums() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let file = file_with(&bytes);
        let chunks = collect(file.path(), 0, bytes.len() as u64, 4096).unwrap();
        assert_eq!(
            chunks.iter().map(|c| (c.offset, c.len)).collect::<Vec<_>>(),
            vec![(0, 4096), (4096, 4096), (8192, 1808)]
        );
        for c in &chunks {
            let range = c.offset as usize..(c.offset + c.len) as usize;
            assert_eq!(c.digest, Sha256Hex::digest(&bytes[range]).to_bytes());
        }
    }

    #[test]
    fn a_resumed_read_starts_at_the_offset() {
        let bytes = vec![7u8; 5000];
        let file = file_with(&bytes);
        let chunks = collect(file.path(), 3000, 5000, 4096).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].offset, chunks[0].len), (3000, 2000));
        assert_eq!(chunks[0].digest, Sha256Hex::digest(&[7u8; 2000]).to_bytes());
    }

    #[test]
    fn a_file_shorter_than_recorded_is_an_unexpected_eof() {
        let file = file_with(&[1u8; 100]);
        let err = collect(file.path(), 0, 150, 64).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_reader_reads_ahead_only_when_there_is_room() {
        let file = file_with(&[0u8; 1000]);
        // Room for two chunks and nobody taking them: the reader stops
        // after two instead of reading the whole file into memory.
        let (tx, mut rx) = mpsc::channel(2);
        read_chunks(file.path(), 0, 1000, 100, &mut || tx.try_reserve().ok()).unwrap();
        let mut offsets = Vec::new();
        while let Ok(read) = rx.try_recv() {
            offsets.push(read.unwrap().offset);
        }
        assert_eq!(offsets, vec![0, 100]);

        // The consumer is gone: nothing is read.
        let (tx, rx) = mpsc::channel::<std::io::Result<Chunk>>(2);
        drop(rx);
        read_chunks(file.path(), 0, 1000, 100, &mut || tx.try_reserve().ok()).unwrap();
    }

    #[test]
    fn metadata_carries_the_hex_hash_in_base64_and_a_sane_mime() {
        let hash = Sha256Hex::digest(b"photo");
        let b64 = &base64::engine::general_purpose::STANDARD;
        let value = upload_metadata(&hash, "image/jpeg");
        assert_eq!(
            value.to_str().unwrap(),
            format!(
                "sha256 {},mime {}",
                b64.encode(hash.as_str()),
                b64.encode("image/jpeg")
            )
        );
        let without_mime = upload_metadata(&hash, "bad\nmime");
        assert_eq!(
            without_mime.to_str().unwrap(),
            format!("sha256 {}", b64.encode(hash.as_str()))
        );
    }

    #[test]
    fn upload_locations_resolve_against_the_current_server() {
        for (server, expected_collection) in [
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/api/v1/blobs",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/api/v1/blobs",
            ),
            (
                "https://example.com/fieldbook",
                "https://example.com/fieldbook/api/v1/blobs",
            ),
        ] {
            let uploader = BlobUploader::new(reqwest::Client::new(), server, "t".into());
            let endpoint = uploader.endpoint().unwrap();
            assert_eq!(endpoint.collection.as_str(), expected_collection);
        }
        let uploader = BlobUploader::new(reqwest::Client::new(), "http://10.0.0.2:9", "t".into());
        let endpoint = uploader.endpoint().unwrap();
        assert_eq!(
            endpoint.resolve("/api/v1/blobs/abc").unwrap().as_str(),
            "http://10.0.0.2:9/api/v1/blobs/abc"
        );
        let invalid = BlobUploader::new(reqwest::Client::new(), "ftp://x", "t".into());
        assert_eq!(
            invalid.endpoint().err().unwrap().code(),
            "invalid_server_url"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_gives_up_after_the_budget() {
        let mut failures = Failures::new(RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        });
        failures.count = 1;
        assert_eq!(failures.delay(), Duration::from_millis(100));
        failures.count = 2;
        assert_eq!(failures.delay(), Duration::from_millis(200));
        failures.count = 3;
        assert_eq!(failures.delay(), Duration::from_millis(250));

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut failures = Failures::new(RetryPolicy {
                attempts: 2,
                first_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(10),
            });
            let offline = || Step::Transient {
                error: SyncError::Offline {
                    detail: "cut".into(),
                },
                wait: None,
            };
            assert!(failures.absorb(offline()).await.is_ok());
            assert!(failures.absorb(offline()).await.is_ok());
            let err = failures.absorb(offline()).await.unwrap_err();
            assert_eq!(err.code(), "offline");
            failures.reset();
            assert!(failures.absorb(offline()).await.is_ok());
            let fatal = failures
                .absorb(Step::Fatal(SyncError::Unauthorized))
                .await
                .unwrap_err();
            assert_eq!(fatal.code(), "unauthorized");
        });
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let uploader = BlobUploader::new(
            reqwest::Client::new(),
            "http://localhost",
            "secret-token".into(),
        );
        assert!(!format!("{uploader:?}").contains("secret-token"));
    }
}
