//! What the installation list and the installation screen read: the
//! list/search the day view runs and everything the detail screen shows.
//! Reads only; uses rows and the search index.

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_domain::lifecycle;
use fieldbook_domain::{
    AssignmentStatus, Installation, InstallationAssignment, InstallationId, InstallationMedia,
    InstallationReport, InstallationStatus, Lead, ReportCheck, ReportDraft, ReportTemplate,
    Sha256Hex, Survey, Team, TechnicianActions, TimeSlot,
};
use rusqlite::params_from_iter;
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{date, get_choice, get_date, get_parsed, get_uuid, to_json};
use crate::error::Result;
use crate::rows::{
    assignments, deferred_indexes, held_work, installations, leads, media, outbox, people, reports,
    session, templates,
};
use crate::search::{fold, SearchIndex};
use crate::Store;

/// What the installation list shows. Empty text filter, no dates and no
/// statuses list everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InstallationQuery {
    /// First scheduled date included.
    pub from_date: Option<NaiveDate>,
    /// Last scheduled date included.
    pub to_date: Option<NaiveDate>,
    /// Any of these statuses; empty means all.
    pub statuses: Vec<InstallationStatus>,
    /// Words that must all appear (case-insensitive) in the customer name,
    /// address, postcode or installation id.
    pub text: String,
    pub limit: u32,
    pub offset: u32,
}

impl Default for InstallationQuery {
    fn default() -> Self {
        Self {
            from_date: None,
            to_date: None,
            statuses: Vec::new(),
            text: String::new(),
            limit: 200,
            offset: 0,
        }
    }
}

/// One row of the installation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InstallationSummary {
    pub id: Uuid,
    pub installation_id: InstallationId,
    pub scheduled_date: NaiveDate,
    pub scheduled_time_slot: TimeSlot,
    pub status: InstallationStatus,
    pub material_ready: bool,
    pub customer_confirmed: bool,
    pub demo_completed: bool,
    /// Empty until the lead has synced.
    pub customer_name: String,
    pub address_line1: String,
    pub address_line2: String,
    pub city: String,
    pub postcode: String,
    pub phone: String,
    /// Status of the signed-in user's team's assignment (else the primary one).
    pub assignment_status: Option<AssignmentStatus>,
    /// Local changes not yet acknowledged by the server.
    pub has_pending_changes: bool,
    /// The job left this device's scope (reassigned, or the assignment
    /// withdrawn) and is kept only because it holds work the server has not
    /// received; see [`InstallationDetail::left_scope_at`].
    pub left_scope: bool,
    /// Another device's report won over this device's draft, which is kept
    /// for the technician to look at; see
    /// [`InstallationDetail::report_draft_superseded_by`].
    pub draft_superseded: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AssignmentWithTeam {
    pub assignment: InstallationAssignment,
    pub server_version: i64,
    /// `None` until the team has synced.
    pub team: Option<Team>,
    /// The team is one of the signed-in user's teams.
    pub is_mine: bool,
}

