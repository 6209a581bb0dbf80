//! The installation report: the local draft (autosaved on every change), the
//! customer's signature bound to the content on screen, and submission.

use chrono::{DateTime, Utc};
use fieldbook_domain::{
    BlobRef, CustomerSignature, InstallationReport, Mutation, ReportCheck, ReportDraft,
    SignatureStroke,
};
use fieldbook_media::MediaStore;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_json, get_opt_parsed, get_parsed, get_ts, get_uuid, to_json, ts};
use crate::error::{Result, StoreError};
use crate::media::FileAvailability;
use crate::sync_state::ServerReport;
use crate::{installations, media, outbox, session, Store};

/// What an autosave returns: the draft as stored and the domain's check of
/// it (problems to show while typing — the draft is saved regardless, so
/// nothing typed is lost —, what is missing before submit, and whether an
/// existing signature still matches the content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DraftSaved {
    pub draft: ReportDraft,
    #[serde(flatten)]
    pub check: ReportCheck,
}

/// The customer's signature as captured by the signature pad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureInput {
    /// The rendered signature, PNG bytes.
    pub png: Vec<u8>,
    pub strokes: Vec<SignatureStroke>,
    pub signer_name: String,
}

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

pub(crate) fn load_draft(conn: &Connection, installation_id: Uuid) -> Result<Option<ReportDraft>> {
    let sql = format!(
        "SELECT installation_id, charger_serial_number, charger_model, installation_successful,
                demo_given, issues_encountered, general_notes, start_override_reason, updated_at,
                {SIGNATURE_COLUMNS}
         FROM report_drafts WHERE installation_id = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([installation_id.to_string()], |r| {
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
            })
        })
        .optional()?)
}

/// Writes the draft's fields; a draft reopened from a sent-back report keeps
/// that report's id.
fn write_draft(conn: &Connection, d: &ReportDraft) -> Result<()> {
    let s = signature_values(d.customer_signature.as_ref());
    let sql = format!(
        "INSERT OR REPLACE INTO report_drafts (installation_id, charger_serial_number,
             charger_model, installation_successful, demo_given, issues_encountered,
             general_notes, start_override_reason, updated_at, {SIGNATURE_COLUMNS},
             reopened_report_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 (SELECT reopened_report_id FROM report_drafts WHERE installation_id = ?1))"
    );
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
    ])?;
    Ok(())
}

pub(crate) fn load_report(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Option<InstallationReport>> {
    let sql = format!(
        "SELECT id, installation_id, submitted_by, charger_serial_number, charger_model,
                installation_successful, demo_given, issues_encountered, general_notes,
                submitted_at, start_override_reason, content_hash, {SIGNATURE_COLUMNS}
         FROM installation_reports WHERE installation_id = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([installation_id.to_string()], |r| {
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
            })
        })
        .optional()?)
}

fn insert_report(conn: &Connection, rep: &InstallationReport) -> Result<()> {
    let s = signature_values(rep.customer_signature.as_ref());
    let sql = format!(
        "INSERT INTO installation_reports (id, installation_id, submitted_by,
             charger_serial_number, charger_model, installation_successful, demo_given,
             issues_encountered, general_notes, submitted_at, start_override_reason,
             content_hash, {SIGNATURE_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                 ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
    );
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
    ])?;
    Ok(())
}

/// The report's fields and signature as an editable draft again.
fn draft_from_report(report: &InstallationReport, now: DateTime<Utc>) -> ReportDraft {
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
    }
}

