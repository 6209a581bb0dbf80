//! Rows of `report_drafts` (the local, autosaved draft) and
//! `installation_reports` (submitted reports, this device's or pulled).

use chrono::{DateTime, Utc};
use fieldbook_domain::{
    BlobRef, CustomerSignature, InstallationReport, PhotoSlotFills, ReportDraft, TemplateRef,
    TestResults,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::db::{get_json, get_opt_parsed, get_parsed, get_ts, get_uuid, to_json, ts};
use crate::error::Result;
use crate::rows::FileAvailability;

// Both tables carry the same signature columns, in this order.
const SIGNATURE_COLUMNS: &str = "signature_sha256, signature_size, signature_mime, \
    signature_strokes, signer_name, signed_at, signature_content_hash";

fn signature_from_row(r: &Row<'_>, first: usize) -> rusqlite::Result<Option<CustomerSignature>> {
    let Some(sha256) = get_opt_parsed(r, first)? else {
        return Ok(None);
    };
    Ok(Some(CustomerSignature {
        png: BlobRef {
            sha256,
            size: r.get(first + 1)?,
            mime: r.get(first + 2)?,
        },
        strokes: get_json(r, first + 3)?,
        signer_name: r.get(first + 4)?,
        signed_at: get_ts(r, first + 5)?,
        content_hash: get_parsed(r, first + 6)?,
    }))
}

/// The seven signature column values (all NULL when unsigned).
type SignatureValues = (
    Option<String>,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn signature_values(sig: Option<&CustomerSignature>) -> SignatureValues {
    match sig {
        None => (None, None, None, None, None, None, None),
        Some(s) => (
            Some(s.png.sha256.to_string()),
            Some(s.png.size),
            Some(s.png.mime.clone()),
            Some(to_json(&s.strokes)),
            Some(s.signer_name.clone()),
            Some(ts(&s.signed_at)),
            Some(s.content_hash.to_string()),
        ),
    }
}

// Both tables carry the same template columns, in this order.
const TEMPLATE_COLUMNS: &str = "template_id, template_version, test_results, photo_slots";

/// The template reference and fills from the four template columns.
type TemplateParts = (Option<TemplateRef>, TestResults, PhotoSlotFills);

fn template_from_row(r: &Row<'_>, first: usize) -> rusqlite::Result<TemplateParts> {
    let id: Option<String> = r.get(first)?;
    let version: Option<u32> = r.get(first + 1)?;
    let template = id
        .zip(version)
        .map(|(id, version)| TemplateRef { id, version });
    let results: Option<String> = r.get(first + 2)?;
    let slots: Option<String> = r.get(first + 3)?;
    let results = match results {
        Some(_) => get_json(r, first + 2)?,
        None => TestResults::new(),
    };
    let slots = match slots {
        Some(_) => get_json(r, first + 3)?,
        None => PhotoSlotFills::new(),
    };
    Ok((template, results, slots))
}

/// The four template column values (all NULL without a template).
fn template_values(
    template: Option<&TemplateRef>,
    results: &TestResults,
    slots: &PhotoSlotFills,
) -> (Option<String>, Option<u32>, Option<String>, Option<String>) {
    match template {
        None if results.is_empty() && slots.is_empty() => (None, None, None, None),
        _ => (
            template.map(|t| t.id.clone()),
            template.map(|t| t.version),
            Some(to_json(results)),
            Some(to_json(slots)),
        ),
    }
}

// ---- drafts ------------------------------------------------------------------

pub(crate) fn load_draft(conn: &Connection, installation_id: Uuid) -> Result<Option<ReportDraft>> {
    let sql = format!(
        "SELECT installation_id, charger_serial_number, charger_model, installation_successful,
                demo_given, issues_encountered, general_notes, start_override_reason, updated_at,
                {SIGNATURE_COLUMNS}, {TEMPLATE_COLUMNS}
         FROM report_drafts WHERE installation_id = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([installation_id.to_string()], |r| {
            let (template, test_results, photo_slots) = template_from_row(r, 16)?;
            Ok(ReportDraft {
                installation_id: get_uuid(r, 0)?,
                charger_serial_number: r.get(1)?,
                charger_model: r.get(2)?,
                installation_successful: r.get(3)?,
                demo_given: r.get(4)?,
                issues_encountered: r.get(5)?,
                general_notes: r.get(6)?,
                start_override_reason: r.get(7)?,
                updated_at: get_ts(r, 8)?,
                customer_signature: signature_from_row(r, 9)?,
                template,
                test_results,
                photo_slots,
            })
        })
        .optional()?)
}

/// Writes the draft's fields; a draft reopened from a sent-back report keeps
/// that report's id.
pub(crate) fn write_draft(conn: &Connection, d: &ReportDraft) -> Result<()> {
    let s = signature_values(d.customer_signature.as_ref());
    let sql = format!(
        "INSERT OR REPLACE INTO report_drafts (installation_id, charger_serial_number,
             charger_model, installation_successful, demo_given, issues_encountered,
             general_notes, start_override_reason, updated_at, {SIGNATURE_COLUMNS},
             {TEMPLATE_COLUMNS}, reopened_report_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20,
                 (SELECT reopened_report_id FROM report_drafts WHERE installation_id = ?1))"
    );
    let t = template_values(d.template.as_ref(), &d.test_results, &d.photo_slots);
    conn.prepare_cached(&sql)?.execute(params![
        d.installation_id.to_string(),
        d.charger_serial_number,
        d.charger_model,
        d.installation_successful,
        d.demo_given,
        d.issues_encountered,
        d.general_notes,
        d.start_override_reason,
        ts(&d.updated_at),
        s.0,
        s.1,
        s.2,
        s.3,
        s.4,
        s.5,
        s.6,
        t.0,
        t.1,
        t.2,
        t.3,
    ])?;
    Ok(())
}

pub(crate) fn set_start_override_reason(
    conn: &Connection,
    installation_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE report_drafts SET start_override_reason = ?2, updated_at = ?3
         WHERE installation_id = ?1",
    )?
    .execute(params![installation_id.to_string(), reason, ts(&now)])?;
    Ok(())
}

