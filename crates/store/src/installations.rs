//! Installations and their assignments: the list/search the day view runs,
//! the detail screen, and the technician's lifecycle actions.

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_domain::lifecycle::{self, StartRequest};
use fieldbook_domain::validation::{self, MAX_REASON_CHARS};
use fieldbook_domain::{
    AssignmentStatus, Installation, InstallationAssignment, InstallationId, InstallationMedia,
    InstallationReport, InstallationStatus, Lead, Mutation, ReportCheck, ReportDraft, Sha256Hex,
    Survey, Team, TechnicianActions, TimeSlot,
};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{date, get_choice, get_date, get_opt_ts, get_parsed, get_ts, get_uuid, ts};
use crate::error::{Result, StoreError};
use crate::search::{fold, SearchIndex};
use crate::{outbox, reports, session, Store};

// ---- reading -----------------------------------------------------------------

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
    pub report_signature_file: Option<crate::media::FileAvailability>,
    /// Set when another device's report won (the server keeps one per
    /// installation): `report_draft` is then what this device had typed,
    /// kept read-only until the technician dismisses it, and `report` is the
    /// one that won.
    pub report_draft_superseded_by: Option<Uuid>,
    /// Where each photo's / video's file is, in the order of `media`.
    pub media_files: Vec<crate::media::MediaAvailability>,
    /// Work the server received after the job left this device's scope and
    /// holds for Central Ops: "received, waiting for Central Ops", then
    /// their decision. Not an error, not in needs-attention.
    pub held_work: Vec<crate::held_work::HeldWork>,
    /// What the technician may do now (the domain's answer for the status).
    pub actions: TechnicianActions,
    /// The domain's check of the report draft (an empty one when none was
    /// started) against the media and status above; `None` once a report
    /// was submitted.
    pub report_check: Option<ReportCheck>,
}

const INSTALLATION_COLUMNS: &str = "id, installation_id, survey_id, lead_id, scheduled_date, \
    scheduled_time_slot, status, material_ready, customer_confirmed, demo_completed, created_by, \
    created_at, updated_at, status_reason, ops_review_note, server_version";

fn installation_from_row(r: &Row<'_>) -> rusqlite::Result<(Installation, i64)> {
    Ok((
        Installation {
            id: get_uuid(r, 0)?,
            installation_id: get_parsed(r, 1)?,
            survey_id: get_uuid(r, 2)?,
            lead_id: get_uuid(r, 3)?,
            scheduled_date: get_date(r, 4)?,
            scheduled_time_slot: get_choice(r, 5, "time slot", TimeSlot::parse)?,
            status: get_choice(r, 6, "installation status", InstallationStatus::parse)?,
            material_ready: r.get(7)?,
            customer_confirmed: r.get(8)?,
            demo_completed: r.get(9)?,
            created_by: get_uuid(r, 10)?,
            created_at: get_ts(r, 11)?,
            updated_at: get_ts(r, 12)?,
            status_reason: r.get(13)?,
            ops_review_note: r.get(14)?,
        },
        r.get(15)?,
    ))
}

/// The installation and the server version it was last read at.
pub(crate) fn load(conn: &Connection, id: Uuid) -> Result<(Installation, i64)> {
    let sql = format!("SELECT {INSTALLATION_COLUMNS} FROM installations WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id.to_string()], installation_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("installation", id))
}

const ASSIGNMENT_COLUMNS: &str = "id, installation_id, team_id, assigned_by, is_primary, \
    assigned_at, status, decline_reason, responded_at, server_version";

fn assignment_from_row(r: &Row<'_>) -> rusqlite::Result<(InstallationAssignment, i64)> {
    Ok((
        InstallationAssignment {
            id: get_uuid(r, 0)?,
            installation_id: get_uuid(r, 1)?,
            team_id: get_uuid(r, 2)?,
            assigned_by: get_uuid(r, 3)?,
            is_primary: r.get(4)?,
            assigned_at: get_ts(r, 5)?,
            status: get_choice(r, 6, "assignment status", AssignmentStatus::parse)?,
            decline_reason: r.get(7)?,
            responded_at: get_opt_ts(r, 8)?,
        },
        r.get(9)?,
    ))
}

fn load_lead(conn: &Connection, id: Uuid) -> Result<Option<Lead>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, customer_name, phone, email, address_line1, address_line2, city, postcode,
                    latitude, longitude, installer_notes
             FROM leads WHERE id = ?1",
        )?
        .query_row([id.to_string()], |r| {
            Ok(Lead {
                id: get_uuid(r, 0)?,
                customer_name: r.get(1)?,
                phone: r.get(2)?,
                email: r.get(3)?,
                address_line1: r.get(4)?,
                address_line2: r.get(5)?,
                city: r.get(6)?,
                postcode: r.get(7)?,
                latitude: r.get(8)?,
                longitude: r.get(9)?,
                installer_notes: r.get(10)?,
            })
        })
        .optional()?)
}

