//! Report templates: Central Ops publish versioned templates (CLI and admin
//! API) and choose one per installation; submitted reports are checked
//! against the version they name (see [`template_of`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use fieldbook_domain::{InstallationReport, ReportTemplate, TemplateRef};
use fieldbook_protocol::{
    ErrorBody, PublishTemplateResponse, ReportTemplateList, SetReportTemplateRequest, Versioned,
};
use uuid::Uuid;

use crate::admin::require_ops;
use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::{ApiJson, ApiPath};
use crate::storage::{Reads, Storage, StorageError};

/// The template version a report was filled against, when it names one
/// (`None` for reports from devices older than templates). A named version
/// this server does not hold comes back as `None`, and the domain check
/// then refuses the report with a clear message.
pub fn template_of(
    db: &dyn Reads,
    report: &InstallationReport,
) -> Result<Option<ReportTemplate>, StorageError> {
    match &report.template {
        Some(r) => db.report_template(r),
        None => Ok(None),
    }
}

/// Publishes a template: checked by the domain, then stored as the next
/// version of its id (or left alone when nothing changed).
pub fn publish(
    storage: &Storage,
    template: &ReportTemplate,
    published_by: Option<Uuid>,
) -> Result<PublishTemplateResponse, ApiError> {
    // The version is the server's to assign; validate as version 1 so a
    // missing or zero version in the request is not an error.
    let mut candidate = template.clone();
    candidate.version = 1;
    candidate.validate()?;
    let published = storage.write(|tx| tx.publish_report_template(&candidate, published_by))?;
    if published.created {
        tracing::info!(
            template = %published.template.record.id,
            version = published.template.record.version,
            "report template published"
        );
    }
    Ok(PublishTemplateResponse {
        template: published.template,
        created: published.created,
    })
}

/// The newest version of every template.
pub fn list(storage: &Storage) -> Result<ReportTemplateList, ApiError> {
    Ok(ReportTemplateList {
        items: storage.read(|db| db.report_templates())?,
    })
}

/// One version of one template.
pub fn get(storage: &Storage, r: &TemplateRef) -> Result<ReportTemplate, ApiError> {
    storage
        .read(|db| db.report_template(r))?
        .ok_or_else(|| ApiError::not_found("report template"))
}

/// Chooses the template an installation's report is filled against
/// (`None`: the default). Devices get the installation again in their next
/// pull; a report already started keeps the version it was started with.
pub fn set_installation_template(
    storage: &Storage,
    installation_id: Uuid,
    template_id: Option<&str>,
) -> Result<Versioned<fieldbook_domain::Installation>, ApiError> {
    storage.write(|tx| {
        if let Some(id) = template_id {
            if tx.db().latest_report_template(id)?.is_none() {
                return Err(ApiError::not_found("report template"));
            }
        }
        let mut installation = tx
            .db()
            .installation(installation_id)?
            .ok_or_else(|| ApiError::not_found("installation"))?
            .record;
        installation.report_template_id = template_id.map(str::to_owned);
        installation.updated_at = tx.now();
        let version = tx.save_installation(&installation)?;
        Ok(Versioned {
            version,
            record: installation,
        })
    })
}

/// Publish a report template (ops only).
#[utoipa::path(
    post, path = "/api/v1/admin/report-templates", tag = "admin", security(("bearer" = [])),
    request_body(content = Object, description = "A ReportTemplate; its `version` is ignored (the server numbers versions)"),
    responses(
        (status = 201, description = "A new version was published", body = PublishTemplateResponse),
        (status = 200, description = "Same as the newest version: nothing published", body = PublishTemplateResponse),
        (status = 404, description = "Caller is not Central Ops", body = ErrorBody),
        (status = 422, description = "The template is not valid (fields say where)", body = ErrorBody),
    )
)]
pub async fn publish_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(template): ApiJson<ReportTemplate>,
) -> Result<(StatusCode, Json<PublishTemplateResponse>), ApiError> {
    require_ops(&caller)?;
    let published =
        blocking(move || publish(&state.storage, &template, Some(caller.user_id))).await?;
    let status = if published.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(published)))
}

/// The newest version of every report template (ops only).
#[utoipa::path(
    get, path = "/api/v1/admin/report-templates", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest versions by id", body = ReportTemplateList),
        (status = 404, description = "Caller is not Central Ops", body = ErrorBody),
    )
)]
pub async fn list_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ReportTemplateList>, ApiError> {
    require_ops(&caller)?;
    blocking(move || list(&state.storage)).await.map(Json)
}

/// One version of a report template (ops only).
#[utoipa::path(
    get, path = "/api/v1/admin/report-templates/{template_id}/{version}", tag = "admin",
    security(("bearer" = [])),
    params(
        ("template_id" = String, Path, description = "Template id"),
        ("version" = u32, Path, description = "Version number"),
    ),
    responses(
        (status = 200, description = "That version, as published", body = Object),
        (status = 404, description = "No such template version, or caller is not Central Ops", body = ErrorBody),
    )
)]
pub async fn get_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, version)): ApiPath<(String, u32)>,
) -> Result<Json<ReportTemplate>, ApiError> {
    require_ops(&caller)?;
    blocking(move || get(&state.storage, &TemplateRef { id, version }))
        .await
        .map(Json)
}

/// Choose an installation's report template (ops only).
#[utoipa::path(
    put, path = "/api/v1/admin/installations/{installation_id}/report-template", tag = "admin",
    security(("bearer" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    request_body = SetReportTemplateRequest,
    responses(
        (status = 200, description = "The versioned installation"),
        (status = 404, description = "No such installation or template, or caller is not Central Ops", body = ErrorBody),
    )
)]
pub async fn set_installation_template_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(installation_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<SetReportTemplateRequest>,
) -> Result<Json<Versioned<fieldbook_domain::Installation>>, ApiError> {
    require_ops(&caller)?;
    blocking(move || {
        set_installation_template(
            &state.storage,
            installation_id,
            request.template_id.as_deref(),
        )
    })
    .await
    .map(Json)
}
