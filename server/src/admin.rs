//! What Central Ops does: users, teams, installations, assignments, ops
//! lifecycle moves. The same functions back the `fieldbook-server`
//! subcommands and the `/api/v1/admin/...` routes (ops users only; to anyone
//! else these routes answer 404, as if they did not exist).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{NaiveDate, Utc};
use fieldbook_domain::{
    lifecycle, validation, AssignmentStatus, Installation, InstallationAssignment,
    InstallationStatus, Lead, Role, Survey, Team, TimeSlot, User,
};
use fieldbook_protocol::{
    AddTeamMemberRequest, AssignRequest, CreateInstallationRequest, CreateTeamRequest,
    CreateUserRequest, ErrorBody, LeadInput, SurveyInput, TransitionRequest, Versioned,
    WithdrawRequest,
};
use uuid::Uuid;

use crate::app::AppState;
use crate::caller::Caller;
use crate::config::PasswordHashing;
use crate::error::{blocking, ApiError};
use crate::json::{ApiJson, ApiPath};
use crate::password::{hash_password, PasswordError};
use crate::storage::{Storage, WriteTx};

use fieldbook_domain::validation::MAX_USERNAME_CHARS;

fn validation_error(field: &str, message: impl Into<String>) -> ApiError {
    fieldbook_domain::ValidationErrors {
        errors: vec![validation::FieldError::new(
            field,
            validation::FieldErrorCode::InvalidFormat,
            message,
        )],
    }
    .into()
}

fn field_check(result: Result<(), validation::FieldError>) -> Result<(), ApiError> {
    result.map_err(|e| fieldbook_domain::ValidationErrors { errors: vec![e] }.into())
}

