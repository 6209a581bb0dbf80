//! Completion certificates: which blob is an installation's certificate PDF,
//! for which version of its report.

use chrono::{DateTime, Utc};
use fieldbook_domain::Sha256Hex;
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::parse_uuid;
use super::{parse_timestamp, timestamp, Db, StorageError, WriteTx};

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

fn hash(s: &str) -> Result<Sha256Hex, StorageError> {
    s.parse()
        .map_err(|_| StorageError::Corrupt(format!("sha256 {s:?}")))
}

impl Db<'_> {
    /// The installation's certificate, if a device sent one.
    pub fn certificate_of(
        &self,
        installation: Uuid,
    ) -> Result<Option<StoredCertificate>, StorageError> {
        type Row = (String, String, String, i64, String, String, String);
        let row: Option<Row> = self
            .conn
            .prepare_cached(
                "SELECT report_id, report_content_hash, sha256, size, made_at, received_at, \
                        uploaded_by \
                 FROM report_certificates WHERE installation_id = ?1",
            )?
            .query_row([installation.to_string()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()?;
        row.map(
            |(report_id, content_hash, sha256, size, made_at, received_at, uploaded_by)| {
                Ok(StoredCertificate {
                    installation_id: installation,
                    report_id: parse_uuid(&report_id)?,
                    report_content_hash: hash(&content_hash)?,
                    sha256: hash(&sha256)?,
                    size: u64::try_from(size)
                        .map_err(|_| StorageError::Corrupt(format!("certificate size {size}")))?,
                    made_at: parse_timestamp(&made_at)?,
                    received_at: parse_timestamp(&received_at)?,
                    uploaded_by: parse_uuid(&uploaded_by)?,
                })
            },
        )
        .transpose()
    }
}

impl WriteTx<'_> {
    /// Records (or replaces) the installation's certificate.
    pub fn save_certificate(&mut self, c: &StoredCertificate) -> Result<(), StorageError> {
        self.tx
            .prepare_cached(
                "INSERT INTO report_certificates (installation_id, report_id, \
                   report_content_hash, sha256, size, made_at, received_at, uploaded_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (installation_id) DO UPDATE SET report_id = excluded.report_id, \
                   report_content_hash = excluded.report_content_hash, sha256 = excluded.sha256, \
                   size = excluded.size, made_at = excluded.made_at, \
                   received_at = excluded.received_at, uploaded_by = excluded.uploaded_by",
            )?
            .execute(params![
                c.installation_id.to_string(),
                c.report_id.to_string(),
                c.report_content_hash.as_str(),
                c.sha256.as_str(),
                i64::try_from(c.size)
                    .map_err(|_| StorageError::Corrupt(format!("certificate size {}", c.size)))?,
                timestamp(c.made_at),
                timestamp(c.received_at),
                c.uploaded_by.to_string(),
            ])?;
        Ok(())
    }
}
