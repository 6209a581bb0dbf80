//! The upload queue: every blob the store has waiting, oldest first, with
//! the progress the status line shows and the local files found corrupt
//! (remembered in the store, skipped until they change).

use std::path::Path;
use std::time::SystemTime;

use fieldbook_domain::Sha256Hex;
use fieldbook_store::CorruptFile;
use serde::Serialize;
use tracing::Instrument as _;

use super::{BlobEnd, BlobUploader};
use crate::{with_store, SharedStore, SyncError};

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

/// The local file as it is now (size and modification time): a file found
/// corrupt is skipped until this changes.
pub(super) fn file_stamp(path: &Path) -> std::io::Result<CorruptFile> {
    let meta = std::fs::metadata(path)?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    Ok(CorruptFile {
        size: meta.len(),
        modified_ns,
    })
}

impl BlobUploader {
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
        // Reads the blobs decrypted, with the store's current key.
        let media = with_store(store, |s| Ok(s.media_store()))?;
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
            let span = tracing::info_span!(
                "upload",
                sha256 = %blob.blob.sha256,
                size = blob.blob.size,
                from_offset = blob.upload_offset,
            );
            let outcome = self
                .upload_one(&endpoint, store, &media, blob, &mut on_offset)
                .instrument(span.clone())
                .await?;
            // No await below in this round: the span can be entered.
            let _entered = span.enter();
            summary.uploaded_bytes += outcome.sent_bytes;
            tracing::debug!(
                sent_bytes = outcome.sent_bytes,
                end = outcome.end.as_str(),
                "blob upload ended"
            );
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

    /// Whether the file is still as it was when the server found it
    /// corrupt (kept in the store: a restart does not forget it).
    pub(super) fn known_corrupt(
        &self,
        store: &SharedStore,
        sha256: &Sha256Hex,
        stamp: CorruptFile,
    ) -> Result<bool, SyncError> {
        Ok(with_store(store, |s| s.blob_corrupt_file(sha256))? == Some(stamp))
    }

    pub(super) fn remember_corrupt(
        &self,
        store: &SharedStore,
        sha256: &Sha256Hex,
        path: &Path,
    ) -> Result<(), SyncError> {
        match file_stamp(path) {
            Ok(stamp) => with_store(store, |s| s.mark_blob_corrupt(sha256, stamp)),
            // Gone meanwhile: the next run reports it missing.
            Err(_) => Ok(()),
        }
    }
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