fn load_survey(conn: &Connection, id: Uuid) -> Result<Option<Survey>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, lead_id, approved_at, surveyor_notes, recommended_charger_model,
                    main_fuse_amps, supply_capacity_kva, cable_run_length_m, photos_count
             FROM surveys WHERE id = ?1",
        )?
        .query_row([id.to_string()], |r| {
            Ok(Survey {
                id: get_uuid(r, 0)?,
                lead_id: get_uuid(r, 1)?,
                approved_at: get_ts(r, 2)?,
                surveyor_notes: r.get(3)?,
                recommended_charger_model: r.get(4)?,
                main_fuse_amps: r.get(5)?,
                supply_capacity_kva: r.get(6)?,
                cable_run_length_m: r.get(7)?,
                photos_count: r.get(8)?,
            })
        })
        .optional()?)
}

pub(crate) fn load_team(conn: &Connection, id: Uuid) -> Result<Option<Team>> {
    let name: Option<String> = conn
        .prepare_cached("SELECT name FROM teams WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    let Some(name) = name else { return Ok(None) };
    let mut stmt = conn
        .prepare_cached("SELECT user_id FROM team_members WHERE team_id = ?1 ORDER BY position")?;
    let member_ids = stmt
        .query_map([id.to_string()], |r| get_uuid(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(Team {
        id,
        name,
        member_ids,
    }))
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

/// The lead's part of an installation's `search_text`; fields are joined
/// with newlines so a search word (which has no whitespace) never matches
/// across two fields.
fn lead_search_text(lead: &Lead) -> String {
    fold(
        &[
            lead.customer_name.as_str(),
            &lead.address_line1,
            &lead.address_line2,
            &lead.city,
            &lead.postcode,
        ]
        .join("\n"),
    )
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
        let my_teams = session::current(&self.conn)?
            .map(|s| s.team_ids)
            .unwrap_or_default();
        let Some(filter) = self.installation_filter(query, vec![crate::db::to_json(&my_teams)])?
        else {
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
             FROM (SELECT i.id, i.installation_id, i.scheduled_date, i.scheduled_time_slot,
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
                *cache = Some(SearchIndex::load(&self.conn)?);
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
        let (installation, server_version) = load(conn, id)?;
        let my_teams = session::current(conn)?
            .map(|s| s.team_ids)
            .unwrap_or_default();
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM installation_assignments
             WHERE installation_id = ?1 ORDER BY is_primary DESC, assigned_at"
        );
        let assignments = conn
            .prepare_cached(&sql)?
            .query_map([id.to_string()], assignment_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .map(|(assignment, server_version)| {
                Ok(AssignmentWithTeam {
                    team: load_team(conn, assignment.team_id)?,
                    is_mine: my_teams.contains(&assignment.team_id),
                    assignment,
                    server_version,
                })
            })
            .collect::<Result<_>>()?;
        let report_draft = reports::load_draft(conn, id)?;
        let report = reports::load_report(conn, id)?;
        let media = crate::media::list_for_installation(conn, id)?;
        let actions = lifecycle::technician_actions(
            installation.status,
            report_draft.is_some() || report.is_some(),
        );
        let report_check = match report {
            Some(_) => None,
            None => {
                let hashes: Vec<Sha256Hex> = media.iter().map(|m| m.file.sha256.clone()).collect();
                let draft = report_draft
                    .clone()
                    .unwrap_or_else(|| ReportDraft::new(id, Utc::now()));
                Some(draft.check(&hashes, installation.status))
            }
        };
        Ok(InstallationDetail {
            lead: load_lead(conn, installation.lead_id)?,
            survey: load_survey(conn, installation.survey_id)?,
            assignments,
            report_draft,
            report,
            media,
            actions,
            report_check,
            pending_changes: outbox::count_for_installation(conn, id)?,
            left_scope_at: conn
                .prepare_cached("SELECT left_scope_at FROM installations WHERE id = ?1")?
                .query_row([id.to_string()], |r| get_opt_ts(r, 0))?,
            report_server_version: reports::report_server_version(conn, id)?,
            report_signature_file: reports::signature_availability(conn, id)?,
            report_draft_superseded_by: reports::draft_superseded_by(conn, id)?,
            held_work: crate::held_work::for_installation(conn, id)?,
            media_files: crate::media::availability_for_installation(conn, id)?,
            installation,
            server_version,
        })
    }

    pub fn get_assignment(&self, id: Uuid) -> Result<InstallationAssignment> {
        Ok(load_assignment(&self.conn, id)?.0)
    }
}

fn load_assignment(conn: &Connection, id: Uuid) -> Result<(InstallationAssignment, i64)> {
    let sql = format!("SELECT {ASSIGNMENT_COLUMNS} FROM installation_assignments WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id.to_string()], assignment_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("assignment", id))
}

// ---- writing: server snapshots (used by sync_state) --------------------------

pub(crate) fn upsert_installation(
    conn: &Connection,
    inst: &Installation,
    server_version: i64,
) -> Result<()> {
    let rowid: i64 = conn
        .prepare_cached(
            "INSERT INTO installations (id, installation_id, survey_id, lead_id, scheduled_date,
                 scheduled_time_slot, status, material_ready, customer_confirmed, demo_completed,
                 created_by, created_at, updated_at, status_reason, ops_review_note, server_version,
                 server_status, server_material_ready, server_customer_confirmed,
                 server_demo_completed, server_updated_at, server_status_reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?7, ?8, ?9, ?10, ?13, ?14)
             ON CONFLICT (id) DO UPDATE SET
                 installation_id = excluded.installation_id, survey_id = excluded.survey_id,
                 lead_id = excluded.lead_id, scheduled_date = excluded.scheduled_date,
                 scheduled_time_slot = excluded.scheduled_time_slot, status = excluded.status,
                 material_ready = excluded.material_ready,
                 customer_confirmed = excluded.customer_confirmed,
                 demo_completed = excluded.demo_completed, created_by = excluded.created_by,
                 created_at = excluded.created_at, updated_at = excluded.updated_at,
                 status_reason = excluded.status_reason,
                 ops_review_note = excluded.ops_review_note,
                 server_version = excluded.server_version,
                 server_status = excluded.server_status,
                 server_material_ready = excluded.server_material_ready,
                 server_customer_confirmed = excluded.server_customer_confirmed,
                 server_demo_completed = excluded.server_demo_completed,
                 server_updated_at = excluded.server_updated_at,
                 server_status_reason = excluded.server_status_reason,
                 left_scope_at = NULL -- sent again: back in scope
             RETURNING rowid",
        )?
        .query_row(
            params![
                inst.id.to_string(),
                inst.installation_id.as_str(),
                inst.survey_id.to_string(),
                inst.lead_id.to_string(),
                date(&inst.scheduled_date),
                inst.scheduled_time_slot.as_str(),
                inst.status.as_str(),
                inst.material_ready,
                inst.customer_confirmed,
                inst.demo_completed,
                inst.created_by.to_string(),
                ts(&inst.created_at),
                ts(&inst.updated_at),
                inst.status_reason,
                inst.ops_review_note,
                server_version,
            ],
            |r| r.get(0),
        )?;
    let lead_part = load_lead(conn, inst.lead_id)?
        .map(|l| lead_search_text(&l))
        .unwrap_or_default();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO installation_search (installation_rowid, search_text)
         VALUES (?1, ?2)",
    )?
    .execute(params![
        rowid,
        format!("{lead_part}\n{}", fold(inst.installation_id.as_str()))
    ])?;
    Ok(())
}

pub(crate) fn upsert_lead(conn: &Connection, lead: &Lead, server_version: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO leads (id, customer_name, phone, email, address_line1,
             address_line2, city, postcode, latitude, longitude, installer_notes, server_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        lead.id.to_string(),
        lead.customer_name,
        lead.phone,
        lead.email,
        lead.address_line1,
        lead.address_line2,
        lead.city,
        lead.postcode,
        lead.latitude,
        lead.longitude,
        lead.installer_notes,
        server_version,
    ])?;
    // Keep the denormalised search column of this lead's installations true.
    conn.prepare_cached(
        "UPDATE installation_search
         SET search_text = ?2 || char(10) || (SELECT lower(i.installation_id)
                                             FROM installations i
                                             WHERE i.rowid = installation_rowid)
         WHERE installation_rowid IN (SELECT rowid FROM installations WHERE lead_id = ?1)",
    )?
    .execute(params![lead.id.to_string(), lead_search_text(lead)])?;
    Ok(())
}

pub(crate) fn upsert_survey(conn: &Connection, survey: &Survey, server_version: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO surveys (id, lead_id, approved_at, surveyor_notes,
             recommended_charger_model, main_fuse_amps, supply_capacity_kva, cable_run_length_m,
             photos_count, server_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        survey.id.to_string(),
        survey.lead_id.to_string(),
        ts(&survey.approved_at),
        survey.surveyor_notes,
        survey.recommended_charger_model,
        survey.main_fuse_amps,
        survey.supply_capacity_kva,
        survey.cable_run_length_m,
        survey.photos_count,
        server_version,
    ])?;
    Ok(())
}

pub(crate) fn upsert_assignment(
    conn: &Connection,
    a: &InstallationAssignment,
    server_version: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO installation_assignments (id, installation_id, team_id,
             assigned_by, is_primary, assigned_at, status, decline_reason, responded_at,
             server_version, server_status, server_decline_reason, server_responded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?7, ?8, ?9)",
    )?
    .execute(params![
        a.id.to_string(),
        a.installation_id.to_string(),
        a.team_id.to_string(),
        a.assigned_by.to_string(),
        a.is_primary,
        ts(&a.assigned_at),
        a.status.as_str(),
        a.decline_reason,
        a.responded_at.as_ref().map(ts),
        server_version,
    ])?;
    Ok(())
}