/// Adds a user.
pub fn create_user(
    storage: &Storage,
    hashing: PasswordHashing,
    request: &CreateUserRequest,
) -> Result<Versioned<User>, ApiError> {
    let username = request.username.trim();
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_CHARS
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(validation_error(
            "username",
            "Use 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ));
    }
    field_check(validation::person_name("full_name", &request.full_name))?;
    let hash = hash_password(&request.password, hashing).map_err(|e| match e {
        PasswordError::BadLength => validation_error("password", e.to_string()),
        PasswordError::Hashing(_) => {
            tracing::error!(error = %e, "password hashing");
            ApiError::internal()
        }
    })?;
    let user = User {
        id: Uuid::new_v4(),
        username: username.to_owned(),
        full_name: request.full_name.trim().to_owned(),
        role: request.role,
    };
    storage.write(|tx| {
        if tx.db().user_by_username(&user.username)?.is_some() {
            return Err(ApiError::conflict(format!(
                "A user named {:?} already exists",
                user.username
            )));
        }
        let version = tx.insert_user(&user, &hash)?;
        Ok(Versioned {
            version,
            record: user.clone(),
        })
    })
}

/// Adds a team with initial members.
pub fn create_team(
    storage: &Storage,
    request: &CreateTeamRequest,
) -> Result<Versioned<Team>, ApiError> {
    field_check(validation::person_name("name", &request.name))?;
    let name = request.name.trim().to_owned();
    storage.write(|tx| {
        if tx.db().team_by_name(&name)?.is_some() {
            return Err(ApiError::conflict(format!(
                "A team named {name:?} already exists"
            )));
        }
        let id = Uuid::new_v4();
        tx.insert_team(id, &name)?;
        for user in &request.member_ids {
            if tx.db().user(*user)?.is_none() {
                return Err(ApiError::not_found("user"));
            }
            tx.add_team_member(id, *user)?;
        }
        tx.db().team(id)?.ok_or_else(ApiError::internal)
    })
}

/// Adds a member to a team.
pub fn add_team_member(
    storage: &Storage,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<Versioned<Team>, ApiError> {
    storage.write(|tx| {
        if tx.db().team(team_id)?.is_none() {
            return Err(ApiError::not_found("team"));
        }
        if tx.db().user(user_id)?.is_none() {
            return Err(ApiError::not_found("user"));
        }
        tx.add_team_member(team_id, user_id)?;
        tx.db().team(team_id)?.ok_or_else(ApiError::internal)
    })
}

/// Removes a member from a team. Their tokens stay valid; their next pull
/// carries tombstones for what they no longer see (scope is computed per
/// request, never stored in the token).
pub fn remove_team_member(
    storage: &Storage,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<Versioned<Team>, ApiError> {
    storage.write(|tx| {
        if tx.db().team(team_id)?.is_none() {
            return Err(ApiError::not_found("team"));
        }
        if !tx.remove_team_member(team_id, user_id)? {
            return Err(ApiError::not_found("team member"));
        }
        tx.db().team(team_id)?.ok_or_else(ApiError::internal)
    })
}

/// Plans an installation (with its lead and approved survey); the server
/// assigns `INS-YYYY-NNNNNN`.
pub fn create_installation(
    storage: &Storage,
    created_by: Uuid,
    request: &CreateInstallationRequest,
) -> Result<Versioned<Installation>, ApiError> {
    let (lead, survey) = lead_and_survey(&request.lead, &request.survey)?;
    storage.write(|tx| {
        match tx.db().user(created_by)? {
            Some(u) if u.record.role == Role::Ops => {}
            _ => return Err(ApiError::forbidden("Only Central Ops create installations")),
        }
        tx.set_actor(created_by);
        tx.save_lead(&lead)?;
        tx.save_survey(&survey)?;
        let installation = planned_installation(
            tx,
            &survey,
            created_by,
            request.scheduled_date,
            request.scheduled_time_slot,
        )?;
        let version = tx.save_installation(&installation)?;
        Ok(Versioned {
            version,
            record: installation,
        })
    })
}

/// A new `planned` installation of an approved survey, with the next
/// `INS-YYYY-NNNNNN` (not saved yet).
pub fn planned_installation(
    tx: &mut dyn WriteTx,
    survey: &Survey,
    created_by: Uuid,
    scheduled_date: NaiveDate,
    scheduled_time_slot: TimeSlot,
) -> Result<Installation, ApiError> {
    Ok(Installation {
        id: Uuid::new_v4(),
        installation_id: tx.next_installation_id()?,
        survey_id: survey.id,
        lead_id: survey.lead_id,
        scheduled_date,
        scheduled_time_slot,
        status: InstallationStatus::Planned,
        material_ready: false,
        customer_confirmed: false,
        demo_completed: false,
        created_by,
        created_at: tx.now(),
        updated_at: tx.now(),
        status_reason: None,
        ops_review_note: None,
        report_template_id: None,
    })
}

/// A validated new lead and its approved survey (ids assigned here).
pub fn lead_and_survey(lead: &LeadInput, survey: &SurveyInput) -> Result<(Lead, Survey), ApiError> {
    field_check(validation::person_name(
        "customer_name",
        &lead.customer_name,
    ))?;
    field_check(validation::required_text(
        "address_line1",
        &lead.address_line1,
        validation::MAX_NAME_CHARS,
    ))?;
    field_check(validation::charger_model(&survey.recommended_charger_model))?;
    // Every other text of the lead and survey is fanned out to the team's
    // devices: bounded like the technician's own fields.
    for (field, value, max) in [
        ("phone", &lead.phone, validation::MAX_PHONE_CHARS),
        ("email", &lead.email, validation::MAX_EMAIL_CHARS),
        (
            "address_line2",
            &lead.address_line2,
            validation::MAX_ADDRESS_CHARS,
        ),
        ("city", &lead.city, validation::MAX_ADDRESS_CHARS),
        ("postcode", &lead.postcode, validation::MAX_ADDRESS_CHARS),
        (
            "installer_notes",
            &lead.installer_notes,
            validation::MAX_TEXT_CHARS,
        ),
        (
            "surveyor_notes",
            &survey.surveyor_notes,
            validation::MAX_TEXT_CHARS,
        ),
    ] {
        field_check(validation::optional_text(field, value, max))?;
    }
    let new_lead = Lead {
        id: Uuid::new_v4(),
        customer_name: lead.customer_name.trim().to_owned(),
        phone: lead.phone.clone(),
        email: lead.email.clone(),
        address_line1: lead.address_line1.clone(),
        address_line2: lead.address_line2.clone(),
        city: lead.city.clone(),
        postcode: lead.postcode.clone(),
        latitude: lead.latitude,
        longitude: lead.longitude,
        installer_notes: lead.installer_notes.clone(),
    };
    let new_survey = Survey {
        id: Uuid::new_v4(),
        lead_id: new_lead.id,
        approved_at: survey.approved_at.unwrap_or_else(Utc::now),
        surveyor_notes: survey.surveyor_notes.clone(),
        recommended_charger_model: survey.recommended_charger_model.clone(),
        main_fuse_amps: survey.main_fuse_amps,
        supply_capacity_kva: survey.supply_capacity_kva,
        cable_run_length_m: survey.cable_run_length_m,
        photos_count: survey.photos_count,
    };
    Ok((new_lead, new_survey))
}

/// Assigns an installation to a team (primary or backup).
pub fn assign(
    storage: &Storage,
    installation_id: Uuid,
    request: &AssignRequest,
    assigned_by: Uuid,
) -> Result<Versioned<InstallationAssignment>, ApiError> {
    storage.write(|tx| {
        tx.set_actor(assigned_by);
        assign_in_tx(tx, installation_id, request, assigned_by)
    })
}

/// [`assign`] inside a caller's transaction.
pub fn assign_in_tx(
    tx: &mut dyn WriteTx,
    installation_id: Uuid,
    request: &AssignRequest,
    assigned_by: Uuid,
) -> Result<Versioned<InstallationAssignment>, ApiError> {
    let installation = tx
        .db()
        .installation(installation_id)?
        .ok_or_else(|| ApiError::not_found("installation"))?
        .record;
    if tx.db().team(request.team_id)?.is_none() {
        return Err(ApiError::not_found("team"));
    }
    let active = tx
        .db()
        .assignments_of(installation_id)?
        .into_iter()
        .any(|a| {
            a.record.team_id == request.team_id && a.record.status != AssignmentStatus::Withdrawn
        });
    if active {
        return Err(ApiError::conflict(
            "The team is already assigned to this installation",
        ));
    }
    let assignment = InstallationAssignment {
        id: Uuid::new_v4(),
        installation_id,
        team_id: request.team_id,
        assigned_by,
        is_primary: request.is_primary,
        assigned_at: tx.now(),
        status: AssignmentStatus::Assigned,
        decline_reason: None,
        responded_at: None,
    };
    tx.save_assignment(&assignment)?;
    // The team gains the installation: give it and its family new versions
    // so the team's devices pull them even if older than their cursor.
    tx.touch_installation_family(&installation)?;
    tx.db()
        .assignment(assignment.id)?
        .ok_or_else(ApiError::internal)
}

/// Withdraws an assignment; the team's devices get tombstones unless the team
/// still has another assignment to the installation.
pub fn withdraw_assignment(
    storage: &Storage,
    assignment_id: Uuid,
) -> Result<Versioned<InstallationAssignment>, ApiError> {
    storage.write(|tx| withdraw_in_tx(tx, assignment_id))
}

/// [`withdraw_assignment`] by an ops user, with an optional reason kept in
/// the installation's history.
pub fn withdraw_assignment_by(
    storage: &Storage,
    assignment_id: Uuid,
    actor: Uuid,
    reason: Option<String>,
) -> Result<Versioned<InstallationAssignment>, ApiError> {
    if let Some(reason) = &reason {
        field_check(validation::optional_text(
            "reason",
            reason,
            validation::MAX_REASON_CHARS,
        ))?;
    }
    storage.write(|tx| {
        tx.set_actor(actor);
        tx.set_reason(reason.clone());
        withdraw_in_tx(tx, assignment_id)
    })
}

/// [`withdraw_assignment`] inside a caller's transaction.
pub fn withdraw_in_tx(
    tx: &mut dyn WriteTx,
    assignment_id: Uuid,
) -> Result<Versioned<InstallationAssignment>, ApiError> {
    {
        let mut assignment = tx
            .db()
            .assignment(assignment_id)?
            .ok_or_else(|| ApiError::not_found("assignment"))?
            .record;
        if assignment.status == AssignmentStatus::Withdrawn {
            return Err(ApiError::conflict("The assignment is already withdrawn"));
        }
        let installation = tx
            .db()
            .installation(assignment.installation_id)?
            .ok_or_else(ApiError::internal)?
            .record;
        assignment.status = AssignmentStatus::Withdrawn;
        let version = tx.save_assignment(&assignment)?;
        let team_still_assigned = tx.db().assignments_of(installation.id)?.iter().any(|a| {
            a.record.team_id == assignment.team_id && a.record.status != AssignmentStatus::Withdrawn
        });
        if !team_still_assigned {
            tx.tombstone_left_scope(assignment.team_id, &installation)?;
        }
        Ok(Versioned {
            version,
            record: assignment,
        })
    }
}

/// An ops lifecycle move (confirm, reschedule, cancel, close…).
pub fn transition(
    storage: &Storage,
    installation_id: Uuid,
    request: &TransitionRequest,
) -> Result<Versioned<Installation>, ApiError> {
    transition_by(storage, installation_id, request, None)
}

/// [`transition`], recording who made the move in the history.
pub fn transition_by(
    storage: &Storage,
    installation_id: Uuid,
    request: &TransitionRequest,
    actor: Option<Uuid>,
) -> Result<Versioned<Installation>, ApiError> {
    let new_schedule = match (request.scheduled_date, request.scheduled_time_slot) {
        (Some(d), Some(s)) => Some((d, s)),
        (None, None) => None,
        _ => {
            return Err(validation_error(
                "scheduled_date",
                "Give both the new date and the time slot",
            ))
        }
    };
    storage.write(|tx| {
        if let Some(actor) = actor {
            tx.set_actor(actor);
        }
        let mut installation = tx
            .db()
            .installation(installation_id)?
            .ok_or_else(|| ApiError::not_found("installation"))?
            .record;
        // Sending a report back also marks the report and records the note
        // in its audit log: its own route, which knows who sends it.
        if installation.status == InstallationStatus::ReportSubmitted
            && request.to == InstallationStatus::Completed
        {
            return Err(ApiError::conflict(
                "To send a report back, use POST /api/v1/admin/installations/{id}/send-back with a note",
            ));
        }
        if let Some(expected) = request.expected_from {
            if installation.status != expected {
                return Err(ApiError::conflict(format!(
                    "The installation is {}, not {expected}",
                    installation.status
                )));
            }
        }
        lifecycle::ops_transition(
            &mut installation,
            request.to,
            request.reason.as_deref(),
            new_schedule,
            tx.now(),
        )?;
        let version = tx.save_installation(&installation)?;
        Ok(Versioned {
            version,
            record: installation,
        })
    })
}

/// Admin routes exist only for Central Ops.
pub(crate) fn require_ops(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Ops {
        Ok(())
    } else {
        Err(ApiError::not_found("route"))
    }
}

/// Add a user (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created; body is the versioned user record"),
        (status = 404, description = "Caller is not Central Ops", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    )
)]
pub async fn create_user_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<Versioned<User>>), ApiError> {
    require_ops(&caller)?;
    blocking(move || create_user(&state.storage, state.config.password_hashing, &request))
        .await
        .map(|u| (StatusCode::CREATED, Json(u)))
}

