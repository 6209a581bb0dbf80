//! Media records, and which records still wait for their blob.

use fieldbook_domain::{InstallationMedia, Sha256Hex};
use fieldbook_protocol::{EntityKind, Versioned};
use uuid::Uuid;

use super::StorageError;

pub trait MediaReads {
    /// A media record by id, with its version.
    fn media(&self, id: Uuid) -> Result<Option<Versioned<InstallationMedia>>, StorageError>;

    /// Hashes of the media currently attached to an installation (what a
    /// report's content hash covers).
    fn media_hashes_of(&self, installation: Uuid) -> Result<Vec<Sha256Hex>, StorageError>;

    /// Media records and reports whose blob had not arrived when they were
    /// last versioned, as (kind, record id, blob hash); at most `limit` of each.
    fn awaiting_blobs(
        &self,
        limit: usize,
    ) -> Result<Vec<(EntityKind, Uuid, Sha256Hex)>, StorageError>;
}

pub trait MediaWrites {
    /// Inserts or replaces a media record (its blob not yet present); the
    /// uploader becomes visible to every device that sees the installation.
    /// Returns its new version.
    fn save_media(&mut self, media: &InstallationMedia) -> Result<u64, StorageError>;

    /// The blob of a media record arrived: record it with a new version so
    /// devices that pulled it "awaiting blob" pull it again.
    fn mark_media_blob_present(&mut self, media_id: Uuid) -> Result<u64, StorageError>;

    /// Deletes a media record and leaves a tombstone for everyone in scope.
    fn delete_media(&mut self, media: &InstallationMedia) -> Result<u64, StorageError>;
}