/// Writes the fields a lifecycle action may change.
pub(crate) fn save_state(conn: &Connection, inst: &Installation) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installations SET status = ?2, material_ready = ?3, customer_confirmed = ?4,
             demo_completed = ?5, updated_at = ?6, status_reason = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        inst.id.to_string(),
        inst.status.as_str(),
        inst.material_ready,
        inst.customer_confirmed,
        inst.demo_completed,
        ts(&inst.updated_at),
        inst.status_reason,
    ])?;
    Ok(())
}

/// Marks the signed-in user's teams' open assignments completed (the report
/// was submitted).
pub(crate) fn complete_my_assignments(
    conn: &Connection,
    installation_id: Uuid,
    team_ids: &[Uuid],
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE installation_assignments SET status = 'completed'
         WHERE installation_id = ?1 AND team_id = ?2 AND status IN ('assigned', 'accepted')",
    )?;
    for team in team_ids {
        stmt.execute(params![installation_id.to_string(), team.to_string()])?;
    }
    Ok(())
}

// ---- technician actions --------------------------------------------------------

/// What an action needs besides the transaction.
pub(crate) struct ActionContext<'a> {
    pub(crate) device_id: Uuid,
    pub(crate) media: &'a fieldbook_media::MediaStore,
}

/// A team's answer to an assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum AssignmentResponse {
    Accept,
    Decline { reason: String },
}