/// Applies a submitted report the server sent. The server keeps one report
/// per installation:
/// - this device's own report (same id) only learns its server version and
///   whether the server has the signature; its local file stays as is;
/// - another device's report takes the report's place; what this device
///   typed is kept as a read-only draft naming the report that won (its own
///   not-accepted report is turned back into that draft, its outbox entry
///   stays for the push to answer), for the technician to see and dismiss.
pub(crate) fn apply_pulled_report(
    conn: &Connection,
    files: &MediaStore,
    pulled: &ServerReport,
    server_version: i64,
) -> Result<()> {
    let report = &pulled.report;
    let installation_id = report.installation_id;
    let now = Utc::now();
    match load_report(conn, installation_id)? {
        Some(local) if local.id == report.id => {
            conn.prepare_cached(
                "UPDATE installation_reports
                 SET server_version = ?2, signature_on_server = ?3
                 WHERE id = ?1 AND coalesce(server_version, 0) <= ?2",
            )?
            .execute(params![
                report.id.to_string(),
                server_version,
                pulled.signature_on_server
            ])?;
            return Ok(());
        }
        Some(local) => {
            write_draft(conn, &draft_from_report(&local, now))?;
            conn.prepare_cached("DELETE FROM installation_reports WHERE id = ?1")?
                .execute([local.id.to_string()])?;
        }
        None => {
            // The draft is this very report, sent back for correction: it
            // stays the draft while the job is still `completed`.
            let still_sent_back = reopened_report_id(conn, installation_id)? == Some(report.id)
                && installations::load(conn, installation_id)?.0.status
                    == fieldbook_domain::InstallationStatus::Completed;
            if still_sent_back {
                return Ok(());
            }
        }
    }
    conn.prepare_cached(
        "UPDATE report_drafts
         SET superseded_by_report = ?2, superseded_at = coalesce(superseded_at, ?3)
         WHERE installation_id = ?1",
    )?
    .execute(params![
        installation_id.to_string(),
        report.id.to_string(),
        ts(&now)
    ])?;
    insert_report(conn, report)?;
    // Content-addressed: the signature may already be here (e.g. the same
    // PNG was imported on this device); otherwise it is only on the server.
    let signature_on_device = report
        .customer_signature
        .as_ref()
        .is_none_or(|sig| files.blob_path(&sig.png.sha256).is_file());
    conn.prepare_cached(
        "UPDATE installation_reports
         SET server_version = ?2, signature_on_server = ?3, signature_on_device = ?4
         WHERE id = ?1",
    )?
    .execute(params![
        report.id.to_string(),
        server_version,
        pulled.signature_on_server,
        signature_on_device
    ])?;
    Ok(())
}

/// The id of the sent-back report a draft was reopened from.
fn reopened_report_id(conn: &Connection, installation_id: Uuid) -> Result<Option<Uuid>> {
    Ok(conn
        .prepare_cached("SELECT reopened_report_id FROM report_drafts WHERE installation_id = ?1")?
        .query_row([installation_id.to_string()], |r| get_opt_parsed(r, 0))
        .optional()?
        .flatten())
}

/// Central Ops sent the report back (the server's installation is
/// `completed` while this device holds the submitted report): the report
/// becomes an editable draft again — fields and signature as submitted —
/// that remembers the report's id, which the resubmission keeps (the server
/// replaces the report and keeps the earlier version in its audit log). The
/// note is the installation's `status_reason`. The signature covers the
/// content hash: if the correction changes the content, the customer signs
/// again (the draft's signature then no longer matches). Not while this
/// device's own submission is unsent. Returns whether it reopened one.
pub(crate) fn reopen_if_sent_back(
    conn: &Connection,
    installation_id: Uuid,
    server_status: fieldbook_domain::InstallationStatus,
) -> Result<bool> {
    if server_status != fieldbook_domain::InstallationStatus::Completed {
        return Ok(false);
    }
    let Some(report) = load_report(conn, installation_id)? else {
        return Ok(false);
    };
    let submit_unsent: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE installation_id = ?1 AND kind = ?2)",
        )?
        .query_row(
            params![
                installation_id.to_string(),
                fieldbook_domain::MutationKind::ReportSubmit.as_str()
            ],
            |r| r.get(0),
        )?;
    if submit_unsent {
        return Ok(false);
    }
    write_draft(conn, &draft_from_report(&report, Utc::now()))?;
    conn.prepare_cached(
        "UPDATE report_drafts SET reopened_report_id = ?2 WHERE installation_id = ?1",
    )?
    .execute(params![installation_id.to_string(), report.id.to_string()])?;
    conn.prepare_cached("DELETE FROM installation_reports WHERE id = ?1")?
        .execute([report.id.to_string()])?;
    Ok(true)
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

