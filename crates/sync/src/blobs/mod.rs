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
//!   (not retried while the file stays as it is, also after a restart: the
//!   store keeps the file's size and time). The client does not hash
//!   the whole file itself: that would be one more pass over a multi-GB
//!   video for a case the server already catches.
//! - **Encrypted at rest**: blobs are read through the media store,
//!   decrypted on the fly, so offsets, chunks and checksums are over the
//!   plaintext. An encrypted file whose length does not authenticate, or a
//!   chunk that does not decrypt, is reported corrupt the same way (the
//!   chunk is hashed before it is sent, so no damaged byte leaves).
//! - **Never in the way**: the engine can raise a flag (see
//!   [`BlobUploader::yield_to`]) and the uploader stops between chunks, so a
//!   2 GB video never holds back a report or a status change.
//!
//! By job: [`queue`] walks the store's upload queue (progress, the memory
//! of corrupt files), this module uploads one blob from wherever the server
//! has it to the end, [`tus`] speaks the tus requests, [`chunk_body`] reads,
//! hashes and streams chunk bodies, [`retry`] decides what a failure costs.

mod chunk_body;
mod queue;
mod retry;
mod tus;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldbook_domain::Sha256Hex;
use fieldbook_media::MediaStore;
use fieldbook_store::BlobUpload;

pub use queue::{BlobFailure, BlobProgress, BlobUploadSummary};
pub use retry::RetryPolicy;

use chunk_body::spawn_chunk_reader;
use queue::file_stamp;
use retry::{Failures, Step};
use tus::{Created, Endpoint, Patched};

use crate::{with_store, SharedStore, SyncError};

/// Bytes per PATCH. Big enough that the server's per-chunk fsync and the
/// request's round trip are small next to the transfer (the upload waits
/// for each answer), small enough that a chunk cut on a slow link costs
/// little to resend. Memory does not depend on it (bodies are streamed).
pub const DEFAULT_CHUNK_SIZE: usize = 64 << 20;

/// A chunk the server keeps receiving damaged is given up on after this
/// many tries in a row (the link or the file changes under us).
const MAX_CHECKSUM_RETRIES: u32 = 3;

/// Uploads the store's blob queue with tus.
#[derive(Clone)]
pub struct BlobUploader {
    client: reqwest::Client,
    server_url: String,
    token: String,
    chunk_size: usize,
    patch_timeout: Duration,
    retry: RetryPolicy,
    yield_flag: Option<Arc<AtomicBool>>,
    /// How the server wants chunks checked, asked once (see `chunk_check`).
    chunk_check: Arc<tokio::sync::OnceCell<chunk_body::ChunkCheck>>,
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
            chunk_check: Arc::default(),
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

    /// Same uploader (settings, yield flag) with another token, after
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
}

impl BlobUploader {
    /// One blob, from wherever the server has it to the end.
    async fn upload_one(
        &self,
        endpoint: &Endpoint,
        store: &SharedStore,
        media: &MediaStore,
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
        let stamp = match file_stamp(&blob.local_path) {
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
        // The plaintext's length (an encrypted file's is authenticated by
        // its last segment; one that is not is damaged).
        let plain_len = match media.open_blob(sha256) {
            Ok(file) => Some(file.len()),
            Err(err) if fieldbook_media::is_damaged(&err) => None,
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
        if plain_len != Some(length) || self.known_corrupt(store, sha256, stamp)? {
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
                .send_chunks(
                    endpoint, store, media, blob, &url, offset, &mut state, on_offset,
                )
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
                    self.remember_corrupt(store, sha256, &blob.local_path)?;
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
        media: &MediaStore,
        blob: &BlobUpload,
        url: &str,
        offset: u64,
        state: &mut UploadState,
        on_offset: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ChunksEnd, SyncError> {
        let sha256 = &blob.blob.sha256;
        let target = endpoint.resolve(url)?;
        let check = self.chunk_check(endpoint).await;
        let mut chunks = spawn_chunk_reader(
            media.clone(),
            sha256.clone(),
            offset,
            blob.blob.size,
            self.chunk_size,
            check,
        );
        while let Some(read) = chunks.recv().await {
            if self.should_yield() {
                return Ok(ChunksEnd::Interrupted);
            }
            let chunk = match read {
                Ok(chunk) => chunk,
                Err(err)
                    if err.kind() == std::io::ErrorKind::UnexpectedEof
                        || fieldbook_media::is_damaged(&err) =>
                {
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
            match self.patch(&target, media, sha256, chunk).await {
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
}

fn corrupt_message(path: &Path) -> String {
    format!(
        "the file {} no longer matches the photo or video it was saved as (damaged on disk); it cannot be uploaded — attach it again from the original",
        path.display()
    )
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

impl BlobEnd {
    /// For the log.
    fn as_str(&self) -> &'static str {
        match self {
            BlobEnd::Uploaded => "uploaded",
            BlobEnd::Deduplicated => "already_on_server",
            BlobEnd::Failed(_) => "failed",
            BlobEnd::Interrupted => "yielded",
        }
    }
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

fn persist_progress(
    store: &SharedStore,
    sha256: &Sha256Hex,
    url: Option<&str>,
    offset: u64,
) -> Result<(), SyncError> {
    with_store(store, |s| s.set_blob_upload_progress(sha256, url, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

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
