//! What the screens and the sync engine read. No transaction is opened
//! here (each read is one statement, or a screen's snapshot that a write
//! between its statements could only make newer). Uses rows only.

mod diagnostics;
mod installations;

pub use diagnostics::{BlobQueueCounts, OutboxErrorSummary, StoreDiagnostics};
pub use installations::{
    AssignmentWithTeam, InstallationDetail, InstallationQuery, InstallationSummary,
};

use chrono::{DateTime, Utc};
use fieldbook_domain::label::{read_label, CodeFormat};
use fieldbook_domain::{InstallationMedia, InstallationReport, ReportDraft, Sha256Hex};
use serde::Serialize;
use uuid::Uuid;

use crate::error::Result;
use crate::rows::blobs::{BlobUpload, CorruptFile};
use crate::rows::held_work::HeldWork;
use crate::rows::outbox::{OutboxCounts, OutboxEntry, OutboxState};
use crate::rows::FileAvailability;
use crate::rows::{blobs, held_work, media, media_codes, outbox, reports, session, sync_state};
use crate::{Session, Store};

/// A serial number and/or model read from a code in one of the
/// installation's photos, offered to the technician (never filled in by itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LabelOffer {
    /// The photo the code was read from.
    pub media_id: Uuid,
    pub format: CodeFormat,
    pub serial_number: Option<String>,
    pub model: Option<String>,
}

impl Store {
    /// What the installation's photos say about the charger: one offer per
    /// distinct (serial, model), newest photo first.
    pub fn label_offers(&self, installation_id: Uuid) -> Result<Vec<LabelOffer>> {
        let mut offers: Vec<LabelOffer> = Vec::new();
        for (media_id, code) in media_codes::list_for_installation(&self.conn, installation_id)? {
            let Some(reading) = read_label(&code) else {
                continue;
            };
            let seen = offers
                .iter()
                .any(|o| o.serial_number == reading.serial_number && o.model == reading.model);
            if !seen {
                offers.push(LabelOffer {
                    media_id,
                    format: code.format,
                    serial_number: reading.serial_number,
                    model: reading.model,
                });
            }
        }
        Ok(offers)
    }

    pub fn session(&self) -> Result<Option<Session>> {
        session::current(&self.conn)
    }

    /// When the signed-in user's last sync cycle ended well (kept across
    /// restarts); `None` before the first or when nobody is signed in.
    pub fn last_synced_at(&self) -> Result<Option<DateTime<Utc>>> {
        session::last_synced_at(&self.conn)
    }

    pub fn get_report_draft(&self, installation_id: Uuid) -> Result<Option<ReportDraft>> {
        reports::load_draft(&self.conn, installation_id)
    }

    pub fn get_report(&self, installation_id: Uuid) -> Result<Option<InstallationReport>> {
        reports::load_report(&self.conn, installation_id)
    }

    pub fn get_media(&self, media_id: Uuid) -> Result<InstallationMedia> {
        media::load(&self.conn, media_id)
    }

    /// The server version of the photo or video once the server accepted
    /// its `media.attach` (raised by later caption changes); `None` before.
    pub fn media_server_version(&self, media_id: Uuid) -> Result<Option<i64>> {
        media::server_version(&self.conn, media_id)
    }

    /// Whether the file of a photo or video is on this device and on the
    /// server.
    pub fn media_availability(&self, media_id: Uuid) -> Result<FileAvailability> {
        media::availability(&self.conn, media_id)
    }

    /// Held work on one job (see [`HeldWork`]).
    pub fn held_work(&self, installation_id: Uuid) -> Result<Vec<HeldWork>> {
        held_work::for_installation(&self.conn, installation_id)
    }

    /// The next `limit` entries to push, oldest first.
    pub fn pending_outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        outbox::in_state(&self.conn, OutboxState::Pending, limit)
    }

    /// Entries the server rejected or answered with a conflict.
    pub fn needs_attention(&self) -> Result<Vec<OutboxEntry>> {
        outbox::in_state(&self.conn, OutboxState::NeedsAttention, usize::MAX)
    }

    pub fn outbox_entry(&self, mutation_id: Uuid) -> Result<Option<OutboxEntry>> {
        outbox::entry(&self.conn, mutation_id)
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        outbox::counts(&self.conn)
    }

    /// Where the next pull of `scope` starts; `None` before the first page.
    pub fn sync_cursor(&self, scope: &str) -> Result<Option<i64>> {
        sync_state::cursor(&self.conn, scope)
    }

    /// Blobs still to upload, oldest first.
    pub fn blobs_pending_upload(&self, limit: usize) -> Result<Vec<BlobUpload>> {
        blobs::pending(&self.conn, &self.media, limit)
    }

    pub fn blob_upload(&self, sha256: &Sha256Hex) -> Result<BlobUpload> {
        blobs::load(&self.conn, &self.media, sha256)
    }

    /// How the file of `sha256` was when the server found it corrupt, if it
    /// did (see [`Store::mark_blob_corrupt`]).
    pub fn blob_corrupt_file(&self, sha256: &Sha256Hex) -> Result<Option<CorruptFile>> {
        blobs::corrupt(&self.conn, sha256)
    }
}
