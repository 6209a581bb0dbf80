//! Tells devices when a blob they saw "awaiting" has arrived.
//!
//! `media.attach` and a report's signature are accepted before their bytes
//! are uploaded. Pull computes `blob_available` when it reads a record, but a
//! device that already pulled the record would not pull it again. This task
//! watches records whose blob was missing and gives them a new version once
//! the blob store has the bytes.

use std::sync::Arc;
use std::time::Duration;

use fieldbook_protocol::EntityKind;
use tokio::task::JoinHandle;

use crate::blobs::BlobStore;
use crate::storage::{Storage, StorageError};

/// Records checked per round (the rest wait for the next round).
const BATCH: usize = 500;

/// One round: returns how many records were re-versioned.
pub fn refresh(storage: &Storage, blobs: &BlobStore) -> Result<usize, StorageError> {
    let arrived: Vec<_> = storage
        .read(|db| db.awaiting_blobs(BATCH))?
        .into_iter()
        .filter(|(_, _, hash)| blobs.contains(hash))
        .collect();
    if arrived.is_empty() {
        return Ok(0);
    }
    storage.write(|tx| {
        for (kind, id, _) in &arrived {
            match kind {
                EntityKind::Report => tx.mark_signature_blob_present(*id)?,
                EntityKind::Media => tx.mark_media_blob_present(*id)?,
                // `awaiting_blobs` yields only media and reports.
                _ => continue,
            };
        }
        Ok::<_, StorageError>(arrived.len())
    })
}

/// Runs [`refresh`] every `interval` until the task is aborted.
pub fn spawn(storage: Arc<Storage>, blobs: Arc<BlobStore>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let (storage, blobs) = (Arc::clone(&storage), Arc::clone(&blobs));
            match tokio::task::spawn_blocking(move || refresh(&storage, &blobs)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(records = n, "blobs arrived"),
                Ok(Err(e)) => tracing::warn!(error = %e, "blob arrival check failed"),
                Err(e) => tracing::warn!(error = %e, "blob arrival task failed"),
            }
        }
    })
}
