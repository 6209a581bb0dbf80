//! The near window on SQLite: the shared statements
//! ([`crate::storage::near_window`]) with their parameters bound by name.

use chrono::NaiveDate;
use rusqlite::named_params;

use super::SqliteDb;
use crate::storage::near_window::{near_window_page, WindowParams, WindowRows};
use crate::storage::{NearWindowReads, Scope, StorageError, StoredPullPage};

impl WindowRows for SqliteDb<'_> {
    fn window_rows(
        &self,
        sql: &str,
        params: &WindowParams,
    ) -> Result<Vec<(String, i64)>, StorageError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let found = stmt
            .query_map(
                named_params! {
                    ":from": params.from,
                    ":to": params.to,
                    ":n": params.n,
                    ":all": params.all,
                    ":user": params.user,
                },
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(found)
    }
}

impl NearWindowReads for SqliteDb<'_> {
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