/// Everything the installation screen shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InstallationDetail {
    pub installation: Installation,
    pub server_version: i64,
    pub lead: Option<Lead>,
    pub survey: Option<Survey>,
    pub assignments: Vec<AssignmentWithTeam>,
    pub report_draft: Option<ReportDraft>,
    pub report: Option<InstallationReport>,
    pub media: Vec<InstallationMedia>,
    /// Outbox entries for this installation (pending or needing attention).
    pub pending_changes: u64,
    /// When the server said this job left this device's scope; it is kept
    /// because it holds work the server has not received yet, or work the
    /// server holds for Central Ops (`held_work`). `None` while in scope.
    pub left_scope_at: Option<DateTime<Utc>>,
    /// The server version of the submitted report once the server accepted
    /// it; `None` before (or when there is no report).
    pub report_server_version: Option<i64>,
    /// Where the submitted report's signature PNG is; `None` without a
    /// signed report.
    pub report_signature_file: Option<crate::rows::FileAvailability>,
    /// Set when another device's report won (the server keeps one per
    /// installation): `report_draft` is then what this device had typed,
    /// kept read-only until the technician dismisses it, and `report` is the
    /// one that won.
    pub report_draft_superseded_by: Option<Uuid>,
    /// Where each photo's / video's file is, in the order of `media`.
    pub media_files: Vec<crate::rows::media::MediaAvailability>,
    /// Work the server received after the job left this device's scope and
    /// holds for Central Ops: "received, waiting for Central Ops", then
    /// their decision. Not an error, not in needs-attention.
    pub held_work: Vec<crate::rows::held_work::HeldWork>,
    /// What the technician may do now (the domain's answer for the status).
    pub actions: TechnicianActions,
    /// The domain's check of the report draft (an empty one when none was
    /// started) against the media and status above; `None` once a report
    /// was submitted.
    pub report_check: Option<ReportCheck>,
    /// The template the report is filled against (the draft's or the
    /// submitted report's version; for a job without a draft the newest
    /// version of its template here): what the photo checklist and the test
    /// form show. `None` for a report from before templates.
    pub report_template: Option<ReportTemplate>,
}

/// The day order of time slots; must match `slot_order` in the schema.
fn slot_rank(slot: TimeSlot) -> u8 {
    match slot {
        TimeSlot::Morning => 1,
        TimeSlot::Afternoon => 2,
        TimeSlot::Evening => 3,
        TimeSlot::FullDay => 4,
    }
}

/// The assignment a list row shows: the signed-in user's team's (?1 holds
/// their team ids as JSON), else the primary one; withdrawn ones never. The
/// index on (installation_id, is_primary DESC, assigned_at DESC) makes each
/// pick one index probe without a sort.
const SUMMARY_ASSIGNMENT_SQL: &str = "coalesce(
    (SELECT a.status FROM installation_assignments a
      WHERE a.installation_id = i.id AND a.status <> 'withdrawn'
        AND a.team_id IN (SELECT value FROM json_each(?1))
      ORDER BY a.is_primary DESC, a.assigned_at DESC LIMIT 1),
    (SELECT a.status FROM installation_assignments a
      WHERE a.installation_id = i.id AND a.status <> 'withdrawn'
      ORDER BY a.is_primary DESC, a.assigned_at DESC LIMIT 1))";

/// The filter part of the installation list query.
struct InstallationFilter {
    args: Vec<String>,
    /// Row ids of the text search hits, passed to SQL as one array.
    hits: Option<std::rc::Rc<Vec<Value>>>,
    where_clause: String,
}

