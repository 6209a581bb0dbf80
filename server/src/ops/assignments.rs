//! Reassignment: withdraw one team's assignment and give the installation to
//! another team in one transaction (primary stays primary, backup stays
//! backup). Assigning and withdrawing alone are the `/admin` routes.

use axum::extract::State;
use axum::{Extension, Json};
use fieldbook_domain::validation;
use fieldbook_protocol::{AssignRequest, ErrorBody, ReassignRequest, ReassignResponse};
use uuid::Uuid;

use crate::admin::{assign_in_tx, withdraw_in_tx};
use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::{ApiJson, ApiPath};
use crate::storage::Storage;

pub fn reassign(
    storage: &Storage,
    assignment_id: Uuid,
    request: &ReassignRequest,
    actor: Uuid,
) -> Result<ReassignResponse, ApiError> {
    if let Some(reason) = &request.reason {
        validation::optional_text("reason", reason, validation::MAX_REASON_CHARS)
            .map_err(|e| ApiError::from(fieldbook_domain::ValidationErrors { errors: vec![e] }))?;
    }
    storage.write(|tx| {
        tx.set_actor(actor);
        tx.set_reason(request.reason.clone());
        let old = tx
            .db()
            .assignment(assignment_id)?
            .ok_or_else(|| ApiError::not_found("assignment"))?
            .record;
        if old.team_id == request.team_id {
            return Err(ApiError::conflict(
                "The installation is already assigned to this team: choose another team",
            ));
        }
        let withdrawn = withdraw_in_tx(tx, assignment_id)?;
        let assigned = assign_in_tx(
            tx,
            old.installation_id,
            &AssignRequest {
                team_id: request.team_id,
                is_primary: old.is_primary,
            },
            actor,
        )?;
        Ok(ReassignResponse {
            withdrawn,
            assigned,
        })
    })
}

/// Give an installation to another team: this assignment is withdrawn and
/// the new team assigned (same primary/backup role), in one transaction.
#[utoipa::path(
    post, path = "/api/v1/ops/assignments/{assignment_id}/reassign", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(("assignment_id" = Uuid, Path, description = "The assignment to withdraw")),
    request_body = ReassignRequest,
    responses(
        (status = 200, description = "Withdrawn and assigned", body = ReassignResponse),
        (status = 403, description = "Not Central Ops, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such assignment or team", body = ErrorBody),
        (status = 409, description = "Already withdrawn, or the same team", body = ErrorBody),
    )
)]
pub async fn reassign_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(assignment_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<ReassignRequest>,
) -> Result<Json<ReassignResponse>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || reassign(&state.storage, assignment_id, &request, caller.user_id))
        .await
        .map(Json)
}
