//! The pull query: changes after a cursor, in the caller's scope, one page.
//!
//! Every table is read for at most `limit + 1` rows after the cursor (in
//! scope, oldest first), the candidates are merged by sequence and cut at
//! `limit`. If nothing was cut, every table was read to its end, so the page
//! is the last one and the next cursor is the snapshot's highest sequence
//! (skipping changes the caller may not see). All of it runs on one snapshot.

use chrono::NaiveDate;
use fieldbook_domain::Sha256Hex;
use fieldbook_protocol::{EntityKind, Tombstone, TombstoneReason};
use rusqlite::named_params;

use super::rows::parse_uuid;
use super::SqliteDb;
use crate::storage::pull::{pull_page, Candidate, PullWindows};
use crate::storage::shared_sql::{
    held_work_query, report_query, row_queries, team_query, tombstone_query,
};
use crate::storage::{PullReads, Scope, StorageError, StoredPullPage};

/// The stored `updated_at` of an installations row (the shared pull SQL's
/// retention test).
fn updated_at(alias: &str) -> String {
    format!("json_extract({alias}.body, '$.updated_at')")
}

impl PullReads for SqliteDb<'_> {
    fn raw_installation_scan(&self) -> Result<usize, StorageError> {
        let mut stmt = self.conn.prepare("SELECT body FROM installations")?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let body: String = row.get(0)?;
            n += usize::from(!body.is_empty());
        }
        Ok(n)
    }

    fn pull_within(
        &self,
        scope: Scope,
        cursor: u64,
        limit: u32,
        max_bytes: usize,
        retired_before: Option<NaiveDate>,
        blob_available: &dyn Fn(&Sha256Hex) -> bool,
    ) -> Result<StoredPullPage, StorageError> {
        pull_page(
            self,
            scope,
            cursor,
            limit,
            max_bytes,
            retired_before,
            blob_available,
        )
    }
}

impl PullWindows for SqliteDb<'_> {
    fn check_cancelled(&self) -> Result<(), StorageError> {
        self.cancel.map_or(Ok(()), |cancel| cancel.check())
    }

    fn read_window(
        &self,
        scope: Scope,
        after: u64,
        upper: u64,
        n: usize,
        retired_before: Option<NaiveDate>,
        out: &mut Vec<(u64, Candidate)>,
    ) -> Result<(), StorageError> {
        let user = scope.user_id.to_string();
        let params = named_params! {
            ":cursor": after as i64,
            ":upper": upper as i64,
            ":n": n as i64,
            ":all": scope.everything as i64,
            ":user": user,
        };
        let candidates = out;
        for (kind, sql) in row_queries(retired_before, updated_at) {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params, |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (seq, body) = row?;
                candidates.push((seq, Candidate::Row { kind, body }));
            }
        }
        {
            let mut stmt = self.conn.prepare_cached(&team_query())?;
            let rows = stmt.query_map(params, |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (seq, id) = row?;
                candidates.push((seq, Candidate::Team { id }));
            }
        }
        {
            let mut stmt = self
                .conn
                .prepare_cached(&report_query(retired_before, updated_at))?;
            let rows = stmt.query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (seq, body, received_at) = row?;
                candidates.push((seq, Candidate::Report { body, received_at }));
            }
        }
        {
            let mut stmt = self.conn.prepare_cached(held_work_query())?;
            let rows = stmt.query_map(params, |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (seq, id) = row?;
                candidates.push((seq, Candidate::HeldWork { id }));
            }
        }
        {
            // Templates are for everyone: no scope parameters.
            let mut stmt = self.conn.prepare_cached(
                "SELECT seq, body FROM report_templates WHERE seq > :cursor AND seq <= :upper ORDER BY seq LIMIT :n",
            )?;
            let template_params = named_params! {
                ":cursor": after as i64,
                ":upper": upper as i64,
                ":n": n as i64,
            };
            let rows = stmt.query_map(template_params, |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (seq, body) = row?;
                candidates.push((seq, Candidate::Template { body }));
            }
        }
        {
            let mut stmt = self.conn.prepare_cached(&tombstone_query())?;
            let rows = stmt.query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (seq, entity, id, reason) = row?;
                let entity = EntityKind::parse(&entity)
                    .ok_or_else(|| StorageError::Corrupt(format!("tombstone entity {entity}")))?;
                let reason = match reason.as_str() {
                    "deleted" => TombstoneReason::Deleted,
                    _ => TombstoneReason::LeftScope,
                };
                candidates.push((
                    seq,
                    Candidate::Tombstone(Tombstone {
                        entity,
                        id: parse_uuid(&id)?,
                        reason,
                        version: seq,
                    }),
                ));
            }
        }

        Ok(())
    }
}
