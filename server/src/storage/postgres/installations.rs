//! Installations and the records they are planned from: leads, surveys,
//! assignments.

use chrono::Datelike;
use fieldbook_domain::{Installation, InstallationAssignment, InstallationId, Lead, Survey};
use fieldbook_protocol::Versioned;
use uuid::Uuid;

use super::rows::{to_json, versioned};
use super::{PgDb, PgTx};
use crate::storage::{InstallationReads, InstallationWrites, StorageError};

impl InstallationReads for PgDb<'_> {
    fn installation(&self, id: Uuid) -> Result<Option<Versioned<Installation>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM installations WHERE id = $1",
            &id.to_string(),
        )
    }

    fn installation_by_human_id(
        &self,
        id: &InstallationId,
    ) -> Result<Option<Versioned<Installation>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM installations WHERE installation_id = $1",
            id.as_str(),
        )
    }

    fn lead(&self, id: Uuid) -> Result<Option<Versioned<Lead>>, StorageError> {
        self.body_by_id("SELECT body, seq FROM leads WHERE id = $1", &id.to_string())
    }

    fn survey(&self, id: Uuid) -> Result<Option<Versioned<Survey>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM surveys WHERE id = $1",
            &id.to_string(),
        )
    }

    fn assignment(
        &self,
        id: Uuid,
    ) -> Result<Option<Versioned<InstallationAssignment>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM assignments WHERE id = $1",
            &id.to_string(),
        )
    }

    fn assignments_of(
        &self,
        installation: Uuid,
    ) -> Result<Vec<Versioned<InstallationAssignment>>, StorageError> {
        self.rows(
            "SELECT body, seq FROM assignments WHERE installation_id = $1 ORDER BY seq",
            &[&installation.to_string()],
        )?
        .into_iter()
        .map(|r| versioned(r.try_get(0)?, r.try_get(1)?))
        .collect()
    }
}

impl InstallationWrites for PgTx<'_> {
    fn save_lead(&mut self, lead: &Lead) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO leads (id, body, seq) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq",
            &[&lead.id.to_string(), &to_json(lead)?, &(seq as i64)],
        )?;
        Ok(seq)
    }

    fn save_survey(&mut self, survey: &Survey) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO surveys (id, lead_id, body, seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq",
            &[
                &survey.id.to_string(),
                &survey.lead_id.to_string(),
                &to_json(survey)?,
                &(seq as i64),
            ],
        )?;
        Ok(seq)
    }

    fn save_installation(&mut self, inst: &Installation) -> Result<u64, StorageError> {
        let before = self.db.stored_installation(inst.id)?;
        self.record_installation_history(before.as_ref(), inst)?;
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO installations \
               (id, installation_id, survey_id, lead_id, status, scheduled_date, created_by, body, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
               scheduled_date = excluded.scheduled_date, body = excluded.body, seq = excluded.seq",
            &[
                &inst.id.to_string(),
                &inst.installation_id.as_str(),
                &inst.survey_id.to_string(),
                &inst.lead_id.to_string(),
                &inst.status.as_str(),
                &inst.scheduled_date.to_string(),
                &inst.created_by.to_string(),
                &to_json(inst)?,
                &(seq as i64),
            ],
        )?;
        // Imported ids (demo seed) must never be handed out again.
        self.db.execute(
            "INSERT INTO installation_id_counters (year, last) VALUES ($1, $2) \
             ON CONFLICT (year) DO UPDATE \
               SET last = GREATEST(installation_id_counters.last, excluded.last)",
            &[
                &i64::from(inst.installation_id.year()),
                &i64::from(inst.installation_id.sequence()),
            ],
        )?;
        Ok(seq)
    }

    fn next_installation_id(&mut self) -> Result<InstallationId, StorageError> {
        let year = self.now.year();
        let n: i64 = self
            .db
            .one(
                "INSERT INTO installation_id_counters (year, last) VALUES ($1, 1) \
                 ON CONFLICT (year) DO UPDATE SET last = installation_id_counters.last + 1 \
                 RETURNING last",
                &[&i64::from(year)],
            )?
            .try_get(0)?;
        InstallationId::new(year, n as u32)
            .map_err(|e| StorageError::Corrupt(format!("installation id counter: {e}")))
    }

    fn save_assignment(&mut self, a: &InstallationAssignment) -> Result<u64, StorageError> {
        let before = self.db.stored_assignment(a.id)?;
        self.record_assignment_history(before.as_ref(), a)?;
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO assignments \
               (id, installation_id, team_id, status, body, seq, assigned_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body, \
               seq = excluded.seq, assigned_by = excluded.assigned_by",
            &[
                &a.id.to_string(),
                &a.installation_id.to_string(),
                &a.team_id.to_string(),
                &a.status.as_str(),
                &to_json(a)?,
                &(seq as i64),
                &a.assigned_by.to_string(),
            ],
        )?;
        Ok(seq)
    }
}