/// Submitted here, or (status from the server) on another device of the team.
pub(crate) fn is_submitted(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM installation_reports WHERE installation_id = ?1)
                 OR EXISTS (SELECT 1 FROM installations
                            WHERE id = ?1 AND status IN ('report_submitted', 'closed'))",
        )?
        .query_row([installation_id.to_string()], |r| r.get(0))?)
}

pub(crate) fn refuse_if_submitted(conn: &Connection, installation_id: Uuid) -> Result<()> {
    if is_submitted(conn, installation_id)? {
        return Err(StoreError::ReportSubmitted);
    }
    Ok(())
}

/// Creates an empty draft when the job starts, so the report screen has
/// something to autosave into.
pub(crate) fn ensure_draft(
    conn: &Connection,
    installation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    if load_draft(conn, installation_id)?.is_none() {
        write_draft(conn, &ReportDraft::new(installation_id, now))?;
    }
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

impl Store {
    pub fn get_report_draft(&self, installation_id: Uuid) -> Result<Option<ReportDraft>> {
        load_draft(&self.conn, installation_id)
    }

    pub fn get_report(&self, installation_id: Uuid) -> Result<Option<InstallationReport>> {
        load_report(&self.conn, installation_id)
    }

    /// Autosave. Stores what was typed even when it is too long or has
    /// control characters (those come back in `check.problems`); refused once the
    /// report is submitted. The signature and the "start anyway" reason are
    /// kept as stored: only [`Store::sign_report`] and
    /// [`Store::start_installation`] set them.
    pub fn save_report_draft(&mut self, draft: &ReportDraft) -> Result<DraftSaved> {
        let installation_id = draft.installation_id;
        self.in_write_transaction(|tx, _| {
            let (installation, _) = installations::load(tx, installation_id)?;
            refuse_if_submitted(tx, installation_id)?;
            let stored = load_draft(tx, installation_id)?;
            let mut draft = draft.clone();
            draft.customer_signature = stored.as_ref().and_then(|d| d.customer_signature.clone());
            draft.start_override_reason = stored.and_then(|d| d.start_override_reason);
            draft.updated_at = Utc::now();
            write_draft(tx, &draft)?;
            let media = media::hashes_for_installation(tx, installation_id)?;
            Ok(DraftSaved {
                check: draft.check(&media, installation.status),
                draft,
            })
        })
    }

    /// The customer signs: stores the PNG in the media store, and binds the
    /// signature (strokes, name, time) to the hash of the report content and
    /// media currently on screen.
    pub fn sign_report(
        &mut self,
        installation_id: Uuid,
        input: &SignatureInput,
    ) -> Result<ReportDraft> {
        // Refuse early so a submitted report does not even store a new PNG.
        installations::load(&self.conn, installation_id)?;
        refuse_if_submitted(&self.conn, installation_id)?;
        // Outside the transaction: a file import. If the transaction then
        // fails, the file it created is removed again.
        let png = self.media.import_bytes(&input.png)?;
        let blob = png.blob.clone();
        let signed = self.in_write_transaction(|tx, _| {
            refuse_if_submitted(tx, installation_id)?;
            let now = Utc::now();
            let mut draft = load_draft(tx, installation_id)?
                .unwrap_or_else(|| ReportDraft::new(installation_id, now));
            let media = media::hashes_for_installation(tx, installation_id)?;
            let signature = CustomerSignature {
                png: blob,
                strokes: input.strokes.clone(),
                signer_name: input.signer_name.trim().to_owned(),
                signed_at: now,
                content_hash: draft.content_hash(&media),
            };
            signature.validate()?;
            draft.customer_signature = Some(signature);
            draft.updated_at = now;
            write_draft(tx, &draft)?;
            Ok(draft)
        });
        if signed.is_err() {
            self.forget_new_file(&png);
        }
        signed
    }

    /// The server refused this device's `report.submit` (parked as needing
    /// attention, e.g. its content hash did not match the media the server
    /// has): the report becomes an editable draft again — fields and
    /// signature as submitted — so the technician can fix it and submit
    /// again. Not for a conflict answer: the server kept that report. Returns
    /// whether such an entry was there.
    pub fn reopen_refused_report(&mut self, mutation_id: Uuid) -> Result<bool> {
        self.in_write_transaction(|tx, _| {
            let entry: Option<(String, String)> = tx
                .prepare_cached("SELECT payload, state FROM outbox WHERE mutation_id = ?1")?
                .query_row([mutation_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((payload, state)) = entry else {
                return Ok(false);
            };
            let mutation: Mutation = serde_json::from_str(&payload)
                .map_err(|e| StoreError::Corrupt(format!("outbox entry {mutation_id}: {e}")))?;
            let Mutation::ReportSubmit { report } = mutation else {
                return Ok(false);
            };
            if state != "needs_attention" {
                return Ok(false);
            }
            let installation_id = report.installation_id;
            // A report from another device won meanwhile: this one is kept
            // as the superseded draft; reopening would hide that.
            if load_report(tx, installation_id)?.is_some_and(|kept| kept.id != report.id) {
                return Ok(false);
            }
            write_draft(tx, &draft_from_report(&report, Utc::now()))?;
            tx.prepare_cached("DELETE FROM installation_reports WHERE id = ?1")?
                .execute([report.id.to_string()])?;
            tx.prepare_cached("DELETE FROM outbox WHERE mutation_id = ?1")?
                .execute([mutation_id.to_string()])?;
            crate::sync_state::rebase_installation(tx, installation_id)?;
            Ok(true)
        })
    }

    /// The technician has seen that another device's report won over their
    /// draft and lets the draft go. Only a superseded draft can be dismissed
    /// this way. A job kept only for it (it left this device's scope) goes
    /// with it. Returns whether such a draft was there.
    pub fn dismiss_superseded_draft(&mut self, installation_id: Uuid) -> Result<bool> {
        self.search_index.get_mut().take();
        self.in_write_transaction(|tx, _| {
            let n = tx
                .prepare_cached(
                    "DELETE FROM report_drafts
                     WHERE installation_id = ?1 AND superseded_by_report IS NOT NULL",
                )?
                .execute([installation_id.to_string()])?;
            if n > 0 {
                crate::sync_state::remove_if_left_scope_and_sent(tx, installation_id)?;
            }
            Ok(n > 0)
        })
    }

    /// Submits the report: validates the draft against the media attached
    /// now, stores the read-only report, moves the installation
    /// completed → report_submitted (setting demo_completed), completes the
    /// signed-in user's teams' assignments and queues `report.submit` and the
    /// signature upload — all in one transaction.
    pub fn submit_report(&mut self, installation_id: Uuid) -> Result<InstallationReport> {
        self.in_write_transaction(|tx, ctx| {
            let now = Utc::now();
            let session = session::require(tx)?;
            let (mut inst, base_version) = installations::load(tx, installation_id)?;
            refuse_if_submitted(tx, installation_id)?;
            let draft = load_draft(tx, installation_id)?
                .unwrap_or_else(|| ReportDraft::new(installation_id, now));
            let media = media::hashes_for_installation(tx, installation_id)?;
            // A sent-back report keeps its id when resubmitted.
            let report_id = reopened_report_id(tx, installation_id)?.unwrap_or_else(Uuid::new_v4);
            let report = draft.into_report(report_id, session.user.id, now, &media)?;
            fieldbook_domain::lifecycle::submit_report(&mut inst, report.demo_given, now)?;
            installations::save_state(tx, &inst)?;
            insert_report(tx, &report)?;
            installations::complete_my_assignments(tx, installation_id, &session.team_ids)?;
            if let Some(sig) = &report.customer_signature {
                media::queue_blob(tx, ctx.media, &sig.png, now)?;
            }
            let mutation = Mutation::ReportSubmit {
                report: Box::new(report.clone()),
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(installation_id),
                Some(base_version),
                now,
            )?;
            Ok(report)
        })
    }
}
