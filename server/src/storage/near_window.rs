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
//!
//! Both backends run the same SQL ([`near_window_page`]); records go out as
//! stored, like the pull's ([`super::StoredRecord`]).

use super::pull::{parse_uuid, stored_record};
use super::shared_sql::in_scope_sql;
use super::{Scope, StorageError, StoredPullPage, UserReads, VersionReads};
use chrono::NaiveDate;

pub trait NearWindowReads {
    /// The caller's installations scheduled from `from` to `to` (inclusive),
    /// soonest first, at most `limit`, with their assignments (to the
    /// caller's teams), leads, surveys, the caller's teams and every user
    /// those records name. `has_more` says the window held more than
    /// `limit` installations; `next_cursor` is the snapshot's last change
    /// sequence (for the log only: the device keeps its own cursor).
    fn near_window(
        &self,
        scope: Scope,
        from: NaiveDate,
        to: NaiveDate,
        limit: u32,
    ) -> Result<StoredPullPage, StorageError>;
}

/// The named parameters of every statement of the window.
pub(super) struct WindowParams {
    pub from: String,
    pub to: String,
    /// Installations the window holds at most.
    pub n: i64,
    /// 1 for Central Ops (everything), 0 for a technician.
    pub all: i64,
    pub user: String,
}

/// A backend's run of one statement of [`near_window_page`].
pub(super) trait WindowRows: UserReads + VersionReads {
    /// Runs `sql` with `params` bound by name; returns each row's first
    /// column (text) and second (an integer).
    fn window_rows(
        &self,
        sql: &str,
        params: &WindowParams,
    ) -> Result<Vec<(String, i64)>, StorageError>;
}

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

/// [`NearWindowReads::near_window`] for every backend. Most of its time is
/// reading the bodies, by id (about 4,000 for a full window); one
/// statement for all kinds, finding the window once instead of once per
/// kind, measured no faster.
pub(super) fn near_window_page(
    db: &(impl WindowRows + ?Sized),
    scope: Scope,
    from: NaiveDate,
    to: NaiveDate,
    limit: u32,
) -> Result<StoredPullPage, StorageError> {
    let limit = i64::from(limit.max(1));
    let params = |n| WindowParams {
        from: from.to_string(),
        to: to.to_string(),
        n,
        all: scope.everything as i64,
        user: scope.user_id.to_string(),
    };
    let window = params(limit);
    let rows = |sql: &str, params: &WindowParams| -> Result<Vec<(String, i64)>, StorageError> {
        db.window_rows(&format!("{}{sql}", window_cte()), params)
    };
    let stored = |found: Vec<(String, i64)>| {
        found
            .into_iter()
            .map(|(body, seq)| stored_record(seq as u64, body))
            .collect::<Result<Vec<_>, _>>()
    };
    // One more than asked: tells whether the window holds more.
    let mut installations = rows(
        "SELECT i.body, i.seq FROM installations i JOIN w ON w.id = i.id \
         ORDER BY i.scheduled_date, i.id",
        &params(limit + 1),
    )?;
    let has_more = installations.len() as i64 > limit;
    installations.truncate(limit as usize);
    let mut page = StoredPullPage {
        cursor: 0,
        next_cursor: db.change_seq()?,
        has_more,
        ..StoredPullPage::default()
    };
    page.installations = stored(installations)?;
    page.assignments = stored(rows(
        &format!(
            "SELECT a.body, a.seq FROM assignments a JOIN w ON w.id = a.installation_id \
             WHERE :all = 1 OR a.team_id IN {}",
            my_teams()
        ),
        &window,
    )?)?;
    page.leads = stored(rows(
        "SELECT l.body, l.seq FROM leads l WHERE l.id IN (SELECT lead_id FROM w)",
        &window,
    )?)?;
    page.surveys = stored(rows(
        "SELECT s.body, s.seq FROM surveys s WHERE s.id IN (SELECT survey_id FROM w)",
        &window,
    )?)?;
    // Themselves, their team-mates, and whoever created or assigned a
    // job in the window (so no id on the device dangles).
    page.users = stored(rows(
        &format!(
            "SELECT u.body, u.seq FROM users u WHERE u.id = :user \
             OR u.id IN (SELECT tm.user_id FROM team_members tm WHERE tm.team_id IN {teams}) \
             OR u.id IN (SELECT created_by FROM w) \
             OR u.id IN (SELECT a.assigned_by FROM assignments a JOIN w ON w.id = a.installation_id \
               WHERE :all = 1 OR a.team_id IN {teams})",
            teams = my_teams()
        ),
        &window,
    )?)?;
    // The caller's teams, and (for ops) the teams the window's jobs are
    // assigned to.
    for (id, _) in rows(
        &format!(
            "SELECT t.id, t.seq FROM teams t WHERE t.id IN {teams} \
             OR (:all = 1 AND t.id IN (SELECT a.team_id FROM assignments a \
               JOIN w ON w.id = a.installation_id))",
            teams = my_teams()
        ),
        &window,
    )? {
        if let Some(team) = db.team(parse_uuid(&id)?)? {
            page.teams.push(team);
        }
    }
    Ok(page)
}
