//! SQL text both backends run unchanged: named parameters (`:cursor`,
//! `:user`, …) that each backend binds its own way, and no function of
//! either dialect except where a caller passes it in (`updated_at`, the
//! expression for a stored body's `updated_at`).

use chrono::NaiveDate;
use fieldbook_protocol::EntityKind;

/// The caller's scope as a condition on an installation id column: ops
/// (`:all = 1`) see everything, a technician the installations assigned
/// (not withdrawn) to one of their teams. Named parameters `:all`, `:user`.
pub(in crate::storage) fn in_scope_sql(installation_col: &str) -> String {
    format!(
        "(:all = 1 OR EXISTS (SELECT 1 FROM assignments sa \
           JOIN team_members sm ON sm.team_id = sa.team_id \
           WHERE sa.installation_id = {installation_col} AND sa.status != 'withdrawn' \
             AND sm.user_id = :user))"
    )
}

fn my_teams() -> &'static str {
    "(SELECT team_id FROM team_members WHERE user_id = :user)"
}

/// The stored `updated_at` of the `installations` row with the given alias,
/// in the backend's dialect (the body is JSON text on SQLite, jsonb-castable
/// text on PostgreSQL).
pub(in crate::storage) type UpdatedAt = fn(alias: &str) -> String;

/// Whether the `installations` row `alias` is retired: closed or cancelled,
/// and last changed before the retention window. The date is a formatted
/// `NaiveDate` (digits and dashes only).
fn retired_sql(alias: &str, date: NaiveDate, updated_at: UpdatedAt) -> String {
    format!(
        "({alias}.status IN ('closed', 'cancelled') AND substr({}, 1, 10) < '{date}')",
        updated_at(alias)
    )
}

/// In scope and not retired: a closed or cancelled installation whose last
/// change is older than the retention window is left out of pulls (with its
/// assignments, lead, survey, report and media), so a first sync does not
/// bring it and devices drop their copy (see `fieldbook_store` retention).
/// For a row of another table that names its installation.
fn kept_sql(
    installation_col: &str,
    retired_before: Option<NaiveDate>,
    updated_at: UpdatedAt,
) -> String {
    let scope = in_scope_sql(installation_col);
    match retired_before {
        None => scope,
        Some(date) => format!(
            "({scope} AND NOT EXISTS (SELECT 1 FROM installations ri WHERE ri.id = {installation_col} \
               AND {}))",
            retired_sql("ri", date, updated_at)
        ),
    }
}

/// [`kept_sql`] for a row of `installations` itself (`alias`): its own
/// status and body say whether it is retired. Looking the same row up again
/// by its id cost every pulled installation, lead and survey a second
/// primary-key search.
fn kept_installation_sql(
    alias: &str,
    retired_before: Option<NaiveDate>,
    updated_at: UpdatedAt,
) -> String {
    let scope = in_scope_sql(&format!("{alias}.id"));
    match retired_before {
        None => scope,
        Some(date) => format!("({scope} AND NOT {})", retired_sql(alias, date, updated_at)),
    }
}

pub(in crate::storage) fn row_queries(
    retired_before: Option<NaiveDate>,
    updated_at: UpdatedAt,
) -> Vec<(EntityKind, String)> {
    let inst = in_scope_sql;
    let kept = |col: &str| kept_sql(col, retired_before, updated_at);
    let kept_installation = |alias: &str| kept_installation_sql(alias, retired_before, updated_at);
    vec![
        (
            EntityKind::Installation,
            format!(
                "SELECT i.seq, i.body FROM installations i WHERE i.seq > :cursor AND i.seq <= :upper AND {} \
                 ORDER BY i.seq LIMIT :n",
                kept_installation("i")
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
                kept_installation("li")
            ),
        ),
        (
            EntityKind::Survey,
            format!(
                "SELECT s.seq, s.body FROM surveys s WHERE s.seq > :cursor AND s.seq <= :upper AND (:all = 1 OR EXISTS \
                 (SELECT 1 FROM installations si WHERE si.survey_id = s.id AND {})) \
                 ORDER BY s.seq LIMIT :n",
                kept_installation("si")
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

pub(in crate::storage) fn team_query() -> String {
    format!(
        "SELECT t.seq, t.id FROM teams t WHERE t.seq > :cursor AND t.seq <= :upper AND (:all = 1 OR t.id IN {}) \
         ORDER BY t.seq LIMIT :n",
        my_teams()
    )
}

pub(in crate::storage) fn report_query(
    retired_before: Option<NaiveDate>,
    updated_at: UpdatedAt,
) -> String {
    format!(
        "SELECT r.seq, r.body, r.received_at FROM reports r WHERE r.seq > :cursor AND r.seq <= :upper AND {} \
         ORDER BY r.seq LIMIT :n",
        kept_sql("r.installation_id", retired_before, updated_at)
    )
}

/// The caller's own held work (technicians only: it is about their
/// devices' outboxes).
pub(in crate::storage) fn held_work_query() -> &'static str {
    "SELECT h.seq, h.id FROM held_work h WHERE h.seq > :cursor AND h.seq <= :upper AND :all = 0 \
     AND h.submitted_by = :user ORDER BY h.seq LIMIT :n"
}

/// Tombstones the caller should apply: deletions of records in scope, and
/// "left scope" for their teams (or for them alone, when they left a team)
/// unless the record is still visible to them (through another team, or
/// because it came back).
pub(in crate::storage) fn tombstone_query() -> String {
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