/// Add a team (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/teams", tag = "admin", security(("bearer" = [])),
    request_body = CreateTeamRequest,
    responses(
        (status = 201, description = "Created; body is the versioned team record"),
        (status = 404, description = "Caller is not Central Ops, or a member does not exist", body = ErrorBody),
        (status = 409, description = "Team name taken", body = ErrorBody),
    )
)]
pub async fn create_team_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<CreateTeamRequest>,
) -> Result<(StatusCode, Json<Versioned<Team>>), ApiError> {
    require_ops(&caller)?;
    blocking(move || create_team(&state.storage, &request))
        .await
        .map(|t| (StatusCode::CREATED, Json(t)))
}

/// Add a member to a team (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/teams/{team_id}/members", tag = "admin", security(("bearer" = [])),
    params(("team_id" = Uuid, Path, description = "Team id")),
    request_body = AddTeamMemberRequest,
    responses(
        (status = 200, description = "The versioned team record"),
        (status = 404, description = "No such team or user, or caller is not Central Ops", body = ErrorBody),
    )
)]
pub async fn add_team_member_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(team_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<AddTeamMemberRequest>,
) -> Result<Json<Versioned<Team>>, ApiError> {
    require_ops(&caller)?;
    blocking(move || add_team_member(&state.storage, team_id, request.user_id))
        .await
        .map(Json)
}

