//! The near window: the caller's installations scheduled in a few days
//! around today, with what a schedule row needs (assignments, leads,
//! surveys, teams, users), read on one snapshot.
//!
//! A device signing in for the first time asks for it before its full pull,
//! so today's jobs are on screen within a second or two even when the team
//! has 10,000 installations. It is not a page of the change feed: it does not
//! move the device's cursor, and everything in it comes again (same or newer
//! version) in the full pull from zero that follows. Reports and media are
//! left to that pull.

use chrono::NaiveDate;
use fieldbook_protocol::PullPage;

use super::rows::{parse_uuid, versioned};
use super::scope::in_scope_sql;
use super::PgDb;
use crate::storage::{NearWindowReads, Scope, StorageError, UserReads, VersionReads};

/// The window's installations (at most `:n`), as a CTE every read below
/// starts from, so all of them see the same rows on the one snapshot.
fn window_cte() -> String {
    format!(
        "WITH w AS (SELECT i.id, i.lead_id, i.survey_id, i.created_by FROM installations i \
         WHERE i.scheduled_date BETWEEN :from AND :to AND {} \
         ORDER BY i.scheduled_date, i.id LIMIT :n) ",
        in_scope_sql("i.id")
    )
}

fn my_teams() -> &'static str {
    "(SELECT team_id FROM team_members WHERE user_id = :user)"
}

impl NearWindowReads for PgDb<'_> {
    fn near_window(
        &self,
        scope: Scope,
        from: NaiveDate,
        to: NaiveDate,
        limit: u32,
    ) -> Result<PullPage, StorageError> {
        let limit = i64::from(limit.max(1));
        let user = scope.user_id.to_string();
        let from = from.to_string();
        let to = to.to_string();
        let rows = |sql: &str, n: i64| -> Result<Vec<(String, i64)>, StorageError> {
            self.named_rows(
                &format!("{}{sql}", window_cte()),
                &[
                    (":from", &from),
                    (":to", &to),
                    (":n", &n),
                    (":all", &(scope.everything as i64)),
                    (":user", &user),
                ],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        };
        // One more than asked: tells whether the window holds more.
        let mut installations = rows(
            "SELECT i.body, i.seq FROM installations i JOIN w ON w.id = i.id \
             ORDER BY i.scheduled_date, i.id",
            limit + 1,
        )?;
        let has_more = installations.len() as i64 > limit;
        installations.truncate(limit as usize);
        let mut page = PullPage {
            cursor: 0,
            next_cursor: self.change_seq()?,
            has_more,
            ..PullPage::default()
        };
        for (body, seq) in installations {
            page.installations.push(versioned(body, seq)?);
        }
        for (body, seq) in rows(
            &format!(
                "SELECT a.body, a.seq FROM assignments a JOIN w ON w.id = a.installation_id \
                 WHERE :all = 1 OR a.team_id IN {}",
                my_teams()
            ),
            limit,
        )? {
            page.assignments.push(versioned(body, seq)?);
        }
        for (body, seq) in rows(
            "SELECT l.body, l.seq FROM leads l WHERE l.id IN (SELECT lead_id FROM w)",
            limit,
        )? {
            page.leads.push(versioned(body, seq)?);
        }
        for (body, seq) in rows(
            "SELECT s.body, s.seq FROM surveys s WHERE s.id IN (SELECT survey_id FROM w)",
            limit,
        )? {
            page.surveys.push(versioned(body, seq)?);
        }
        // Themselves, their team-mates, and whoever created or assigned a
        // job in the window (so no id on the device dangles).
        for (body, seq) in rows(
            &format!(
                "SELECT u.body, u.seq FROM users u WHERE u.id = :user \
                 OR u.id IN (SELECT tm.user_id FROM team_members tm WHERE tm.team_id IN {teams}) \
                 OR u.id IN (SELECT created_by FROM w) \
                 OR u.id IN (SELECT a.assigned_by FROM assignments a JOIN w ON w.id = a.installation_id \
                   WHERE :all = 1 OR a.team_id IN {teams})",
                teams = my_teams()
            ),
            limit,
        )? {
            page.users.push(versioned(body, seq)?);
        }
        // The caller's teams, and (for ops) the teams the window's jobs are assigned to.
        for (id, _) in rows(
            &format!(
                "SELECT t.id, t.seq FROM teams t WHERE t.id IN {teams} \
                 OR (:all = 1 AND t.id IN (SELECT a.team_id FROM assignments a \
                   JOIN w ON w.id = a.installation_id))",
                teams = my_teams()
            ),
            limit,
        )? {
            if let Some(team) = self.team(parse_uuid(&id)?)? {
                page.teams.push(team);
            }
        }
        Ok(page)
    }
}
