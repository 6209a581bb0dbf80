//! Rows of `installations` and their search text (`installation_search`).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use fieldbook_domain::{Installation, InstallationStatus, TimeSlot};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::db::{date, get_choice, get_date, get_opt_ts, get_parsed, get_ts, get_uuid, ts};
use crate::error::{Result, StoreError};
use crate::multi_row::{MultiRowWrite, WriteOver};

// A job kept although the server gave its number to another job shows the
// number it had (`displaced_number`), not its placeholder.
const COLUMNS: &str =
    "id, coalesce(displaced_number, installation_id), survey_id, lead_id, scheduled_date, \
    scheduled_time_slot, status, material_ready, customer_confirmed, demo_completed, created_by, \
    created_at, updated_at, status_reason, ops_review_note, server_version, report_template_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(Installation, i64)> {
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
            report_template_id: r.get(16)?,
        },
        r.get(15)?,
    ))
}

/// The installation and the server version it was last read at.
pub(crate) fn load(conn: &Connection, id: Uuid) -> Result<(Installation, i64)> {
    find(conn, id)?.ok_or_else(|| StoreError::not_found("installation", id))
}

pub(crate) fn find(conn: &Connection, id: Uuid) -> Result<Option<(Installation, i64)>> {
    let sql = format!("SELECT {COLUMNS} FROM installations WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id.to_string()], from_row)
        .optional()?)
}

pub(crate) fn exists(conn: &Connection, id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM installations WHERE id = ?1)")?
        .query_row([id.to_string()], |r| r.get(0))?)
}

/// The lead and survey an installation refers to.
pub(crate) fn refs(conn: &Connection, id: Uuid) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT lead_id, survey_id FROM installations WHERE id = ?1")?
        .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Writes server snapshots, each with the version it was read at (and what
/// the server said about the fields technician mutations change); a row
/// sent again is back in scope.
pub(crate) fn upsert_all(conn: &Connection, rows: &[(&Installation, i64)]) -> Result<()> {
    static UPSERT: LazyLock<MultiRowWrite> = LazyLock::new(|| {
        MultiRowWrite::new(
            "installations (id, installation_id, survey_id, lead_id, scheduled_date,
                 scheduled_time_slot, status, material_ready, customer_confirmed, demo_completed,
                 created_by, created_at, updated_at, status_reason, ops_review_note, server_version,
                 server_status, server_material_ready, server_customer_confirmed,
                 server_demo_completed, server_updated_at, server_status_reason,
                 report_template_id)",
            // The server_ columns repeat what the server said (7-10, 13, 14).
            &[
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 7, 8, 9, 10, 13, 14, 17,
            ],
            17,
            WriteOver::Update(
                "installation_id = excluded.installation_id, survey_id = excluded.survey_id,
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
                 report_template_id = excluded.report_template_id,
                 left_scope_at = NULL, -- sent again: back in scope
                 displaced_number = NULL",
            ),
        )
    });
    UPSERT.write(conn, rows, |(inst, server_version), p| {
        p.push(inst.id.to_string())?
            .push(inst.installation_id.as_str())?
            .push(inst.survey_id.to_string())?
            .push(inst.lead_id.to_string())?
            .push(date(&inst.scheduled_date))?
            .push(inst.scheduled_time_slot.as_str())?
            .push(inst.status.as_str())?
            .push(inst.material_ready)?
            .push(inst.customer_confirmed)?
            .push(inst.demo_completed)?
            .push(inst.created_by.to_string())?
            .push(ts(&inst.created_at))?
            .push(ts(&inst.updated_at))?
            .push(&inst.status_reason)?
            .push(&inst.ops_review_note)?
            .push(server_version)?
            .push(&inst.report_template_id)?;
        Ok(())
    })
}

/// Sets the search text of the given installations from their rows and
/// their leads' rows, in one statement (see
/// [`crate::search::INSTALLATION_TEXT_SQL`]).
pub(crate) fn write_search_texts(conn: &Connection, ids: &[Uuid]) -> Result<()> {
    write_search_texts_where(conn, "i.id", ids)
}

/// Sets the search text of every installation of the given leads, in one
/// statement (a changed lead changes their text).
pub(crate) fn write_search_texts_of_leads(conn: &Connection, lead_ids: &[Uuid]) -> Result<()> {
    write_search_texts_where(conn, "i.lead_id", lead_ids)
}

/// The search texts of the installations whose `column` is one of `ids`.
fn write_search_texts_where(conn: &Connection, column: &str, ids: &[Uuid]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<rusqlite::types::Value> = ids
        .iter()
        .map(|id| rusqlite::types::Value::Text(id.to_string()))
        .collect();
    // `column` is one of the two constants above, never input.
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO installation_search (installation_rowid, search_text)
         SELECT i.rowid, {}
         FROM installations AS i LEFT JOIN leads AS l ON l.id = i.lead_id
         WHERE {column} IN rarray(?1)",
        crate::search::INSTALLATION_TEXT_SQL
    ))?
    .execute([std::rc::Rc::new(ids)])?;
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