/// Remove a member from a team (ops only). The member's devices pull
/// tombstones for the team's installations they no longer see.
#[utoipa::path(
    delete, path = "/api/v1/admin/teams/{team_id}/members/{user_id}", tag = "admin",
    security(("bearer" = [])),
    params(
        ("team_id" = Uuid, Path, description = "Team id"),
        ("user_id" = Uuid, Path, description = "The member's user id"),
    ),
    responses(
        (status = 200, description = "The versioned team record without the member"),
        (status = 404, description = "No such team, the user is not a member, or caller is not Central Ops", body = ErrorBody),
    )
)]
pub async fn remove_team_member_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((team_id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Versioned<Team>>, ApiError> {
    require_ops(&caller)?;
    blocking(move || remove_team_member(&state.storage, team_id, user_id))
        .await
        .map(Json)
}

/// Plan an installation (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/installations", tag = "admin", security(("bearer" = [])),
    request_body = CreateInstallationRequest,
    responses(
        (status = 201, description = "Created; body is the versioned installation with its INS-YYYY-NNNNNN id"),
        (status = 404, description = "Caller is not Central Ops", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    )
)]
pub async fn create_installation_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<CreateInstallationRequest>,
) -> Result<(StatusCode, Json<Versioned<Installation>>), ApiError> {
    require_ops(&caller)?;
    blocking(move || create_installation(&state.storage, caller.user_id, &request))
        .await
        .map(|i| (StatusCode::CREATED, Json(i)))
}

