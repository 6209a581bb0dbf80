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
use super::scope::in_scope_sql;
use super::PgDb;
use crate::storage::pull::{pull_page, Candidate, PullWindows};
use crate::storage::{PullReads, Scope, StorageError, StoredPullPage};

fn my_teams() -> &'static str {
    "(SELECT team_id FROM team_members WHERE user_id = :user)"
}

/// In scope and not retired: a closed or cancelled installation whose last
/// change is older than the retention window is left out of pulls (with its
/// assignments, lead, survey, report and media), so a first sync does not
/// bring it and devices drop their copy (see `fieldbook_store` retention).
/// The date is a formatted `NaiveDate` (digits and dashes only).
fn kept_sql(installation_col: &str, retired_before: Option<NaiveDate>) -> String {
    let scope = in_scope_sql(installation_col);
    match retired_before {
        None => scope,
        Some(date) => format!(
            "({scope} AND NOT EXISTS (SELECT 1 FROM installations ri WHERE ri.id = {installation_col} \
               AND ri.status IN ('closed', 'cancelled') \
               AND substr(ri.body::jsonb ->> 'updated_at', 1, 10) < '{date}'))"
        ),
    }
}

fn row_queries(retired_before: Option<NaiveDate>) -> Vec<(EntityKind, String)> {
    let inst = in_scope_sql;
    let kept = |col: &str| kept_sql(col, retired_before);
    vec![
        (
            EntityKind::Installation,
            format!(
                "SELECT i.seq, i.body FROM installations i WHERE i.seq > :cursor AND i.seq <= :upper AND {} \
                 ORDER BY i.seq LIMIT :n",
                kept("i.id")
            ),
        ),
        (
            EntityKind::Assignment,
            format!(
                "SELECT a.seq, a.body FROM assignments a WHERE a.seq > :cursor AND a.seq <= :upper \
                 AND (:all = 1 OR a.team_id IN {}) AND {} ORDER BY a.seq LIMIT :n",
                my_teams(),
                kept("a.installation_id")
            ),
        ),
        (
            EntityKind::Lead,
            format!(
                "SELECT l.seq, l.body FROM leads l WHERE l.seq > :cursor AND l.seq <= :upper AND (:all = 1 OR EXISTS \
                 (SELECT 1 FROM installations li WHERE li.lead_id = l.id AND {})) \
                 ORDER BY l.seq LIMIT :n",
                kept("li.id")
            ),
        ),
        (
            EntityKind::Survey,
            format!(
                "SELECT s.seq, s.body FROM surveys s WHERE s.seq > :cursor AND s.seq <= :upper AND (:all = 1 OR EXISTS \
                 (SELECT 1 FROM installations si WHERE si.survey_id = s.id AND {})) \
                 ORDER BY s.seq LIMIT :n",
                kept("si.id")
            ),
        ),
        // Themselves, their team-mates, and every user an in-scope record
        // names (so no id on the device dangles). The writes that make a
        // user newly named give the user's row a new version.
        (
            EntityKind::User,
            format!(
                "SELECT u.seq, u.body FROM users u WHERE u.seq > :cursor AND u.seq <= :upper AND (:all = 1 \
                 OR u.id = :user \
                 OR u.id IN (SELECT tm.user_id FROM team_members tm WHERE tm.team_id IN {teams}) \
                 OR EXISTS (SELECT 1 FROM installations ui \
                   WHERE ui.created_by = u.id AND {created_scope}) \
                 OR EXISTS (SELECT 1 FROM assignments ua \
                   WHERE ua.assigned_by = u.id AND ua.team_id IN {teams} AND {assigned_scope}) \
                 OR EXISTS (SELECT 1 FROM reports ur \
                   WHERE ur.submitted_by = u.id AND {submitted_scope}) \
                 OR EXISTS (SELECT 1 FROM media um \
                   WHERE um.uploaded_by = u.id AND {uploaded_scope})) \
                 ORDER BY u.seq LIMIT :n",
                teams = my_teams(),
                created_scope = inst("ui.id"),
                assigned_scope = inst("ua.installation_id"),
                submitted_scope = inst("ur.installation_id"),
                uploaded_scope = inst("um.installation_id"),
            ),
        ),
        (
            EntityKind::Media,
            format!(
                "SELECT m.seq, m.body FROM media m WHERE m.seq > :cursor AND m.seq <= :upper AND {} \
                 ORDER BY m.seq LIMIT :n",
                kept("m.installation_id")
            ),
        ),
    ]
}

fn team_query() -> String {
    format!(
        "SELECT t.seq, t.id FROM teams t WHERE t.seq > :cursor AND t.seq <= :upper AND (:all = 1 OR t.id IN {}) \
         ORDER BY t.seq LIMIT :n",
        my_teams()
    )
}

fn report_query(retired_before: Option<NaiveDate>) -> String {
    format!(
        "SELECT r.seq, r.body, r.received_at FROM reports r WHERE r.seq > :cursor AND r.seq <= :upper AND {} \
         ORDER BY r.seq LIMIT :n",
        kept_sql("r.installation_id", retired_before)
    )
}

/// The caller's own held work (technicians only: it is about their
/// devices' outboxes).
fn held_work_query() -> &'static str {
    "SELECT h.seq, h.id FROM held_work h WHERE h.seq > :cursor AND h.seq <= :upper AND :all = 0 \
     AND h.submitted_by = :user ORDER BY h.seq LIMIT :n"
}

/// Tombstones the caller should apply: deletions of records in scope, and
/// "left scope" for their teams (or for them alone, when they left a team)
/// unless the record is still visible to them (through another team, or
/// because it came back).
fn tombstone_query() -> String {
    let inst = in_scope_sql;
    format!(
        "SELECT t.seq, t.entity, t.entity_id, t.reason FROM tombstones t WHERE t.seq > :cursor AND t.seq <= :upper AND ( \
           (t.reason = 'deleted' AND {deleted_scope}) \
           OR (t.reason = 'left_scope' AND :all = 0 \
             AND (t.team_id IN {teams} OR t.user_id = :user) AND NOT (CASE t.entity \
             WHEN 'team' THEN t.entity_id IN {teams} \
             WHEN 'lead' THEN EXISTS (SELECT 1 FROM installations li \
               WHERE li.lead_id = t.entity_id AND {lead_scope}) \
             WHEN 'survey' THEN EXISTS (SELECT 1 FROM installations si \
               WHERE si.survey_id = t.entity_id AND {survey_scope}) \
             WHEN 'assignment' THEN (EXISTS (SELECT 1 FROM assignments ta \
               WHERE ta.id = t.entity_id AND ta.team_id IN {teams}) AND {inst_scope}) \
             ELSE {inst_scope} END))) \
         ORDER BY t.seq LIMIT :n",
        deleted_scope = inst("t.installation_id"),
        teams = my_teams(),
        lead_scope = inst("li.id"),
        survey_scope = inst("si.id"),
        inst_scope = inst("t.installation_id"),
    )
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
        for (kind, sql) in row_queries(retired_before) {
            for r in self.named_rows(&sql, params)? {
                let body = r.try_get(1)?;
                candidates.push((seq(&r)?, Candidate::Row { kind, body }));
            }
        }
        for r in self.named_rows(&team_query(), params)? {
            candidates.push((seq(&r)?, Candidate::Team { id: r.try_get(1)? }));
        }
        for r in self.named_rows(&report_query(retired_before), params)? {
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
