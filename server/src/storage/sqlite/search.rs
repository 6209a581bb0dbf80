//! Finding the caller's jobs by customer name, postcode or `INS-` number,
//! on the server: the way to reach jobs that left devices by retention.

use fieldbook_protocol::{FoundInstallation, MAX_SEARCH_RESULTS};
use rusqlite::named_params;

use super::rows::versioned;
use super::scope::in_scope_sql;
use super::SqliteDb;
use crate::storage::{Scope, SearchReads, StorageError};

impl SearchReads for SqliteDb<'_> {
    fn search_installations(
        &self,
        scope: Scope,
        text: &str,
    ) -> Result<Vec<FoundInstallation>, StorageError> {
        let sql = format!(
            "SELECT i.body, i.seq, l.body, l.seq FROM installations i JOIN leads l ON l.id = i.lead_id \
             WHERE {} AND (instr(lower(i.installation_id), :q) > 0 \
               OR instr(lower(json_extract(l.body, '$.customer_name')), :q) > 0 \
               OR instr(lower(replace(json_extract(l.body, '$.postcode'), ' ', '')), replace(:q, ' ', '')) > 0) \
             ORDER BY i.scheduled_date DESC, i.installation_id LIMIT :n",
            in_scope_sql("i.id")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(
                named_params! {
                    ":q": text.trim().to_lowercase(),
                    ":n": MAX_SEARCH_RESULTS as i64,
                    ":all": scope.everything as i64,
                    ":user": scope.user_id.to_string(),
                },
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?
            .collect::<Result<Vec<(String, i64, String, i64)>, _>>()?;
        rows.into_iter()
            .map(|(body, seq, lead, lead_seq)| {
                Ok(FoundInstallation {
                    installation: versioned(body, seq)?,
                    lead: versioned(lead, lead_seq)?,
                })
            })
            .collect()
    }
}
