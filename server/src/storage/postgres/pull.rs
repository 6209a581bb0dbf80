//! The pull query: changes after a cursor, in the caller's scope, one page.
//!
//! Every table is read for at most `limit + 1` rows after the cursor (in
//! scope, oldest first), the candidates are merged by sequence and cut at
//! `limit`. If nothing was cut, every table was read to its end, so the page
//! is the last one and the next cursor is the snapshot's highest sequence
//! (skipping changes the caller may not see). All of it runs on one snapshot,
//! whose "highest sequence" is its safe watermark (`change_seq`): with
//! concurrent writers, no change at or below it can commit later.

use chrono::NaiveDate;
use fieldbook_domain::Sha256Hex;
use fieldbook_protocol::{EntityKind, Tombstone, TombstoneReason};

use tokio_postgres::Row;

use super::rows::parse_uuid;
use super::rows::Param;
use super::PgDb;
use crate::storage::pull::{pull_page, Candidate, PullWindows};
use crate::storage::shared_sql::{
    held_work_query, report_query, row_queries, team_query, tombstone_query,
};
use crate::storage::{PullReads, Scope, StorageError, StoredPullPage};

/// The stored `updated_at` of an installations row (the shared pull SQL's
/// retention test).
fn updated_at(alias: &str) -> String {
    format!("{alias}.body::jsonb ->> 'updated_at'")
}

impl PullReads for PgDb<'_> {
    fn raw_installation_scan(&self) -> Result<usize, StorageError> {
        let mut n = 0;
        for row in self.rows("SELECT body FROM installations", &[])? {
            let body: String = row.try_get(0)?;
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

impl PullWindows for PgDb<'_> {
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
        let (after, upper, n, all) = (
            after as i64,
            upper as i64,
            n as i64,
            scope.everything as i64,
        );
        let params: &[(&str, &dyn Param)] = &[
            (":cursor", &after),
            (":upper", &upper),
            (":n", &n),
            (":all", &all),
            (":user", &user),
        ];
        let seq = |r: &Row| Ok::<_, StorageError>(r.try_get::<_, i64>(0)? as u64);
        let candidates = out;
        for (kind, sql) in row_queries(retired_before, updated_at) {
            for r in self.named_rows(&sql, params)? {
                let body = r.try_get(1)?;
                candidates.push((seq(&r)?, Candidate::Row { kind, body }));
            }
        }
        for r in self.named_rows(&team_query(), params)? {
            candidates.push((seq(&r)?, Candidate::Team { id: r.try_get(1)? }));
        }
        for r in self.named_rows(&report_query(retired_before, updated_at), params)? {
            candidates.push((
                seq(&r)?,
                Candidate::Report {
                    body: r.try_get(1)?,
                    received_at: r.try_get(2)?,
                },
            ));
        }
        for r in self.named_rows(held_work_query(), params)? {
            candidates.push((seq(&r)?, Candidate::HeldWork { id: r.try_get(1)? }));
        }
        // Templates are for everyone: no scope parameters.
        for r in self.named_rows(
            "SELECT seq, body FROM report_templates WHERE seq > :cursor AND seq <= :upper ORDER BY seq LIMIT :n",
            &params[..3],
        )? {
            candidates.push((seq(&r)?, Candidate::Template { body: r.try_get(1)? }));
        }
        for r in self.named_rows(&tombstone_query(), params)? {
            let (entity, id, reason): (String, String, String) =
                (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let seq = seq(&r)?;
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

        Ok(())
    }
}
