//! "Send back to the technician": Central Ops return a submitted report
//! with a note (`report_submitted → completed`, see
//! `fieldbook_domain::lifecycle::send_back`).
//!
//! The report stays the installation's report, marked sent back, until the
//! technician resubmits. Their device shows the note (the installation's
//! `status_reason`) and makes the report editable again. The customer's
//! signature covers the report's content hash: a resubmission with the same
//! content keeps it; if the correction changes the content, the device asks
//! the customer to sign again (a signature over another hash is refused).
//! The correction replaces the report (one per installation) and the report
//! events keep the earlier version (`corrected`, with `earlier_version`).

use axum::extract::State;
use axum::{Extension, Json};
use fieldbook_domain::{lifecycle, Installation};
use fieldbook_protocol::{ErrorBody, ReportEvent, ReportEventKind, SendBackRequest, Versioned};
use uuid::Uuid;

use crate::admin::require_ops;
use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::{ApiJson, ApiPath};
use crate::storage::Storage;

/// Sends the installation's report back to the technician with `note`.
pub fn send_back(
    storage: &Storage,
    installation_id: Uuid,
    sent_by: Uuid,
    note: &str,
) -> Result<Versioned<Installation>, ApiError> {
    storage.write(|tx| {
        let mut installation = tx
            .db()
            .installation(installation_id)?
            .ok_or_else(|| ApiError::not_found("installation"))?
            .record;
        let Some((report, _)) = tx.db().report_of(installation_id)? else {
            return Err(ApiError::conflict(
                "The installation has no report to send back",
            ));
        };
        lifecycle::send_back(&mut installation, note, tx.now())?;
        let version = tx.save_installation(&installation)?;
        tx.set_report_sent_back(installation_id, true)?;
        tx.append_report_event(&ReportEvent {
            event: ReportEventKind::SentBack,
            report_id: report.record.id,
            installation_id,
            received_at: tx.now(),
            device_id: None,
            user_id: sent_by,
            mutation_id: None,
            content_hash: report.record.content_hash.clone(),
            note: installation.status_reason.clone(),
            earlier_version: None,
        })?;
        Ok(Versioned {
            version,
            record: installation,
        })
    })
}

/// Send a submitted report back to the technician with a note (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/installations/{installation_id}/send-back", tag = "admin",
    security(("bearer" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    request_body = SendBackRequest,
    responses(
        (status = 200, description = "The installation, now `completed` with the note as `status_reason`"),
        (status = 404, description = "No such installation, or caller is not Central Ops", body = ErrorBody),
        (status = 409, description = "The installation is not report_submitted, or has no report", body = ErrorBody),
        (status = 422, description = "Missing or too long note", body = ErrorBody),
    )
)]
pub async fn send_back_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(installation_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<SendBackRequest>,
) -> Result<Json<Versioned<Installation>>, ApiError> {
    require_ops(&caller)?;
    blocking(move || {
        send_back(
            &state.storage,
            installation_id,
            caller.user_id,
            &request.note,
        )
    })
    .await
    .map(Json)
}
