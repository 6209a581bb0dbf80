//! `GET /api/v1/ops/installations/{id}/certificate`: Central Ops download an
//! installation's completion certificate, the PDF the technician's device
//! made after submitting the report and sent with it.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use fieldbook_domain::mutation::CERTIFICATE_MIME;
use fieldbook_protocol::{ErrorBody, ErrorCode};
use uuid::Uuid;

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::ApiPath;

/// The certificate's bytes and the file name to save them under.
fn certificate_file(state: &AppState, id: Uuid) -> Result<(Vec<u8>, String), ApiError> {
    let (installation, certificate) = state.storage.read(|db| {
        let installation = db
            .installation(id)?
            .ok_or_else(|| ApiError::not_found("installation"))?;
        Ok::<_, ApiError>((installation.record, db.certificate_of(id)?))
    })?;
    let certificate = certificate.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "This installation has no certificate yet: it arrives when the technician's device syncs after submitting the report",
        )
    })?;
    let Some(path) = state.blobs.path_of(&certificate.sha256) else {
        return Err(ApiError::conflict(
            "The certificate's PDF is still uploading from the technician's device; try again after their next sync",
        ));
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        tracing::error!(error = %e, path = %path.display(), "reading the certificate");
        ApiError::internal()
    })?;
    Ok((
        bytes,
        format!("certificate-{}.pdf", installation.installation_id),
    ))
}

/// The installation's completion certificate (PDF), as a download.
#[utoipa::path(
    get, path = "/api/v1/ops/installations/{installation_id}/certificate", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    responses(
        (status = 200, description = "The PDF, as an attachment named certificate-<job number>.pdf", content_type = "application/pdf"),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
        (status = 404, description = "No such installation, or no certificate yet", body = ErrorBody),
        (status = 409, description = "The certificate's PDF is still uploading", body = ErrorBody),
    )
)]
pub async fn download_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    super::require_ops(&caller)?;
    let (bytes, file_name) = blocking(move || certificate_file(&state, id)).await?;
    let header = |value: &str| {
        HeaderValue::from_str(value).map_err(|_| {
            tracing::error!(value, "not a header value");
            ApiError::internal()
        })
    };
    let length = header(&bytes.len().to_string())?;
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(CERTIFICATE_MIME));
    h.insert(CONTENT_LENGTH, length);
    h.insert(
        CONTENT_DISPOSITION,
        header(&format!("attachment; filename=\"{file_name}\""))?,
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
