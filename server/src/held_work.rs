//! Central Ops' decisions on held work (see `fieldbook_protocol::held_work`):
//! list it for the review queue, accept it as the installation's report, or
//! keep it on record with a reason. Every decision is written once with who,
//! when and why; accepting also leaves an `accepted_from_held_work` event in
//! the report's audit log.

use axum::extract::State;
use axum::{Extension, Json};
use fieldbook_domain::{lifecycle, validation, InstallationMedia, Mutation, Sha256Hex};
use fieldbook_protocol::{
    AcceptHeldWorkRequest, AcceptedHeldWork, ErrorBody, HeldWork, HeldWorkDecision, HeldWorkQuery,
    HeldWorkStatus, KeepHeldWorkRequest, ReportEvent, ReportEventKind, Versioned,
};
use uuid::Uuid;

use crate::admin::require_ops;
use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::{ApiJson, ApiPath, ApiQuery};
use crate::storage::{Storage, StoredCertificate, WriteTx};

fn field_check(result: Result<(), validation::FieldError>) -> Result<(), ApiError> {
    result.map_err(|e| fieldbook_domain::ValidationErrors { errors: vec![e] }.into())
}

fn waiting(tx: &dyn WriteTx, id: Uuid) -> Result<HeldWork, ApiError> {
    let held = tx
        .db()
        .held_work(id)?
        .ok_or_else(|| ApiError::not_found("held work"))?;
    if held.status != HeldWorkStatus::Waiting {
        return Err(ApiError::conflict(format!(
            "This held work was already decided ({}); a decision is final",
            held.status.as_str()
        )));
    }
    Ok(held)
}

/// Applies the held photo / video changes to the installation, in the order
/// they arrived, and returns the hashes of the held photos and videos that
/// remain (what the technician's report was signed over, when they had no
/// team-mates' media).
fn apply_held_media(tx: &mut dyn WriteTx, held: &HeldWork) -> Result<Vec<Sha256Hex>, ApiError> {
    let mut attached: Vec<InstallationMedia> = Vec::new();
    for held_mutation in &held.mutations {
        match &held_mutation.mutation {
            Mutation::MediaAttach { media } => {
                let mut media = media.clone();
                // Media belongs to whoever pushed it, whatever the payload says.
                media.uploaded_by = held.submitted_by;
                if tx.db().media(media.id)?.is_none() {
                    tx.save_media(&media)?;
                }
                attached.push(media);
            }
            Mutation::MediaCaption { media_id, caption } => {
                if let Some(mut media) = own_media(tx, held, *media_id)? {
                    media.caption = caption.clone();
                    tx.save_media(&media)?;
                }
                if let Some(m) = attached.iter_mut().find(|m| m.id == *media_id) {
                    m.caption = caption.clone();
                }
            }
            Mutation::MediaRemove { media_id } => {
                if let Some(media) = own_media(tx, held, *media_id)? {
                    tx.delete_media(&media)?;
                }
                attached.retain(|m| m.id != *media_id);
            }
            // Lifecycle moves and flags are kept on record only: accepting
            // decides the status (report_submitted), see `accept`.
            _ => {}
        }
    }
    Ok(attached.into_iter().map(|m| m.file.sha256).collect())
}

/// A media record of the held work's installation uploaded by its sender.
fn own_media(
    tx: &dyn WriteTx,
    held: &HeldWork,
    media_id: Uuid,
) -> Result<Option<InstallationMedia>, ApiError> {
    Ok(tx.db().media(media_id)?.map(|m| m.record).filter(|m| {
        m.installation_id == held.installation_id && m.uploaded_by == held.submitted_by
    }))
}

/// Why held work released with a report is decided (the technician reads it).
const RELEASED_WITH_REPORT: &str = "The job came back to your team and your report was signed over these photos and videos, so they went with the report";

/// Releases `technician`'s held photos and videos for an installation that
/// is back in their scope, when the report they submit was signed over them
/// (the caller checks that): their media are attached as ops' accept would,
/// and the held record is decided `accepted` by the technician, with the
/// reason. Held work that carries a report of its own is left for ops: the
/// device submitted that report once and it is the one to decide on.
/// Returns whether anything was released.
pub(crate) fn release_with_report(
    tx: &mut dyn WriteTx,
    technician: Uuid,
    installation_id: Uuid,
) -> Result<bool, ApiError> {
    let query = HeldWorkQuery {
        status: Some(HeldWorkStatus::Waiting),
        installation_id: Some(installation_id),
    };
    let releasable: Vec<HeldWork> = tx
        .db()
        .held_work_list(&query)?
        .into_iter()
        .filter(|held| held.submitted_by == technician && !held.has_report)
        .collect();
    for held in &releasable {
        apply_held_media(tx, held)?;
        let decision = HeldWorkDecision {
            status: HeldWorkStatus::Accepted,
            decided_by: technician,
            decided_at: tx.now(),
            reason: Some(RELEASED_WITH_REPORT.to_owned()),
        };
        if !tx.decide_held_work(held.id, &decision)? {
            return Err(ApiError::internal());
        }
    }
    Ok(!releasable.is_empty())
}