impl Store {
    /// The installation list: filtered by date range, status and text,
    /// ordered by date and time slot.
    pub fn list_installations(
        &self,
        query: &InstallationQuery,
    ) -> Result<Vec<InstallationSummary>> {
        let my_teams = session::my_team_ids(&self.conn)?;
        let Some(filter) = self.installation_filter(query, vec![to_json(&my_teams)])? else {
            return Ok(Vec::new());
        };
        let InstallationFilter {
            args,
            hits,
            where_clause,
        } = filter;
        // The inner query filters, orders and pages; the lead join and the
        // per-row subqueries then run only for the rows of the page.
        let sql = format!(
            "SELECT i.id, i.installation_id, i.scheduled_date, i.scheduled_time_slot, i.status,
                    i.material_ready, i.customer_confirmed, i.demo_completed,
                    coalesce(l.customer_name, ''), coalesce(l.address_line1, ''),
                    coalesce(l.address_line2, ''), coalesce(l.city, ''),
                    coalesce(l.postcode, ''), coalesce(l.phone, ''),
                    {SUMMARY_ASSIGNMENT_SQL},
                    EXISTS (SELECT 1 FROM outbox o WHERE o.installation_id = i.id),
                    i.left_scope_at IS NOT NULL,
                    EXISTS (SELECT 1 FROM report_drafts d
                            WHERE d.installation_id = i.id AND d.superseded_by_report IS NOT NULL)
             FROM (SELECT i.id, coalesce(i.displaced_number, i.installation_id) AS installation_id,
                          i.scheduled_date, i.scheduled_time_slot,
                          i.status, i.material_ready, i.customer_confirmed, i.demo_completed,
                          i.lead_id, i.slot_order, i.left_scope_at
                   FROM installations i {where_clause}
                   ORDER BY i.scheduled_date, i.slot_order, i.installation_id
                   LIMIT {} OFFSET {}) AS i
             LEFT JOIN leads l ON l.id = i.lead_id",
            query.limit, query.offset
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut params: Vec<&dyn rusqlite::ToSql> =
            args.iter().map(|a| a as &dyn rusqlite::ToSql).collect();
        if let Some(hits) = &hits {
            params.push(hits);
        }
        let rows = stmt.query_map(params_from_iter(params), |r| {
            Ok(InstallationSummary {
                id: get_uuid(r, 0)?,
                installation_id: get_parsed(r, 1)?,
                scheduled_date: get_date(r, 2)?,
                scheduled_time_slot: get_choice(r, 3, "time slot", TimeSlot::parse)?,
                status: get_choice(r, 4, "installation status", InstallationStatus::parse)?,
                material_ready: r.get(5)?,
                customer_confirmed: r.get(6)?,
                demo_completed: r.get(7)?,
                customer_name: r.get(8)?,
                address_line1: r.get(9)?,
                address_line2: r.get(10)?,
                city: r.get(11)?,
                postcode: r.get(12)?,
                phone: r.get(13)?,
                assignment_status: r
                    .get::<_, Option<String>>(14)?
                    .and_then(|s| AssignmentStatus::parse(&s)),
                has_pending_changes: r.get(15)?,
                left_scope: r.get(16)?,
                draft_superseded: r.get(17)?,
            })
        })?;
        let mut page: Vec<InstallationSummary> = rows.collect::<rusqlite::Result<_>>()?;
        // The inner query paged in this order; sorting the page here is
        // cheaper than a second SQL sort over the joined rows.
        page.sort_by(|a, b| {
            (
                a.scheduled_date,
                slot_rank(a.scheduled_time_slot),
                &a.installation_id,
            )
                .cmp(&(
                    b.scheduled_date,
                    slot_rank(b.scheduled_time_slot),
                    &b.installation_id,
                ))
        });
        Ok(page)
    }

    /// How many installations match `query`, ignoring its `limit` and
    /// `offset` (the list's "N jobs" and its scroll length).
    pub fn count_installations(&self, query: &InstallationQuery) -> Result<u64> {
        let Some(filter) = self.installation_filter(query, Vec::new())? else {
            return Ok(0);
        };
        let sql = format!(
            "SELECT count(*) FROM installations i {}",
            filter.where_clause
        );
        let mut params: Vec<&dyn rusqlite::ToSql> = filter
            .args
            .iter()
            .map(|a| a as &dyn rusqlite::ToSql)
            .collect();
        if let Some(hits) = &filter.hits {
            params.push(hits);
        }
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params_from_iter(params), |r| r.get(0))?)
    }

    /// The WHERE clause of the list for `query`, its arguments appended to
    /// `args`. `None` when the text matches nothing.
    fn installation_filter(
        &self,
        query: &InstallationQuery,
        mut args: Vec<String>,
    ) -> Result<Option<InstallationFilter>> {
        let mut filters: Vec<String> = Vec::new();
        if let Some(from) = query.from_date {
            args.push(date(&from));
            filters.push(format!("i.scheduled_date >= ?{}", args.len()));
        }
        if let Some(to) = query.to_date {
            args.push(date(&to));
            filters.push(format!("i.scheduled_date <= ?{}", args.len()));
        }
        if !query.statuses.is_empty() {
            let mut marks = Vec::new();
            for status in &query.statuses {
                args.push(status.as_str().to_owned());
                marks.push(format!("?{}", args.len()));
            }
            filters.push(format!("i.status IN ({})", marks.join(", ")));
        }
        let words: Vec<String> = fold(&query.text)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let mut hits = None;
        if !words.is_empty() {
            let mut cache = self.search_index.borrow_mut();
            if cache.is_none() {
                let from_rows = deferred_indexes::search_texts_deferred(&self.conn)?;
                *cache = Some(SearchIndex::load(&self.conn, from_rows)?);
            }
            let rowids = cache
                .as_ref()
                .map(|i| i.matching(&words))
                .unwrap_or_default();
            if rowids.is_empty() {
                return Ok(None);
            }
            let rowids: Vec<Value> = rowids.into_iter().map(Value::Integer).collect();
            hits = Some(std::rc::Rc::new(rowids));
            filters.push(format!("i.rowid IN rarray(?{})", args.len() + 1));
        }
        let where_clause = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        Ok(Some(InstallationFilter {
            args,
            hits,
            where_clause,
        }))
    }

    /// One installation with everything the detail screen shows.
    pub fn get_installation(&self, id: Uuid) -> Result<InstallationDetail> {
        let conn = &self.conn;
        let (installation, server_version) = installations::load(conn, id)?;
        let my_teams = session::my_team_ids(conn)?;
        let assignments = assignments::for_installation(conn, id)?
            .into_iter()
            .map(|(assignment, server_version)| {
                Ok(AssignmentWithTeam {
                    team: people::load_team(conn, assignment.team_id)?,
                    is_mine: my_teams.contains(&assignment.team_id),
                    assignment,
                    server_version,
                })
            })
            .collect::<Result<_>>()?;
        let report_draft = reports::load_draft(conn, id)?;
        let report = reports::load_report(conn, id)?;
        let media = media::list_for_installation(conn, id)?;
        let actions = lifecycle::technician_actions(
            installation.status,
            report_draft.is_some() || report.is_some(),
        );
        let report_template = match (&report, &report_draft) {
            (Some(r), _) => templates::named_by(conn, r.template.as_ref())?,
            (None, Some(d)) => templates::named_by(conn, d.template.as_ref())?,
            (None, None) => templates::latest(conn, installation.report_template_id())?,
        };
        let report_check = match report {
            Some(_) => None,
            None => {
                let hashes: Vec<Sha256Hex> = media.iter().map(|m| m.file.sha256.clone()).collect();
                let draft = report_draft.clone().unwrap_or_else(|| {
                    let mut d = ReportDraft::new(id, Utc::now());
                    d.template = report_template.as_ref().map(|t| t.template_ref());
                    d
                });
                Some(draft.check(&hashes, installation.status, report_template.as_ref()))
            }
        };
        Ok(InstallationDetail {
            lead: leads::load_lead(conn, installation.lead_id)?,
            survey: leads::load_survey(conn, installation.survey_id)?,
            assignments,
            report_draft,
            report,
            media,
            actions,
            report_check,
            report_template,
            pending_changes: outbox::count_for_installation(conn, id)?,
            left_scope_at: installations::left_scope_at(conn, id)?,
            report_server_version: reports::report_server_version(conn, id)?,
            report_signature_file: reports::signature_availability(conn, id)?,
            report_draft_superseded_by: reports::draft_superseded_by(conn, id)?,
            held_work: held_work::for_installation(conn, id)?,
            media_files: media::availability_for_installation(conn, id)?,
            installation,
            server_version,
        })
    }

    pub fn get_assignment(&self, id: Uuid) -> Result<InstallationAssignment> {
        Ok(assignments::load(&self.conn, id)?.0)
    }
}