/// The id of the sent-back report a draft was reopened from.
pub(crate) fn reopened_report_id(conn: &Connection, installation_id: Uuid) -> Result<Option<Uuid>> {
    Ok(conn
        .prepare_cached("SELECT reopened_report_id FROM report_drafts WHERE installation_id = ?1")?
        .query_row([installation_id.to_string()], |r| get_opt_parsed(r, 0))
        .optional()?
        .flatten())
}

pub(crate) fn set_reopened_report_id(
    conn: &Connection,
    installation_id: Uuid,
    report_id: Uuid,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE report_drafts SET reopened_report_id = ?2 WHERE installation_id = ?1",
    )?
    .execute(params![installation_id.to_string(), report_id.to_string()])?;
    Ok(())
}

/// Another device's report won: the draft stays, read-only, naming it.
pub(crate) fn mark_draft_superseded(
    conn: &Connection,
    installation_id: Uuid,
    report_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE report_drafts
         SET superseded_by_report = ?2, superseded_at = coalesce(superseded_at, ?3)
         WHERE installation_id = ?1",
    )?
    .execute(params![
        installation_id.to_string(),
        report_id.to_string(),
        ts(&now)
    ])?;
    Ok(())
}

/// The report that won over this device's draft, when one did.
pub(crate) fn draft_superseded_by(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Option<Uuid>> {
    Ok(conn
        .prepare_cached(
            "SELECT superseded_by_report FROM report_drafts WHERE installation_id = ?1",
        )?
        .query_row([installation_id.to_string()], |r| get_opt_parsed(r, 0))
        .optional()?
        .flatten())
}

/// Deletes a superseded draft; returns whether there was one.
pub(crate) fn delete_superseded_draft(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "DELETE FROM report_drafts
             WHERE installation_id = ?1 AND superseded_by_report IS NOT NULL",
        )?
        .execute([installation_id.to_string()])?;
    Ok(n > 0)
}

/// Whether the draft is work the server has not received: superseded (kept
/// for the technician to see), or not yet submitted as a report.
pub(crate) fn has_unsent_draft(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM report_drafts WHERE installation_id = ?1
                              AND superseded_by_report IS NOT NULL)
                 OR (EXISTS (SELECT 1 FROM report_drafts WHERE installation_id = ?1)
                     AND NOT EXISTS (SELECT 1 FROM installation_reports WHERE installation_id = ?1))",
        )?
        .query_row([installation_id.to_string()], |r| r.get(0))?)
}

/// The report's fields and signature as an editable draft again.
pub(crate) fn draft_from_report(report: &InstallationReport, now: DateTime<Utc>) -> ReportDraft {
    ReportDraft {
        installation_id: report.installation_id,
        charger_serial_number: report.charger_serial_number.clone(),
        charger_model: report.charger_model.clone(),
        installation_successful: Some(report.installation_successful),
        demo_given: report.demo_given,
        issues_encountered: report.issues_encountered.clone(),
        general_notes: report.general_notes.clone(),
        start_override_reason: report.start_override_reason.clone(),
        customer_signature: report.customer_signature.clone(),
        updated_at: now,
        template: report.template.clone(),
        test_results: report.test_results.clone(),
        photo_slots: report.photo_slots.clone(),
    }
}

// ---- submitted reports ---------------------------------------------------------

