//! Installation reports and their append-only event log.

use chrono::{DateTime, Utc};
use fieldbook_domain::InstallationReport;
use fieldbook_protocol::{ReportEvent, Versioned};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::{from_json, parse_uuid, to_json, versioned};
use super::{parse_timestamp, timestamp, Db, StorageError, WriteTx};

/// A report with the server's receive time.
pub type StoredReport = (Versioned<InstallationReport>, DateTime<Utc>);

impl Db<'_> {
    /// Whether any installation's report has this id.
    pub fn report_id_taken(&self, id: Uuid) -> Result<bool, StorageError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM reports WHERE id = ?1)",
            [id.to_string()],
            |r| r.get(0),
        )?)
    }

    /// The installation's report and when the server received it.
    pub fn report_of(&self, installation: Uuid) -> Result<Option<StoredReport>, StorageError> {
        let row: Option<(String, i64, String)> = self
            .conn
            .query_row(
                "SELECT body, seq, received_at FROM reports WHERE installation_id = ?1",
                [installation.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(b, s, at)| Ok((versioned(b, s)?, parse_timestamp(&at)?)))
            .transpose()
    }

    /// Whether the installation's report is sent back to the technician.
    pub fn report_sent_back(&self, installation: Uuid) -> Result<bool, StorageError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM reports \
                 WHERE installation_id = ?1 AND sent_back_at IS NOT NULL)",
            )?
            .query_row([installation.to_string()], |r| r.get(0))?)
    }

    pub fn report_events(&self, installation: Uuid) -> Result<Vec<ReportEvent>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event, report_id, installation_id, received_at, device_id, user_id, \
                    mutation_id, content_hash, note, earlier_body \
             FROM report_events WHERE installation_id = ?1 ORDER BY id",
        )?;
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let rows = stmt
            .query_map([installation.to_string()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect::<Result<Vec<Row>, _>>()?;
        // Ops events have no device or mutation: stored as ''.
        let optional = |s: &str| (!s.is_empty()).then(|| parse_uuid(s)).transpose();
        rows.into_iter()
            .map(
                |(event, report, inst, at, device, user, mutation, hash, note, earlier)| {
                    Ok(ReportEvent {
                        event: from_json(&format!("\"{event}\""))?,
                        report_id: parse_uuid(&report)?,
                        installation_id: parse_uuid(&inst)?,
                        received_at: parse_timestamp(&at)?,
                        device_id: optional(&device)?,
                        user_id: parse_uuid(&user)?,
                        mutation_id: optional(&mutation)?,
                        content_hash: hash
                            .parse()
                            .map_err(|_| StorageError::Corrupt(format!("sha256 {hash:?}")))?,
                        note,
                        earlier_version: earlier.map(|b| from_json(&b)).transpose()?,
                    })
                },
            )
            .collect()
    }
}

impl WriteTx<'_> {
    pub fn insert_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError> {
        self.write_report(
            "INSERT INTO reports (id, installation_id, body, received_at, seq, \
               signature_sha256, signature_blob_present, submitted_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            report,
        )
    }

    /// Runs `sql` (an insert or an update of the installation's report row)
    /// with the report's columns as ?1..?8, under a new sequence number, and
    /// makes the installation visible to its submitter.
    fn write_report(
        &mut self,
        sql: &str,
        report: &InstallationReport,
    ) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        let signature = report
            .customer_signature
            .as_ref()
            .map(|s| s.png.sha256.as_str());
        self.tx.execute(
            sql,
            params![
                report.id.to_string(),
                report.installation_id.to_string(),
                to_json(report)?,
                timestamp(self.now),
                seq as i64,
                signature,
                signature.is_none() as i64,
                report.submitted_by.to_string()
            ],
        )?;
        self.make_user_visible_with(report.submitted_by, report.installation_id)?;
        Ok(seq)
    }

    pub fn append_report_event(&mut self, event: &ReportEvent) -> Result<(), StorageError> {
        let earlier = event.earlier_version.as_deref().map(to_json).transpose()?;
        self.tx.execute(
            "INSERT INTO report_events (event, report_id, installation_id, received_at, \
               device_id, user_id, mutation_id, content_hash, note, earlier_body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                event.event.as_str(),
                event.report_id.to_string(),
                event.installation_id.to_string(),
                timestamp(event.received_at),
                event.device_id.map(|d| d.to_string()).unwrap_or_default(),
                event.user_id.to_string(),
                event.mutation_id.map(|m| m.to_string()).unwrap_or_default(),
                event.content_hash.as_str(),
                event.note,
                earlier
            ],
        )?;
        Ok(())
    }

    /// Replaces an installation's report with a corrected version (after ops
    /// sent it back): same row, new body and version; the sent-back mark is
    /// cleared. The caller keeps the earlier version in the report events.
    pub fn replace_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError> {
        self.write_report(
            "UPDATE reports SET id = ?1, body = ?3, received_at = ?4, seq = ?5, \
               signature_sha256 = ?6, signature_blob_present = ?7, submitted_by = ?8, \
               sent_back_at = NULL \
             WHERE installation_id = ?2",
            report,
        )
    }

    /// Marks (or clears) the installation's report as sent back to the
    /// technician.
    pub fn set_report_sent_back(
        &mut self,
        installation: Uuid,
        sent_back: bool,
    ) -> Result<(), StorageError> {
        self.tx.execute(
            "UPDATE reports SET sent_back_at = ?2 WHERE installation_id = ?1",
            params![
                installation.to_string(),
                sent_back.then(|| timestamp(self.now))
            ],
        )?;
        Ok(())
    }

    /// The signature image of a report arrived (see [`Self::mark_media_blob_present`]).
    pub fn mark_signature_blob_present(&mut self, report_id: Uuid) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx.execute(
            "UPDATE reports SET signature_blob_present = 1, seq = ?1 WHERE id = ?2",
            params![seq as i64, report_id.to_string()],
        )?;
        Ok(seq)
    }
}
