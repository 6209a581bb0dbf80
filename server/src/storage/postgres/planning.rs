//! Planning: approved surveys that have no installation yet.

use super::rows::versioned;
use super::PgDb;
use crate::storage::{PlanningReads, StorageError, SurveyWithLead};

impl PlanningReads for PgDb<'_> {
    fn unplanned_surveys(&self, limit: u32) -> Result<Vec<SurveyWithLead>, StorageError> {
        // NULLS FIRST: SQLite's order of a missing approval time.
        self.rows(
            "SELECT s.body, s.seq, l.body, l.seq FROM surveys s JOIN leads l ON l.id = s.lead_id \
             WHERE NOT EXISTS (SELECT 1 FROM installations i WHERE i.survey_id = s.id) \
             ORDER BY (s.body::jsonb ->> 'approved_at') COLLATE \"C\" NULLS FIRST, s.id LIMIT $1",
            &[&i64::from(limit)],
        )?
        .into_iter()
        .map(|r| {
            Ok((
                versioned(r.try_get(0)?, r.try_get(1)?)?,
                versioned(r.try_get(2)?, r.try_get(3)?)?,
            ))
        })
        .collect()
    }

    fn survey_is_planned(&self, survey_id: uuid::Uuid) -> Result<bool, StorageError> {
        Ok(self
            .one(
                "SELECT EXISTS (SELECT 1 FROM installations WHERE survey_id = $1)",
                &[&survey_id.to_string()],
            )?
            .try_get(0)?)
    }
}
