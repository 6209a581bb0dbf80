//! Completion certificates: which blob is an installation's certificate PDF,
//! for which version of its report.

use chrono::{DateTime, Utc};
use fieldbook_domain::Sha256Hex;
use uuid::Uuid;

use super::StorageError;

/// An installation's certificate as the server recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    pub installation_id: Uuid,
    pub report_id: Uuid,
    /// The content hash of the report the certificate prints.
    pub report_content_hash: Sha256Hex,
    pub sha256: Sha256Hex,
    pub size: u64,
    /// When the device made it (device time).
    pub made_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub uploaded_by: Uuid,
}

pub trait CertificateReads {
    /// The installation's certificate, if a device sent one.
    fn certificate_of(&self, installation: Uuid)
        -> Result<Option<StoredCertificate>, StorageError>;
}

pub trait CertificateWrites {
    /// Records (or replaces) the installation's certificate.
    fn save_certificate(&mut self, c: &StoredCertificate) -> Result<(), StorageError>;
}