pub(crate) fn load_report(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Option<InstallationReport>> {
    let sql = format!(
        "SELECT id, installation_id, submitted_by, charger_serial_number, charger_model,
                installation_successful, demo_given, issues_encountered, general_notes,
                submitted_at, start_override_reason, content_hash, {SIGNATURE_COLUMNS},
                {TEMPLATE_COLUMNS}
         FROM installation_reports WHERE installation_id = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([installation_id.to_string()], |r| {
            let (template, test_results, photo_slots) = template_from_row(r, 19)?;
            Ok(InstallationReport {
                id: get_uuid(r, 0)?,
                installation_id: get_uuid(r, 1)?,
                submitted_by: get_uuid(r, 2)?,
                charger_serial_number: r.get(3)?,
                charger_model: r.get(4)?,
                installation_successful: r.get(5)?,
                demo_given: r.get(6)?,
                issues_encountered: r.get(7)?,
                general_notes: r.get(8)?,
                submitted_at: get_ts(r, 9)?,
                start_override_reason: r.get(10)?,
                content_hash: get_parsed(r, 11)?,
                customer_signature: signature_from_row(r, 12)?,
                template,
                test_results,
                photo_slots,
            })
        })
        .optional()?)
}

pub(crate) fn insert_report(conn: &Connection, rep: &InstallationReport) -> Result<()> {
    let s = signature_values(rep.customer_signature.as_ref());
    let sql = format!(
        "INSERT INTO installation_reports (id, installation_id, submitted_by,
             charger_serial_number, charger_model, installation_successful, demo_given,
             issues_encountered, general_notes, submitted_at, start_override_reason,
             content_hash, {SIGNATURE_COLUMNS}, {TEMPLATE_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                 ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
    );
    let t = template_values(rep.template.as_ref(), &rep.test_results, &rep.photo_slots);
    conn.prepare_cached(&sql)?.execute(params![
        rep.id.to_string(),
        rep.installation_id.to_string(),
        rep.submitted_by.to_string(),
        rep.charger_serial_number,
        rep.charger_model,
        rep.installation_successful,
        rep.demo_given,
        rep.issues_encountered,
        rep.general_notes,
        ts(&rep.submitted_at),
        rep.start_override_reason,
        rep.content_hash.to_string(),
        s.0,
        s.1,
        s.2,
        s.3,
        s.4,
        s.5,
        s.6,
        t.0,
        t.1,
        t.2,
        t.3,
    ])?;
    Ok(())
}

/// What the server said of a report this device has (never lowering its
/// version).
pub(crate) fn set_server_state(
    conn: &Connection,
    report_id: Uuid,
    server_version: i64,
    signature_on_server: bool,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installation_reports
         SET server_version = ?2, signature_on_server = ?3
         WHERE id = ?1 AND coalesce(server_version, 0) <= ?2",
    )?
    .execute(params![
        report_id.to_string(),
        server_version,
        signature_on_server
    ])?;
    Ok(())
}

/// Where a freshly pulled report's signature is, and its version.
pub(crate) fn set_pulled_state(
    conn: &Connection,
    report_id: Uuid,
    server_version: i64,
    signature_on_server: bool,
    signature_on_device: bool,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installation_reports
         SET server_version = ?2, signature_on_server = ?3, signature_on_device = ?4
         WHERE id = ?1",
    )?
    .execute(params![
        report_id.to_string(),
        server_version,
        signature_on_server,
        signature_on_device
    ])?;
    Ok(())
}

/// Raises (never lowers) the report's `server_version`.
pub(crate) fn raise_server_version(conn: &Connection, report_id: Uuid, version: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE installation_reports SET server_version = max(coalesce(server_version, 0), ?2)
         WHERE id = ?1",
    )?
    .execute(params![report_id.to_string(), version])?;
    Ok(())
}

pub(crate) fn delete_report(conn: &Connection, report_id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM installation_reports WHERE id = ?1")?
        .execute([report_id.to_string()])?)
}

/// The installation a submitted report belongs to, and whether the server
/// has accepted it (it has a server version).
pub(crate) fn report_owner(conn: &Connection, report_id: Uuid) -> Result<Option<(Uuid, bool)>> {
    Ok(conn
        .prepare_cached(
            "SELECT installation_id, server_version IS NOT NULL FROM installation_reports
             WHERE id = ?1",
        )?
        .query_row([report_id.to_string()], |r| {
            Ok((get_uuid(r, 0)?, r.get(1)?))
        })
        .optional()?)
}

/// Whether the submitted report's signature PNG is here and on the server;
/// `None` when there is no report or it is unsigned.
pub(crate) fn signature_availability(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Option<FileAvailability>> {
    Ok(conn
        .prepare_cached(
            "SELECT signature_on_device, signature_on_server FROM installation_reports
             WHERE installation_id = ?1 AND signature_sha256 IS NOT NULL",
        )?
        .query_row([installation_id.to_string()], |r| {
            Ok(FileAvailability {
                on_this_device: r.get(0)?,
                on_server: r.get(1)?,
            })
        })
        .optional()?)
}

/// `None` until the server accepted the report (or when there is none).
pub(crate) fn report_server_version(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT server_version FROM installation_reports WHERE installation_id = ?1",
        )?
        .query_row([installation_id.to_string()], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Whether a draft or a report holds this signature PNG.
pub(crate) fn uses_signature(conn: &Connection, sha256: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM report_drafts WHERE signature_sha256 = ?1)
                 OR EXISTS (SELECT 1 FROM installation_reports WHERE signature_sha256 = ?1)",
        )?
        .query_row([sha256], |r| r.get(0))?)
}

/// Whether a submitted report for the installation is on this device.
pub(crate) fn has_report(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM installation_reports WHERE installation_id = ?1)",
        )?
        .query_row([installation_id.to_string()], |r| r.get(0))?)
}
