//! The narrow handle the sync engine works through: what sign-in, push,
//! pull and blob uploads need of the store, and nothing of the technician's
//! actions or the screens' reads. `fieldbook-sync` reaches the store only
//! through [`Store::sync_side`].

use chrono::{DateTime, Utc};
use fieldbook_domain::{Sha256Hex, User};
use uuid::Uuid;

use crate::error::Result;
use crate::{
    ApplyOutcome, BlobUpload, CorruptFile, OutboxCounts, OutboxEntry, ResyncOutcome, ServerBatch,
    Session, Store, StoreDiagnostics,
};

/// The store as the sync engine sees it (borrowed for one short step: the
/// engine never holds it across an `.await`).
#[derive(Debug)]
pub struct SyncSide<'a> {
    store: &'a mut Store,
}

impl Store {
    /// The handle the sync engine uses.
    pub fn sync_side(&mut self) -> SyncSide<'_> {
        SyncSide { store: self }
    }
}

impl SyncSide<'_> {
    // ---- who syncs -------------------------------------------------------------

    pub fn device_id(&self) -> Uuid {
        self.store.device_id()
    }

    pub fn session(&self) -> Result<Option<Session>> {
        self.store.session()
    }

    /// See [`Store::last_synced_at`].
    pub fn last_synced_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.store.last_synced_at()
    }

    /// See [`Store::record_sync_success`].
    pub fn record_sync_success(&mut self, at: DateTime<Utc>) -> Result<()> {
        self.store.record_sync_success(at)
    }

    /// See [`Store::diagnostics`] (the support bundle).
    pub fn diagnostics(&self) -> Result<StoreDiagnostics> {
        self.store.diagnostics()
    }

    /// See [`Store::sign_in`].
    pub fn sign_in(&mut self, user: &User, team_ids: &[Uuid]) -> Result<Session> {
        self.store.sign_in(user, team_ids)
    }

    /// See [`Store::sign_out`].
    pub fn sign_out(&mut self) -> Result<()> {
        self.store.sign_out()
    }

    /// See [`Store::erase_all_data`] (remote wipe).
    pub fn erase_all_data(&mut self) -> Result<()> {
        self.store.erase_all_data()
    }

    /// See [`Store::erase_all_data_with_new_keys`] (remote wipe of an
    /// encrypted store).
    pub fn erase_all_data_with_new_keys(
        &mut self,
        new_keys: impl FnOnce() -> std::result::Result<Option<crate::StoreKeys>, String>,
    ) -> Result<()> {
        self.store.erase_all_data_with_new_keys(new_keys)
    }

    /// The media files (a clone sharing the store's key), for the blob
    /// uploader to read them decrypted.
    pub fn media_store(&self) -> fieldbook_media::MediaStore {
        self.store.media_store().clone()
    }

    // ---- push ------------------------------------------------------------------

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.store.outbox_counts()
    }

    pub fn pending_outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.store.pending_outbox(limit)
    }

    /// See [`Store::acknowledge_outbox`].
    pub fn acknowledge_outbox(&mut self, mutation_id: Uuid, applied_version: i64) -> Result<bool> {
        self.store.acknowledge_outbox(mutation_id, applied_version)
    }

    /// See [`Store::hold_outbox_entry`].
    pub fn hold_outbox_entry(
        &mut self,
        mutation_id: Uuid,
        held_work_id: Uuid,
        message: &str,
    ) -> Result<bool> {
        self.store
            .hold_outbox_entry(mutation_id, held_work_id, message)
    }

    /// See [`Store::record_push_failure`].
    pub fn record_push_failure(&mut self, mutation_id: Uuid, error: &str) -> Result<()> {
        self.store.record_push_failure(mutation_id, error)
    }

    /// See [`Store::move_to_needs_attention`].
    pub fn move_to_needs_attention(&mut self, mutation_id: Uuid, reason: &str) -> Result<()> {
        self.store.move_to_needs_attention(mutation_id, reason)
    }

    // ---- pull ------------------------------------------------------------------

    pub fn sync_cursor(&self, scope: &str) -> Result<Option<i64>> {
        self.store.sync_cursor(scope)
    }

    /// See [`Store::apply_server_batch`].
    pub fn apply_server_batch(&mut self, batch: &ServerBatch) -> Result<ApplyOutcome> {
        self.store.apply_server_batch(batch)
    }

    /// See [`Store::apply_ahead_of_pull`].
    pub fn apply_ahead_of_pull(
        &mut self,
        batch: &mut ServerBatch,
        pull_scope: &str,
    ) -> Result<ApplyOutcome> {
        self.store.apply_ahead_of_pull(batch, pull_scope)
    }

    /// See [`Store::apply_server_batches`].
    pub fn apply_server_batches(&mut self, batches: &[ServerBatch]) -> Result<Vec<ApplyOutcome>> {
        self.store.apply_server_batches(batches)
    }

    /// See [`Store::defer_for_bulk_load`] (before a first sync).
    pub fn defer_for_bulk_load(&mut self) -> Result<()> {
        self.store.defer_for_bulk_load()
    }

    /// See [`Store::build_deferred_indexes`] (after a pull).
    pub fn build_deferred_indexes(&mut self) -> Result<usize> {
        self.store.build_deferred_indexes()
    }

    /// See [`Store::remove_retired_installations`].
    pub fn remove_retired_installations(
        &mut self,
        changed_before: chrono::NaiveDate,
    ) -> Result<usize> {
        self.store.remove_retired_installations(changed_before)
    }

    /// See [`Store::begin_full_resync`].
    pub fn begin_full_resync(&mut self) -> Result<()> {
        self.store.begin_full_resync()
    }

    /// See [`Store::full_resync_pending`].
    pub fn full_resync_pending(&self) -> Result<bool> {
        self.store.full_resync_pending()
    }

    /// See [`Store::finish_full_resync`].
    pub fn finish_full_resync(&mut self) -> Result<ResyncOutcome> {
        self.store.finish_full_resync()
    }

    // ---- blob uploads ------------------------------------------------------------

    pub fn blobs_pending_upload(&self, limit: usize) -> Result<Vec<BlobUpload>> {
        self.store.blobs_pending_upload(limit)
    }

    /// See [`Store::set_blob_upload_progress`].
    pub fn set_blob_upload_progress(
        &mut self,
        sha256: &Sha256Hex,
        upload_url: Option<&str>,
        upload_offset: u64,
    ) -> Result<()> {
        self.store
            .set_blob_upload_progress(sha256, upload_url, upload_offset)
    }

    /// See [`Store::mark_blob_uploaded`].
    pub fn mark_blob_uploaded(&mut self, sha256: &Sha256Hex) -> Result<()> {
        self.store.mark_blob_uploaded(sha256)
    }

    /// See [`Store::mark_blob_corrupt`].
    pub fn mark_blob_corrupt(&mut self, sha256: &Sha256Hex, file: CorruptFile) -> Result<()> {
        self.store.mark_blob_corrupt(sha256, file)
    }

    /// See [`Store::blob_corrupt_file`].
    pub fn blob_corrupt_file(&self, sha256: &Sha256Hex) -> Result<Option<CorruptFile>> {
        self.store.blob_corrupt_file(sha256)
    }
}
