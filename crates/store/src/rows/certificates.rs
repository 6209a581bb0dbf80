//! Rows of `certificates`: the completion certificate made for a submitted report.

use chrono::{DateTime, Utc};
use fieldbook_domain::{BlobRef, Sha256Hex};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use uuid::Uuid;

use crate::db::{get_parsed, get_ts, get_uuid, ts};
use crate::error::Result;

/// A completion certificate on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Certificate {
    pub installation_id: Uuid,
    /// The PDF, a blob in the media store.
    pub file: BlobRef,
    /// The content hash of the report it certifies.
    pub report_content_hash: Sha256Hex,
    pub created_at: DateTime<Utc>,
}

pub(crate) fn upsert(conn: &Connection, certificate: &Certificate) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO certificates (installation_id, file_sha256, file_size, report_content_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (installation_id) DO UPDATE SET
             file_sha256 = excluded.file_sha256, file_size = excluded.file_size,
             report_content_hash = excluded.report_content_hash, created_at = excluded.created_at",
    )?
    .execute(params![
        certificate.installation_id.to_string(),
        certificate.file.sha256.as_str(),
        certificate.file.size,
        certificate.report_content_hash.as_str(),
        ts(&certificate.created_at),
    ])?;
    Ok(())
}

pub(crate) fn load(conn: &Connection, installation_id: Uuid) -> Result<Option<Certificate>> {
    Ok(conn
        .prepare_cached(
            "SELECT installation_id, file_sha256, file_size, report_content_hash, created_at
             FROM certificates WHERE installation_id = ?1",
        )?
        .query_row([installation_id.to_string()], |r| {
            Ok(Certificate {
                installation_id: get_uuid(r, 0)?,
                file: BlobRef {
                    sha256: get_parsed(r, 1)?,
                    size: r.get(2)?,
                    mime: "application/pdf".to_owned(),
                },
                report_content_hash: get_parsed(r, 3)?,
                created_at: get_ts(r, 4)?,
            })
        })
        .optional()?)
}
