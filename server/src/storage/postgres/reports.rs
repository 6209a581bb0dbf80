//! Installation reports and their append-only event log.

use fieldbook_domain::InstallationReport;
use fieldbook_protocol::ReportEvent;
use uuid::Uuid;

use super::rows::{from_json, parse_uuid, to_json, versioned};
use super::{parse_timestamp, timestamp, PgDb, PgTx};
use crate::storage::{ReportReads, ReportWrites, StorageError, StoredReport};

impl ReportReads for PgDb<'_> {
    fn report_id_taken(&self, id: Uuid) -> Result<bool, StorageError> {
        Ok(self
            .one(
                "SELECT EXISTS (SELECT 1 FROM reports WHERE id = $1)",
                &[&id.to_string()],
            )?
            .try_get(0)?)
    }

    fn report_of(&self, installation: Uuid) -> Result<Option<StoredReport>, StorageError> {
        self.row(
            &self.locking("SELECT body, seq, received_at FROM reports WHERE installation_id = $1"),
            &[&installation.to_string()],
        )?
        .map(|r| {
            Ok((
                versioned(r.try_get(0)?, r.try_get(1)?)?,
                parse_timestamp(&r.try_get::<_, String>(2)?)?,
            ))
        })
        .transpose()
    }

    fn report_sent_back(&self, installation: Uuid) -> Result<bool, StorageError> {
        Ok(self
            .one(
                "SELECT EXISTS (SELECT 1 FROM reports \
                 WHERE installation_id = $1 AND sent_back_at IS NOT NULL)",
                &[&installation.to_string()],
            )?
            .try_get(0)?)
    }

    fn report_events(&self, installation: Uuid) -> Result<Vec<ReportEvent>, StorageError> {
        let rows = self.rows(
            "SELECT event, report_id, installation_id, received_at, device_id, user_id, \
                    mutation_id, content_hash, note, earlier_body \
             FROM report_events WHERE installation_id = $1 ORDER BY id",
            &[&installation.to_string()],
        )?;
        // Ops events have no device or mutation: stored as ''.
        let optional = |s: &str| (!s.is_empty()).then(|| parse_uuid(s)).transpose();
        rows.into_iter()
            .map(|r| {
                let event: String = r.try_get(0)?;
                let hash: String = r.try_get(7)?;
                let earlier: Option<String> = r.try_get(9)?;
                Ok(ReportEvent {
                    event: from_json(&format!("\"{event}\""))?,
                    report_id: parse_uuid(&r.try_get::<_, String>(1)?)?,
                    installation_id: parse_uuid(&r.try_get::<_, String>(2)?)?,
                    received_at: parse_timestamp(&r.try_get::<_, String>(3)?)?,
                    device_id: optional(&r.try_get::<_, String>(4)?)?,
                    user_id: parse_uuid(&r.try_get::<_, String>(5)?)?,
                    mutation_id: optional(&r.try_get::<_, String>(6)?)?,
                    content_hash: hash
                        .parse()
                        .map_err(|_| StorageError::Corrupt(format!("sha256 {hash:?}")))?,
                    note: r.try_get(8)?,
                    earlier_version: earlier.map(|b| from_json(&b)).transpose()?,
                })
            })
            .collect()
    }
}

impl ReportWrites for PgTx<'_> {
    fn insert_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError> {
        self.write_report(
            "INSERT INTO reports (id, installation_id, body, received_at, seq, \
               signature_sha256, signature_blob_present, submitted_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            report,
        )
    }

    fn append_report_event(&mut self, event: &ReportEvent) -> Result<(), StorageError> {
        let earlier = event.earlier_version.as_deref().map(to_json).transpose()?;
        self.db.execute(
            "INSERT INTO report_events (event, report_id, installation_id, received_at, \
               device_id, user_id, mutation_id, content_hash, note, earlier_body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &event.event.as_str(),
                &event.report_id.to_string(),
                &event.installation_id.to_string(),
                &timestamp(event.received_at),
                &event.device_id.map(|d| d.to_string()).unwrap_or_default(),
                &event.user_id.to_string(),
                &event.mutation_id.map(|m| m.to_string()).unwrap_or_default(),
                &event.content_hash.as_str(),
                &event.note,
                &earlier,
            ],
        )?;
        Ok(())
    }

    fn replace_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError> {
        self.write_report(
            "UPDATE reports SET id = $1, body = $3, received_at = $4, seq = $5, \
               signature_sha256 = $6, signature_blob_present = $7, submitted_by = $8, \
               sent_back_at = NULL \
             WHERE installation_id = $2",
            report,
        )
    }

    fn set_report_sent_back(
        &mut self,
        installation: Uuid,
        sent_back: bool,
    ) -> Result<(), StorageError> {
        self.db.execute(
            "UPDATE reports SET sent_back_at = $2 WHERE installation_id = $1",
            &[
                &installation.to_string(),
                &sent_back.then(|| timestamp(self.now)),
            ],
        )?;
        Ok(())
    }

    fn mark_signature_blob_present(&mut self, report_id: Uuid) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            "UPDATE reports SET signature_blob_present = 1, seq = $1 WHERE id = $2",
            &[&(seq as i64), &report_id.to_string()],
        )?;
        Ok(seq)
    }
}

impl PgTx<'_> {
    /// Runs `sql` (an insert or an update of the installation's report row)
    /// with the report's columns as $1..$8, under a new sequence number, and
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
        self.db.execute(
            sql,
            &[
                &report.id.to_string(),
                &report.installation_id.to_string(),
                &to_json(report)?,
                &timestamp(self.now),
                &(seq as i64),
                &signature,
                &(signature.is_none() as i64),
                &report.submitted_by.to_string(),
            ],
        )?;
        self.make_user_visible_with(report.submitted_by, report.installation_id)?;
        Ok(seq)
    }
}
