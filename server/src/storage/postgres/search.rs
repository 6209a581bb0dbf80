//! Finding the caller's jobs by customer name, postcode or `INS-` number,
//! on the server: the way to reach jobs that left devices by retention.

use fieldbook_protocol::{FoundInstallation, MAX_SEARCH_RESULTS};

use super::rows::versioned;
use super::scope::in_scope_sql;
use super::PgDb;
use crate::storage::{Scope, SearchReads, StorageError};

impl SearchReads for PgDb<'_> {
    fn search_installations(
        &self,
        scope: Scope,
        text: &str,
    ) -> Result<Vec<FoundInstallation>, StorageError> {
        let sql = format!(
            "SELECT i.body, i.seq, l.body, l.seq FROM installations i JOIN leads l ON l.id = i.lead_id \
             WHERE {} AND (strpos(lower(i.installation_id), :q) > 0 \
               OR strpos(lower(l.body::jsonb ->> 'customer_name'), :q) > 0 \
               OR strpos(lower(replace(l.body::jsonb ->> 'postcode', ' ', '')), replace(:q, ' ', '')) > 0) \
             ORDER BY i.scheduled_date DESC, i.installation_id LIMIT :n",
            in_scope_sql("i.id")
        );
        let rows = self.named_rows(
            &sql,
            &[
                (":q", &text.trim().to_lowercase()),
                (":n", &(MAX_SEARCH_RESULTS as i64)),
                (":all", &(scope.everything as i64)),
                (":user", &scope.user_id.to_string()),
            ],
        )?;
        rows.into_iter()
            .map(|r| {
                Ok(FoundInstallation {
                    installation: versioned(r.try_get(0)?, r.try_get(1)?)?,
                    lead: versioned(r.try_get(2)?, r.try_get(3)?)?,
                })
            })
            .collect()
    }
}
