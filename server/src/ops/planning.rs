//! Planning: approved surveys without an installation, recording a survey,
//! and creating an installation from a survey with its teams in one step.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use fieldbook_protocol::{
    AssignRequest, CreateSurveyRequest, ErrorBody, PlanInstallationRequest, PlannedInstallation,
    UnplannedSurvey,
};
use uuid::Uuid;

use crate::admin::{assign_in_tx, lead_and_survey, planned_installation};
use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::{ApiJson, ApiPath};
use crate::storage::Storage;

/// Most surveys listed at once.
const UNPLANNED_LIMIT: u32 = 500;

/// Records an approved survey and its customer, to plan later.
pub fn create_survey(
    storage: &Storage,
    actor: Uuid,
    request: &CreateSurveyRequest,
) -> Result<UnplannedSurvey, ApiError> {
    let (lead, survey) = lead_and_survey(&request.lead, &request.survey)?;
    storage.write(|tx| {
        tx.set_actor(actor);
        let lead_version = tx.save_lead(&lead)?;
        let survey_version = tx.save_survey(&survey)?;
        Ok(UnplannedSurvey {
            survey: fieldbook_protocol::Versioned {
                version: survey_version,
                record: survey.clone(),
            },
            lead: fieldbook_protocol::Versioned {
                version: lead_version,
                record: lead.clone(),
            },
        })
    })
}

/// Creates the installation of an approved survey and assigns its primary
/// (and optional backup) team, all or nothing.
pub fn plan_installation(
    storage: &Storage,
    survey_id: Uuid,
    request: &PlanInstallationRequest,
    created_by: Uuid,
) -> Result<PlannedInstallation, ApiError> {
    if request.backup_team_id.is_some() && request.primary_team_id.is_none() {
        return Err(ApiError::bad_request(
            "A backup team needs a primary team: choose the primary team first",
        ));
    }
    if request.backup_team_id.is_some() && request.backup_team_id == request.primary_team_id {
        return Err(ApiError::bad_request(
            "The backup team must differ from the primary team",
        ));
    }
    storage.write(|tx| {
        tx.set_actor(created_by);
        let survey = tx
            .db()
            .survey(survey_id)?
            .ok_or_else(|| ApiError::not_found("survey"))?
            .record;
        if tx.db().survey_is_planned(survey_id)? {
            return Err(ApiError::conflict(
                "This survey already has an installation: open it from the list",
            ));
        }
        let installation = planned_installation(
            tx,
            &survey,
            created_by,
            request.scheduled_date,
            request.scheduled_time_slot,
        )?;
        tx.save_installation(&installation)?;
        let mut assignments = Vec::new();
        for (team_id, is_primary) in [
            (request.primary_team_id, true),
            (request.backup_team_id, false),
        ] {
            if let Some(team_id) = team_id {
                let request = AssignRequest {
                    team_id,
                    is_primary,
                };
                assignments.push(assign_in_tx(tx, installation.id, &request, created_by)?);
            }
        }
        // Assigning gave the installation a newer version; answer with it.
        let installation = tx
            .db()
            .installation(installation.id)?
            .ok_or_else(ApiError::internal)?;
        Ok(PlannedInstallation {
            installation,
            assignments,
        })
    })
}

/// Approved surveys that have no installation yet, oldest approval first.
#[utoipa::path(
    get, path = "/api/v1/ops/surveys/unplanned", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Surveys with their customers (at most 500)", body = Vec<UnplannedSurvey>),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
    )
)]
pub async fn unplanned_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<UnplannedSurvey>>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || {
        let rows = state
            .storage
            .read(|db| db.unplanned_surveys(UNPLANNED_LIMIT))?;
        Ok(rows
            .into_iter()
            .map(|(survey, lead)| UnplannedSurvey { survey, lead })
            .collect())
    })
    .await
    .map(Json)
}

/// Record an approved survey (and its customer) to plan later.
#[utoipa::path(
    post, path = "/api/v1/ops/surveys", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CreateSurveyRequest,
    responses(
        (status = 201, description = "Recorded", body = UnplannedSurvey),
        (status = 403, description = "Not Central Ops, or missing CSRF token", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    )
)]
pub async fn create_survey_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<CreateSurveyRequest>,
) -> Result<(StatusCode, Json<UnplannedSurvey>), ApiError> {
    super::require_ops(&caller)?;
    blocking(move || create_survey(&state.storage, caller.user_id, &request))
        .await
        .map(|s| (StatusCode::CREATED, Json(s)))
}

/// Create the installation of an approved survey, with date, time slot and
/// teams (primary, optional backup), in one transaction.
#[utoipa::path(
    post, path = "/api/v1/ops/surveys/{survey_id}/installation", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(("survey_id" = Uuid, Path, description = "Survey id")),
    request_body = PlanInstallationRequest,
    responses(
        (status = 201, description = "Planned", body = PlannedInstallation),
        (status = 400, description = "Backup without primary, or the same team twice", body = ErrorBody),
        (status = 403, description = "Not Central Ops, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such survey or team", body = ErrorBody),
        (status = 409, description = "The survey already has an installation", body = ErrorBody),
    )
)]
pub async fn plan_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(survey_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<PlanInstallationRequest>,
) -> Result<(StatusCode, Json<PlannedInstallation>), ApiError> {
    super::require_ops(&caller)?;
    blocking(move || plan_installation(&state.storage, survey_id, &request, caller.user_id))
        .await
        .map(|p| (StatusCode::CREATED, Json(p)))
}
