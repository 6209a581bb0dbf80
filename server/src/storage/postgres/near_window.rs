//! The near window on PostgreSQL: the shared statements
//! ([`crate::storage::near_window`]) with their parameters bound by name.

use chrono::NaiveDate;

use super::PgDb;
use crate::storage::near_window::{near_window_page, WindowParams, WindowRows};
use crate::storage::{NearWindowReads, Scope, StorageError, StoredPullPage};

impl WindowRows for PgDb<'_> {
    fn window_rows(
        &self,
        sql: &str,
        params: &WindowParams,
    ) -> Result<Vec<(String, i64)>, StorageError> {
        self.named_rows(
            sql,
            &[
                (":from", &params.from),
                (":to", &params.to),
                (":n", &params.n),
                (":all", &params.all),
                (":user", &params.user),
            ],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }
}

impl NearWindowReads for PgDb<'_> {
    fn near_window(
        &self,
        scope: Scope,
        from: NaiveDate,
        to: NaiveDate,
        limit: u32,
    ) -> Result<StoredPullPage, StorageError> {
        near_window_page(self, scope, from, to, limit)
    }
}
