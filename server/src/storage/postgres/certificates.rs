//! Completion certificates: which blob is an installation's certificate PDF,
//! for which version of its report.

use fieldbook_domain::Sha256Hex;
use uuid::Uuid;

use super::rows::parse_uuid;
use super::{parse_timestamp, timestamp, PgDb, PgTx};
use crate::storage::{CertificateReads, CertificateWrites, StorageError, StoredCertificate};

fn hash(s: &str) -> Result<Sha256Hex, StorageError> {
    s.parse()
        .map_err(|_| StorageError::Corrupt(format!("sha256 {s:?}")))
}

impl CertificateReads for PgDb<'_> {
    fn certificate_of(
        &self,
        installation: Uuid,
    ) -> Result<Option<StoredCertificate>, StorageError> {
        self.row(
            "SELECT report_id, report_content_hash, sha256, size, made_at, received_at, \
                    uploaded_by \
             FROM report_certificates WHERE installation_id = $1",
            &[&installation.to_string()],
        )?
        .map(|r| {
            let size: i64 = r.try_get(3)?;
            Ok(StoredCertificate {
                installation_id: installation,
                report_id: parse_uuid(&r.try_get::<_, String>(0)?)?,
                report_content_hash: hash(&r.try_get::<_, String>(1)?)?,
                sha256: hash(&r.try_get::<_, String>(2)?)?,
                size: u64::try_from(size)
                    .map_err(|_| StorageError::Corrupt(format!("certificate size {size}")))?,
                made_at: parse_timestamp(&r.try_get::<_, String>(4)?)?,
                received_at: parse_timestamp(&r.try_get::<_, String>(5)?)?,
                uploaded_by: parse_uuid(&r.try_get::<_, String>(6)?)?,
            })
        })
        .transpose()
    }
}

impl CertificateWrites for PgTx<'_> {
    fn save_certificate(&mut self, c: &StoredCertificate) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT INTO report_certificates (installation_id, report_id, \
               report_content_hash, sha256, size, made_at, received_at, uploaded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (installation_id) DO UPDATE SET report_id = excluded.report_id, \
               report_content_hash = excluded.report_content_hash, sha256 = excluded.sha256, \
               size = excluded.size, made_at = excluded.made_at, \
               received_at = excluded.received_at, uploaded_by = excluded.uploaded_by",
            &[
                &c.installation_id.to_string(),
                &c.report_id.to_string(),
                &c.report_content_hash.as_str(),
                &c.sha256.as_str(),
                &i64::try_from(c.size)
                    .map_err(|_| StorageError::Corrupt(format!("certificate size {}", c.size)))?,
                &timestamp(c.made_at),
                &timestamp(c.received_at),
                &c.uploaded_by.to_string(),
            ],
        )?;
        Ok(())
    }
}
