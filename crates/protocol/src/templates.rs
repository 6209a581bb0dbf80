//! Report templates on the admin API: `POST /api/v1/admin/report-templates`
//! publishes, `GET` lists the newest versions, `GET …/{id}/{version}` reads
//! one version, `PUT /api/v1/admin/installations/{id}/report-template`
//! chooses a job's template. Devices get templates in the pull.

use fieldbook_domain::ReportTemplate;
use serde::{Deserialize, Serialize};

use crate::Versioned;

/// Answer of a publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishTemplateResponse {
    /// The version now current (the server numbered it; the request's
    /// `version` is ignored). Its `version` wrapper is the change sequence,
    /// 0 for the built-in default never republished.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub template: Versioned<ReportTemplate>,
    /// False when the template said the same as its newest version, so no
    /// version was made.
    pub created: bool,
}

/// Answer of `GET /api/v1/admin/report-templates`: the newest version of
/// every template, by id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportTemplateList {
    /// Newest versions, ordered by id.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub items: Vec<Versioned<ReportTemplate>>,
}

/// Body of `PUT /api/v1/admin/installations/{id}/report-template`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetReportTemplateRequest {
    /// A published template's id; `null` for the default template.
    pub template_id: Option<String>,
}
