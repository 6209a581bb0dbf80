//! Read-by-id routes: an installation with its family, its report, the
//! report's audit log, a media record. Every one answers 404 for ids outside
//! the caller's scope, exactly as for ids that do not exist.

use axum::extract::State;
use axum::{Extension, Json};
use fieldbook_protocol::{
    ErrorBody, InstallationDetail, MediaDetail, PulledMedia, PulledReport, ReportEvent, Versioned,
};
use uuid::Uuid;

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::ApiPath;
use crate::storage::{pulled_report_from, Reads, Scope};

fn scope(caller: &Caller) -> Scope {
    Scope::for_user(caller.user_id, caller.role)
}

fn require_in_scope(db: &dyn Reads, caller: &Caller, installation: Uuid) -> Result<(), ApiError> {
    if db.installation_in_scope(installation, scope(caller))? {
        Ok(())
    } else {
        Err(ApiError::not_found("installation"))
    }
}

fn report(
    db: &dyn Reads,
    state: &AppState,
    installation: Uuid,
) -> Result<Option<Versioned<PulledReport>>, ApiError> {
    let Some((report, received_at)) = db.report_of(installation)? else {
        return Ok(None);
    };
    let available = |h: &fieldbook_domain::Sha256Hex| state.blobs.contains(h);
    Ok(Some(Versioned {
        version: report.version,
        record: pulled_report_from(report.record, received_at, &available),
    }))
}

/// An installation with its assignments, lead, survey and report.
#[utoipa::path(
    get, path = "/api/v1/installations/{installation_id}", tag = "installations",
    security(("bearer" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    responses(
        (status = 200, description = "The installation", body = InstallationDetail),
        (status = 404, description = "No such installation in your scope", body = ErrorBody),
    )
)]
pub async fn installation_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<InstallationDetail>, ApiError> {
    blocking(move || {
        state.storage.read(|db| {
            require_in_scope(db, &caller, id)?;
            let installation = db
                .installation(id)?
                .ok_or_else(|| ApiError::not_found("installation"))?;
            let lead = db
                .lead(installation.record.lead_id)?
                .ok_or_else(ApiError::internal)?;
            let survey = db
                .survey(installation.record.survey_id)?
                .ok_or_else(ApiError::internal)?;
            let mine = |a: &Versioned<fieldbook_domain::InstallationAssignment>| {
                caller.role == fieldbook_domain::Role::Ops
                    || caller.team_ids.contains(&a.record.team_id)
            };
            let assignments = db.assignments_of(id)?.into_iter().filter(mine).collect();
            Ok(InstallationDetail {
                report: report(db, &state, id)?,
                installation,
                assignments,
                lead,
                survey,
            })
        })
    })
    .await
    .map(Json)
}

/// The installation's submitted report.
#[utoipa::path(
    get, path = "/api/v1/installations/{installation_id}/report", tag = "installations",
    security(("bearer" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    responses(
        (status = 200, description = "The report, versioned, with receive time and signature availability"),
        (status = 404, description = "No such installation in your scope, or no report yet", body = ErrorBody),
    )
)]
pub async fn report_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Versioned<PulledReport>>, ApiError> {
    blocking(move || {
        state.storage.read(|db| {
            require_in_scope(db, &caller, id)?;
            report(db, &state, id)?.ok_or_else(|| ApiError::not_found("report"))
        })
    })
    .await
    .map(Json)
}

/// The append-only audit log of the installation's report.
#[utoipa::path(
    get, path = "/api/v1/installations/{installation_id}/report/events", tag = "installations",
    security(("bearer" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    responses(
        (status = 200, description = "Report events, oldest first", body = Vec<ReportEvent>),
        (status = 404, description = "No such installation in your scope", body = ErrorBody),
    )
)]
pub async fn report_events_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<ReportEvent>>, ApiError> {
    blocking(move || {
        state.storage.read(|db| {
            require_in_scope(db, &caller, id)?;
            Ok(db.report_events(id)?)
        })
    })
    .await
    .map(Json)
}

/// A media record and whether its blob has arrived.
#[utoipa::path(
    get, path = "/api/v1/media/{media_id}", tag = "installations",
    security(("bearer" = [])),
    params(("media_id" = Uuid, Path, description = "Media id")),
    responses(
        (status = 200, description = "The media record, versioned, with `blob_available`"),
        (status = 404, description = "No such media in your scope", body = ErrorBody),
    )
)]
pub async fn media_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MediaDetail>, ApiError> {
    blocking(move || {
        state.storage.read(|db| {
            let media = db.media(id)?.ok_or_else(|| ApiError::not_found("media"))?;
            if !db.installation_in_scope(media.record.installation_id, scope(&caller))? {
                return Err(ApiError::not_found("media"));
            }
            let blob_available = state.blobs.contains(&media.record.file.sha256);
            Ok(Versioned {
                version: media.version,
                record: PulledMedia {
                    media: media.record,
                    blob_available,
                },
            })
        })
    })
    .await
    .map(Json)
}

/// The caller's jobs whose customer name, postcode or `INS-` number contains
/// `q`, including those that left devices by retention.
#[utoipa::path(
    get, path = "/api/v1/installations/search", tag = "installations",
    security(("bearer" = [])),
    params(fieldbook_protocol::InstallationSearchQuery),
    responses(
        (status = 200, description = "At most 50 jobs in your scope, most recently scheduled first", body = fieldbook_protocol::InstallationSearchResults),
        (status = 400, description = "`q` shorter than 2 or longer than 100 characters (`bad_request`)", body = ErrorBody),
    )
)]
pub async fn search_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    crate::json::ApiQuery(query): crate::json::ApiQuery<
        fieldbook_protocol::InstallationSearchQuery,
    >,
) -> Result<Json<fieldbook_protocol::InstallationSearchResults>, ApiError> {
    let text = query.q.trim().to_owned();
    let length = text.chars().count();
    if !(2..=fieldbook_protocol::MAX_SEARCH_TEXT).contains(&length) {
        return Err(ApiError::bad_request(format!(
            "search for 2 to {} characters; got {length}",
            fieldbook_protocol::MAX_SEARCH_TEXT
        )));
    }
    let scope = scope(&caller);
    blocking(move || {
        let items = state
            .storage
            .read(|db| db.search_installations(scope, &text))?;
        Ok(fieldbook_protocol::InstallationSearchResults { items })
    })
    .await
    .map(Json)
}