impl Store {
    /// Runs `action` in one IMMEDIATE transaction: everything it wrote
    /// (the change and its outbox entry) commits together or not at all.
    pub(crate) fn in_write_transaction<T>(
        &mut self,
        action: impl FnOnce(&Connection, &ActionContext<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let ctx = ActionContext {
            device_id: self.device_id,
            media: &self.media,
        };
        let value = action(&tx, &ctx)?;
        tx.commit()?;
        Ok(value)
    }

    /// "Start installation" on site. From `confirmed` no reason is needed;
    /// from planned / material_pending / material_ready it is the "start
    /// anyway" path, which needs `request.override_reason` and records it in
    /// the report draft.
    pub fn start_installation(&mut self, id: Uuid, request: &StartRequest) -> Result<Installation> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = load(tx, id)?;
            let expected_from = inst.status;
            let override_reason = lifecycle::start(&mut inst, expected_from, request, now)?;
            save_state(tx, &inst)?;
            reports::ensure_draft(tx, id, now)?;
            if let Some(reason) = &override_reason {
                reports::set_start_override_reason(tx, id, reason, now)?;
            }
            let mutation = Mutation::InstallationStart {
                installation_id: id,
                expected_from,
                override_reason,
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// "Finish installation": in_progress → completed.
    pub fn finish_installation(&mut self, id: Uuid) -> Result<Installation> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = load(tx, id)?;
            let expected_from = inst.status;
            lifecycle::finish(&mut inst, expected_from, now)?;
            save_state(tx, &inst)?;
            let mutation = Mutation::InstallationFinish {
                installation_id: id,
                expected_from,
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// "Could not complete": in_progress → rescheduled, with a reason.
    pub fn could_not_complete(&mut self, id: Uuid, reason: &str) -> Result<Installation> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = load(tx, id)?;
            let expected_from = inst.status;
            lifecycle::could_not_complete(&mut inst, expected_from, reason, now)?;
            save_state(tx, &inst)?;
            let mutation = Mutation::InstallationCouldNotComplete {
                installation_id: id,
                expected_from,
                reason: inst.status_reason.clone().unwrap_or_default(),
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// Sets the flags both sides may change. `None` leaves a flag alone; the
    /// mutation carries the values it was based on so the server can merge
    /// field by field. Setting a flag to its current value records nothing.
    pub fn set_installation_flags(
        &mut self,
        id: Uuid,
        customer_confirmed: Option<bool>,
        demo_completed: Option<bool>,
    ) -> Result<Installation> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let (mut inst, base_version) = load(tx, id)?;
            let base_customer_confirmed = inst.customer_confirmed;
            let base_demo_completed = inst.demo_completed;
            let customer_confirmed = customer_confirmed.filter(|v| *v != base_customer_confirmed);
            let demo_completed = demo_completed.filter(|v| *v != base_demo_completed);
            if customer_confirmed.is_none() && demo_completed.is_none() {
                return Ok(inst);
            }
            inst.customer_confirmed = customer_confirmed.unwrap_or(base_customer_confirmed);
            inst.demo_completed = demo_completed.unwrap_or(base_demo_completed);
            inst.updated_at = now;
            save_state(tx, &inst)?;
            let mutation = Mutation::InstallationSetFlags {
                installation_id: id,
                customer_confirmed,
                demo_completed,
                base_customer_confirmed,
                base_demo_completed,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(id),
                Some(base_version),
                now,
            )?;
            Ok(inst)
        })
    }

    /// The team accepts or declines (with a reason) a newly assigned job.
    pub fn respond_to_assignment(
        &mut self,
        assignment_id: Uuid,
        response: &AssignmentResponse,
    ) -> Result<InstallationAssignment> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let (mut assignment, base_version) = load_assignment(tx, assignment_id)?;
            if assignment.status != AssignmentStatus::Assigned {
                return Err(StoreError::AssignmentAlreadyAnswered {
                    status: assignment.status,
                });
            }
            let (status, reason) = match response {
                AssignmentResponse::Accept => (AssignmentStatus::Accepted, None),
                AssignmentResponse::Decline { reason } => {
                    validation::required_text("reason", reason, MAX_REASON_CHARS)?;
                    (AssignmentStatus::Declined, Some(reason.trim().to_owned()))
                }
            };
            assignment.status = status;
            assignment.decline_reason = reason.clone();
            assignment.responded_at = Some(now);
            tx.prepare_cached(
                "UPDATE installation_assignments
                 SET status = ?2, decline_reason = ?3, responded_at = ?4 WHERE id = ?1",
            )?
            .execute(params![
                assignment_id.to_string(),
                status.as_str(),
                reason,
                ts(&now)
            ])?;
            let mutation = Mutation::AssignmentRespond {
                assignment_id,
                response: status,
                reason,
                at: now,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(assignment.installation_id),
                Some(base_version),
                now,
            )?;
            Ok(assignment)
        })
    }
}