/// Assign an installation to a team (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/installations/{installation_id}/assignments", tag = "admin",
    security(("bearer" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    request_body = AssignRequest,
    responses(
        (status = 201, description = "Created; body is the versioned assignment"),
        (status = 404, description = "No such installation or team, or caller is not Central Ops", body = ErrorBody),
        (status = 409, description = "Team already assigned", body = ErrorBody),
    )
)]
pub async fn assign_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(installation_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<AssignRequest>,
) -> Result<(StatusCode, Json<Versioned<InstallationAssignment>>), ApiError> {
    require_ops(&caller)?;
    blocking(move || assign(&state.storage, installation_id, &request, caller.user_id))
        .await
        .map(|a| (StatusCode::CREATED, Json(a)))
}

/// Withdraw an assignment (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/assignments/{assignment_id}/withdraw", tag = "admin",
    security(("bearer" = [])),
    params(("assignment_id" = Uuid, Path, description = "Assignment id")),
    request_body(content = Option<WithdrawRequest>, description = "Optional: why (kept in the installation's history)"),
    responses(
        (status = 200, description = "The withdrawn, versioned assignment"),
        (status = 404, description = "No such assignment, or caller is not Central Ops", body = ErrorBody),
        (status = 409, description = "Already withdrawn", body = ErrorBody),
    )
)]
pub async fn withdraw_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(assignment_id): ApiPath<Uuid>,
    body: axum::body::Bytes,
) -> Result<Json<Versioned<InstallationAssignment>>, ApiError> {
    require_ops(&caller)?;
    // The body is optional (older scripts send none).
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<WithdrawRequest>(&body)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?
            .reason
    };
    blocking(move || withdraw_assignment_by(&state.storage, assignment_id, caller.user_id, reason))
        .await
        .map(Json)
}

/// An ops lifecycle move (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/installations/{installation_id}/transition", tag = "admin",
    security(("bearer" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    request_body = TransitionRequest,
    responses(
        (status = 200, description = "The versioned installation after the move"),
        (status = 404, description = "No such installation, or caller is not Central Ops", body = ErrorBody),
        (status = 409, description = "Move not allowed from the current state", body = ErrorBody),
        (status = 422, description = "Invalid reason or schedule", body = ErrorBody),
    )
)]
pub async fn transition_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(installation_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<TransitionRequest>,
) -> Result<Json<Versioned<Installation>>, ApiError> {
    require_ops(&caller)?;
    blocking(move || {
        transition_by(
            &state.storage,
            installation_id,
            &request,
            Some(caller.user_id),
        )
    })
    .await
    .map(Json)
}
