//! Planning: approved surveys that have no installation yet.

use super::rows::versioned;
use super::SqliteDb;
use crate::storage::{PlanningReads, StorageError, SurveyWithLead};

impl PlanningReads for SqliteDb<'_> {
    fn unplanned_surveys(&self, limit: u32) -> Result<Vec<SurveyWithLead>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.body, s.seq, l.body, l.seq FROM surveys s JOIN leads l ON l.id = s.lead_id \
             WHERE NOT EXISTS (SELECT 1 FROM installations i WHERE i.survey_id = s.id) \
             ORDER BY json_extract(s.body, '$.approved_at'), s.id LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(s, s_seq, l, l_seq)| Ok((versioned(s, s_seq)?, versioned(l, l_seq)?)))
            .collect()
    }

    fn survey_is_planned(&self, survey_id: uuid::Uuid) -> Result<bool, StorageError> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM installations WHERE survey_id = ?1)")?
            .query_row([survey_id.to_string()], |r| r.get(0))?)
    }
}
