//! The blob upload queue's progress, as the uploader learns it from the
//! server.

use chrono::Utc;
use fieldbook_domain::Sha256Hex;

use super::in_transaction;
use crate::error::Result;
use crate::rows::blobs::{self, CorruptFile};
use crate::Store;

impl Store {
    /// Remembers the tus upload URL and the offset the server confirmed, so an
    /// upload resumes after a crash or restart.
    pub fn set_blob_upload_progress(
        &mut self,
        sha256: &Sha256Hex,
        upload_url: Option<&str>,
        upload_offset: u64,
    ) -> Result<()> {
        in_transaction(self, |tx, _| {
            blobs::set_progress(tx, sha256, upload_url, upload_offset)
        })
    }

    /// The server has the whole blob (uploaded, or it already had the hash).
    pub fn mark_blob_uploaded(&mut self, sha256: &Sha256Hex) -> Result<()> {
        in_transaction(self, |tx, _| blobs::mark_uploaded(tx, sha256, Utc::now()))
    }

    /// The server found the local file of `sha256` corrupt (its whole-file
    /// hash did not match): remembered with the file's size and time, so it
    /// is not sent again — also after a restart — until the file changes.
    pub fn mark_blob_corrupt(&mut self, sha256: &Sha256Hex, file: CorruptFile) -> Result<()> {
        tracing::debug!(%sha256, size = file.size, "local file marked corrupt");
        in_transaction(self, |tx, _| blobs::set_corrupt(tx, sha256, file))
    }
}