/// The fields technician mutations change, as the server last described
/// them; `None` when not known.
pub(crate) struct ServerFields {
    pub(crate) status: InstallationStatus,
    pub(crate) material_ready: bool,
    pub(crate) customer_confirmed: bool,
    pub(crate) demo_completed: bool,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) status_reason: Option<String>,
}

pub(crate) fn server_fields(conn: &Connection, id: Uuid) -> Result<Option<ServerFields>> {
    Ok(conn
        .prepare_cached(
            "SELECT server_status, server_material_ready, server_customer_confirmed,
                    server_demo_completed, server_updated_at, server_status_reason
             FROM installations WHERE id = ?1 AND server_status IS NOT NULL",
        )?
        .query_row([id.to_string()], |r| {
            Ok(ServerFields {
                status: get_choice(r, 0, "installation status", InstallationStatus::parse)?,
                material_ready: r.get(1)?,
                customer_confirmed: r.get(2)?,
                demo_completed: r.get(3)?,
                updated_at: get_ts(r, 4)?,
                status_reason: r.get(5)?,
            })
        })
        .optional()?)
}

/// Records what the server now holds of the fields technician mutations
/// change (from `inst`).
pub(crate) fn set_server_fields(conn: &Connection, inst: &Installation) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installations
         SET server_status = ?2, server_material_ready = ?3, server_customer_confirmed = ?4,
             server_demo_completed = ?5, server_updated_at = ?6, server_status_reason = ?7
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

/// When the server said the job left this device's scope.
pub(crate) fn left_scope_at(conn: &Connection, id: Uuid) -> Result<Option<DateTime<Utc>>> {
    Ok(conn
        .prepare_cached("SELECT left_scope_at FROM installations WHERE id = ?1")?
        .query_row([id.to_string()], |r| get_opt_ts(r, 0))
        .optional()?
        .flatten())
}

pub(crate) fn is_left_scope(conn: &Connection, id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM installations WHERE id = ?1 AND left_scope_at IS NOT NULL)",
        )?
        .query_row([id.to_string()], |r| r.get(0))?)
}

/// Marks a kept job as out of scope (keeping the first time it left).
pub(crate) fn mark_left_scope(conn: &Connection, id: Uuid) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installations SET left_scope_at = ?2 WHERE id = ?1 AND left_scope_at IS NULL",
    )?
    .execute(params![id.to_string(), ts(&Utc::now())])?;
    Ok(())
}

/// Deletes the row; its drafts, submitted report and media rows go with it
/// (ON DELETE CASCADE), and its search text by trigger.
pub(crate) fn delete(conn: &Connection, id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM installations WHERE id = ?1")?
        .execute([id.to_string()])?)
}

/// Whether a job on the device refers to the lead.
pub(crate) fn lead_in_use(conn: &Connection, lead_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM installations WHERE lead_id = ?1)")?
        .query_row([lead_id], |r| r.get(0))?)
}

/// Whether a job on the device refers to the survey.
pub(crate) fn survey_in_use(conn: &Connection, survey_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM installations WHERE survey_id = ?1)")?
        .query_row([survey_id], |r| r.get(0))?)
}

/// Closed and cancelled jobs last changed before the day `changed_before`
/// (retention; `updated_at` is fixed-width RFC 3339, so its first ten
/// characters are the day).
pub(crate) fn retired_before(
    conn: &Connection,
    changed_before: chrono::NaiveDate,
) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM installations WHERE status IN ('closed', 'cancelled')
           AND substr(updated_at, 1, 10) < ?1",
    )?;
    let ids = stmt
        .query_map([date(&changed_before)], |r| get_uuid(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// The local jobs that hold one of `numbers` (INS- numbers), with the number
/// each holds: one statement for a whole page.
pub(crate) fn holders_of_numbers(
    conn: &Connection,
    numbers: Vec<String>,
) -> Result<Vec<(Uuid, String)>> {
    let numbers: Vec<rusqlite::types::Value> = numbers
        .into_iter()
        .map(rusqlite::types::Value::Text)
        .collect();
    let mut stmt = conn.prepare_cached(
        "SELECT id, installation_id FROM installations WHERE installation_id IN rarray(?1)",
    )?;
    let rows = stmt.query_map([std::rc::Rc::new(numbers)], |r| {
        Ok((get_uuid(r, 0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Gives up the job's INS- number (the server gave it to another job): the
/// number stays what the job shows, the unique column takes a placeholder.
pub(crate) fn displace_number(conn: &Connection, id: Uuid) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installations
         SET displaced_number = installation_id, installation_id = 'displaced-' || rowid
         WHERE id = ?1 AND displaced_number IS NULL",
    )?
    .execute([id.to_string()])?;
    Ok(())
}

/// Every installation on the device.
pub(crate) fn all_ids(conn: &Connection) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM installations")?;
    let rows = stmt.query_map([], |r| get_uuid(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