/// Held records, oldest first (the review queue lists the waiting ones).
pub fn list(storage: &Storage, query: &HeldWorkQuery) -> Result<Vec<HeldWork>, ApiError> {
    storage.read(|db| Ok(db.held_work_list(query)?))
}

/// Accepts held work. With a report: as the installation's report, only
/// when the installation has none (one report per installation). Its photos and videos are attached first (the report's content hash
/// covers them), then the report, and the installation moves to
/// `report_submitted` from whatever state ops had moved it to, so the
/// ordinary review (close, or send back) follows. The technician's lifecycle
/// moves (finish, could not complete) are not replayed: accepting the report
/// is the decision about the status. With photos or videos but no report:
/// they are attached and the status stays (`attach_held_media_only`).
pub fn accept(
    storage: &Storage,
    id: Uuid,
    decided_by: Uuid,
    request: &AcceptHeldWorkRequest,
) -> Result<AcceptedHeldWork, ApiError> {
    let note = request
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if let Some(note) = &note {
        field_check(validation::optional_text(
            "note",
            note,
            validation::MAX_REASON_CHARS,
        ))?;
    }
    storage.write(|tx| {
        let held = waiting(tx, id)?;
        let mut installation = tx
            .db()
            .installation(held.installation_id)?
            .ok_or_else(ApiError::internal)?
            .record;
        let Some((report_mutation_id, report)) =
            held.mutations.iter().rev().find_map(|m| match &m.mutation {
                Mutation::ReportSubmit { report } => Some((m.mutation_id, report)),
                _ => None,
            })
        else {
            return attach_held_media_only(tx, &held, decided_by, note.clone());
        };
        if tx.db().report_of(installation.id)?.is_some() {
            return Err(ApiError::conflict(
                "The installation already has a report (one per installation): keep this work on record instead",
            ));
        }
        let mut report = (**report).clone();
        report.submitted_by = held.submitted_by;
        let held_media = apply_held_media(tx, &held)?;
        let all_media = tx.db().media_hashes_of(installation.id)?;
        // Signed over the media on the technician's device: their own, or
        // their own plus team-mates' that the installation still has.
        let template = crate::report_templates::template_of(tx.db(), &report)?;
        if let Err(e) = report.validate(&all_media, template.as_ref()) {
            if report.validate(&held_media, template.as_ref()).is_err() {
                return Err(e.into());
            }
        }
        lifecycle::accept_held_report(&mut installation, report.demo_given, tx.now())?;
        installation.status_reason = note.clone();
        let version = tx.save_installation(&installation)?;
        tx.insert_report(&report)?;
        // The certificate the device made for this report, if it came too.
        let certificate = held.mutations.iter().rev().find_map(|m| match &m.mutation {
            Mutation::ReportCertificate {
                file,
                report_content_hash,
                made_at,
                ..
            } if *report_content_hash == report.content_hash => Some((file, *made_at)),
            _ => None,
        });
        if let Some((file, made_at)) = certificate {
            tx.save_certificate(&StoredCertificate {
                installation_id: installation.id,
                report_id: report.id,
                report_content_hash: report.content_hash.clone(),
                sha256: file.sha256.clone(),
                size: file.size,
                made_at,
                received_at: tx.now(),
                uploaded_by: held.submitted_by,
            })?;
        }
        tx.append_report_event(&ReportEvent {
            event: ReportEventKind::AcceptedFromHeldWork,
            report_id: report.id,
            installation_id: installation.id,
            received_at: tx.now(),
            device_id: None,
            user_id: decided_by,
            mutation_id: Some(report_mutation_id),
            content_hash: report.content_hash.clone(),
            note: note.clone(),
            earlier_version: None,
        })?;
        let decision = HeldWorkDecision {
            status: HeldWorkStatus::Accepted,
            decided_by,
            decided_at: tx.now(),
            reason: note.clone(),
        };
        if !tx.decide_held_work(id, &decision)? {
            return Err(ApiError::internal());
        }
        Ok(AcceptedHeldWork {
            held_work: tx.db().held_work(id)?.ok_or_else(ApiError::internal)?,
            installation: Versioned {
                version,
                record: installation,
            },
        })
    })
}

