//! Pulled reports and photos / videos: placed on their installation, or
//! kept waiting for the page that brings it.

use std::collections::HashSet;

use chrono::Utc;
use fieldbook_domain::InstallationStatus;
use fieldbook_media::MediaStore;
use rusqlite::Connection;
use uuid::Uuid;

use super::page::{ServerMedia, ServerReport};
use crate::error::{Result, StoreError};
use crate::rows::{awaiting, installations, media, outbox, reports};

/// Applies a submitted report the server sent. The server keeps one report
/// per installation:
/// - this device's own report (same id) only learns its server version and
///   whether the server has the signature; its local file stays as is;
/// - another device's report takes the report's place; what this device
///   typed is kept as a read-only draft naming the report that won (its own
///   not-accepted report is turned back into that draft, its outbox entry
///   stays for the push to answer), for the technician to see and dismiss.
pub(super) fn apply_report(
    conn: &Connection,
    files: &MediaStore,
    pulled: &ServerReport,
    server_version: i64,
) -> Result<()> {
    let report = &pulled.report;
    let installation_id = report.installation_id;
    let now = Utc::now();
    match reports::load_report(conn, installation_id)? {
        Some(local) if local.id == report.id => {
            reports::set_server_state(conn, report.id, server_version, pulled.signature_on_server)?;
            return Ok(());
        }
        Some(local) => {
            tracing::debug!(
                installation = %installation_id,
                ours = %local.id,
                theirs = %report.id,
                "another device's report won; ours is kept as a read-only draft"
            );
            reports::write_draft(conn, &reports::draft_from_report(&local, now))?;
            reports::delete_report(conn, local.id)?;
        }
        None => {
            // The draft is this very report, sent back for correction: it
            // stays the draft while the job is still `completed`.
            let still_sent_back = reports::reopened_report_id(conn, installation_id)?
                == Some(report.id)
                && installations::load(conn, installation_id)?.0.status
                    == InstallationStatus::Completed;
            if still_sent_back {
                return Ok(());
            }
        }
    }
    reports::mark_draft_superseded(conn, installation_id, report.id, now)?;
    reports::insert_report(conn, report)?;
    // Content-addressed: the signature may already be here (e.g. the same
    // PNG was imported on this device); otherwise it is only on the server.
    let signature_on_device = report
        .customer_signature
        .as_ref()
        .is_none_or(|sig| files.blob_path(&sig.png.sha256).is_file());
    reports::set_pulled_state(
        conn,
        report.id,
        server_version,
        pulled.signature_on_server,
        signature_on_device,
    )?;
    Ok(())
}

/// Applies a photo or video record the server sent. A row this device
/// already has (attached here, or pulled before) takes the server's caption
/// and version and keeps its file state: files attached here stay local. A
/// new row (attached on another device) records whether its bytes happen to
/// be here; it is never queued for upload — it is not this device's to send.
/// Pending local caption changes and removals are re-applied afterwards by
/// the rebase.
pub(super) fn apply_media(
    conn: &Connection,
    files: &MediaStore,
    pulled: &ServerMedia,
    server_version: i64,
) -> Result<()> {
    let m = &pulled.media;
    if media::update_pulled(conn, m, server_version, pulled.file_on_server)? {
        return Ok(());
    }
    let on_device = files.blob_path(&m.file.sha256).is_file();
    media::insert_pulled(conn, m, server_version, on_device, pulled.file_on_server)
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
pub(super) fn reopen_if_sent_back(
    conn: &Connection,
    installation_id: Uuid,
    server_status: InstallationStatus,
) -> Result<bool> {
    if server_status != InstallationStatus::Completed {
        return Ok(false);
    }
    let Some(report) = reports::load_report(conn, installation_id)? else {
        return Ok(false);
    };
    if outbox::has_kind_for_installation(
        conn,
        installation_id,
        fieldbook_domain::MutationKind::ReportSubmit,
    )? {
        return Ok(false);
    }
    tracing::debug!(
        installation = %installation_id,
        report = %report.id,
        "report sent back by Central Ops; reopened as a draft"
    );
    reports::write_draft(conn, &reports::draft_from_report(&report, Utc::now()))?;
    reports::set_reopened_report_id(conn, installation_id, report.id)?;
    reports::delete_report(conn, report.id)?;
    Ok(true)
}

/// Places the pulled reports and media whose installation is now here,
/// oldest version first. Returns the media ids placed (for the rebase).
pub(super) fn place_waiting(conn: &Connection, files: &MediaStore) -> Result<HashSet<Uuid>> {
    let mut placed_media = HashSet::new();
    for waiting in awaiting::ready(conn)? {
        let corrupt = |e: serde_json::Error| {
            StoreError::Corrupt(format!(
                "pulled {} {} waiting: {e}",
                waiting.entity, waiting.id
            ))
        };
        if waiting.entity == "report" {
            let pulled: ServerReport = serde_json::from_str(&waiting.body).map_err(corrupt)?;
            apply_report(conn, files, &pulled, waiting.server_version)?;
        } else {
            let pulled: ServerMedia = serde_json::from_str(&waiting.body).map_err(corrupt)?;
            apply_media(conn, files, &pulled, waiting.server_version)?;
            placed_media.insert(pulled.media.id);
        }
        awaiting::delete(conn, &waiting.entity, &waiting.id)?;
    }
    Ok(placed_media)
}
