//! Which blobs a caller may download: a blob is reachable through the media
//! records, report signatures and completion certificates that name it, and
//! a technician only through those of installations in their teams' scope.

use super::{Scope, StorageError};

pub trait BlobAccessReads {
    /// The MIME type recorded for a blob by a media record, a report
    /// signature or a certificate the caller can see; `None` if no such
    /// record exists.
    fn blob_mime_in_scope(
        &self,
        sha256: &str,
        scope: Scope,
    ) -> Result<Option<String>, StorageError>;
}