/// Accepting held work that carries photos or videos but no report: they are
/// attached to the installation as if they had arrived in scope (a
/// technician's photos taken after the job left their team, or after a
/// team-mate's report was in). The installation's state stays as it is:
/// without a report there is no lifecycle decision to make.
fn attach_held_media_only(
    tx: &mut dyn WriteTx,
    held: &HeldWork,
    decided_by: Uuid,
    note: Option<String>,
) -> Result<AcceptedHeldWork, ApiError> {
    let has_media = held
        .mutations
        .iter()
        .any(|m| matches!(m.mutation, Mutation::MediaAttach { .. }));
    if !has_media {
        return Err(ApiError::conflict(
            "This held work has neither a report nor photos or videos to accept: keep it on record instead",
        ));
    }
    apply_held_media(tx, held)?;
    let decision = HeldWorkDecision {
        status: HeldWorkStatus::Accepted,
        decided_by,
        decided_at: tx.now(),
        reason: note,
    };
    if !tx.decide_held_work(held.id, &decision)? {
        return Err(ApiError::internal());
    }
    Ok(AcceptedHeldWork {
        held_work: tx.db().held_work(held.id)?.ok_or_else(ApiError::internal)?,
        installation: tx
            .db()
            .installation(held.installation_id)?
            .ok_or_else(ApiError::internal)?,
    })
}

/// Keeps the held work on record without applying any of it; the reason is
/// required and shown to the technician.
pub fn keep(
    storage: &Storage,
    id: Uuid,
    decided_by: Uuid,
    request: &KeepHeldWorkRequest,
) -> Result<HeldWork, ApiError> {
    field_check(validation::required_text(
        "reason",
        &request.reason,
        validation::MAX_REASON_CHARS,
    ))?;
    storage.write(|tx| {
        waiting(tx, id)?;
        let decision = HeldWorkDecision {
            status: HeldWorkStatus::KeptOnRecord,
            decided_by,
            decided_at: tx.now(),
            reason: Some(request.reason.trim().to_owned()),
        };
        if !tx.decide_held_work(id, &decision)? {
            return Err(ApiError::internal());
        }
        tx.db().held_work(id)?.ok_or_else(ApiError::internal)
    })
}

/// Held work: what technicians sent for installations that had left their
/// scope (ops only).
#[utoipa::path(
    get, path = "/api/v1/admin/held-work", tag = "admin", security(("bearer" = [])),
    params(HeldWorkQuery),
    responses(
        (status = 200, description = "Held records, oldest first", body = Vec<HeldWork>),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 404, description = "Caller is not Central Ops", body = ErrorBody),
    )
)]
pub async fn list_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<HeldWorkQuery>,
) -> Result<Json<Vec<HeldWork>>, ApiError> {
    require_ops(&caller)?;
    blocking(move || list(&state.storage, &query))
        .await
        .map(Json)
}

/// One held record (ops only).
#[utoipa::path(
    get, path = "/api/v1/admin/held-work/{held_work_id}", tag = "admin",
    security(("bearer" = [])),
    params(("held_work_id" = Uuid, Path, description = "Held record id")),
    responses(
        (status = 200, description = "The held record", body = HeldWork),
        (status = 404, description = "No such record, or caller is not Central Ops", body = ErrorBody),
    )
)]
pub async fn get_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<HeldWork>, ApiError> {
    require_ops(&caller)?;
    blocking(move || {
        state.storage.read(|db| {
            db.held_work(id)?
                .ok_or_else(|| ApiError::not_found("held work"))
        })
    })
    .await
    .map(Json)
}

/// Accept held work (ops only): its report as the installation's report, or,
/// when it holds no report, its photos and videos.
#[utoipa::path(
    post, path = "/api/v1/admin/held-work/{held_work_id}/accept", tag = "admin",
    security(("bearer" = [])),
    params(("held_work_id" = Uuid, Path, description = "Held record id")),
    request_body = AcceptHeldWorkRequest,
    responses(
        (status = 200, description = "Accepted: the report and its media are attached and the installation is report_submitted; or, with no report held, the photos and videos are attached and the status is unchanged", body = AcceptedHeldWork),
        (status = 404, description = "No such record, or caller is not Central Ops", body = ErrorBody),
        (status = 409, description = "Already decided, the installation already has a report, or the record holds neither a report nor media", body = ErrorBody),
        (status = 422, description = "The held report is invalid (e.g. its content hash does not match its media), or the note is too long", body = ErrorBody),
    )
)]
pub async fn accept_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<AcceptHeldWorkRequest>,
) -> Result<Json<AcceptedHeldWork>, ApiError> {
    require_ops(&caller)?;
    blocking(move || accept(&state.storage, id, caller.user_id, &request))
        .await
        .map(Json)
}

/// Keep held work on record with a reason, without attaching it (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/held-work/{held_work_id}/keep", tag = "admin",
    security(("bearer" = [])),
    params(("held_work_id" = Uuid, Path, description = "Held record id")),
    request_body = KeepHeldWorkRequest,
    responses(
        (status = 200, description = "Kept on record", body = HeldWork),
        (status = 404, description = "No such record, or caller is not Central Ops", body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody),
        (status = 422, description = "Missing or too long reason", body = ErrorBody),
    )
)]
pub async fn keep_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<KeepHeldWorkRequest>,
) -> Result<Json<HeldWork>, ApiError> {
    require_ops(&caller)?;
    blocking(move || keep(&state.storage, id, caller.user_id, &request))
        .await
        .map(Json)
}
