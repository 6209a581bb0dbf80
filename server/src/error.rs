//! The error every route answers with: an HTTP status and an
//! [`ErrorBody`] `{code, message}`.

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldbook_domain::{LifecycleError, ValidationErrors};
use fieldbook_protocol::{ErrorBody, ErrorCode};

use crate::storage::{CancelFlag, StorageError};

/// An error answer. Built by the feature modules, turned into a response here.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {}", .body.code.as_str(), .body.message)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::new(code, message),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "Missing, expired or revoked token: log in again",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// The same answer whether the object does not exist or belongs to
    /// another team, so ids cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("No such {what}"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    /// The server did not start the request because it is at capacity
    /// (load shedding): 503 `busy` with `Retry-After`.
    pub fn busy(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, message);
        err.body.retry_after_secs = Some(retry_after_secs);
        err
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "Internal server error; try again later",
        )
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        if let StorageError::Conflict(_) = e {
            // Nothing was written: the client sends the same request again.
            tracing::warn!(error = %e, "storage conflict");
            let mut err = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
                "The database was busy with a conflicting change; nothing was saved, try again",
            );
            err.body.retry_after_secs = Some(1);
            return err;
        }
        if let StorageError::Cancelled = e {
            // Nobody reads this answer: the request timed out or its client
            // hung up, and the read stopped early (as it should).
            tracing::info!("storage read cancelled");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout,
                "The server took too long to answer; try again",
            );
        }
        tracing::error!(error = %e, "storage failure");
        ApiError::internal()
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            e.to_string(),
        );
        err.body.fields = e.errors;
        err
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Invalid(field) => ValidationErrors {
                errors: vec![field],
            }
            .into(),
            other => ApiError::conflict(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body.clone())).into_response();
        if let Some(secs) = self.body.retry_after_secs {
            if let Ok(v) = secs.to_string().parse() {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// Runs blocking storage work off the async runtime.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    // Keep the request's span (request id, user) on the blocking thread.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "blocking task failed");
            ApiError::internal()
        })?
}

/// [`blocking`] for work that should stop once nobody waits for it: `f`
/// gets a [`CancelFlag`] with `deadline`, set as soon as the returned future
/// is dropped (the request timed out or the client hung up), to pass to
/// [`crate::storage::Storage::read_cancellable`]. Without it the blocking
/// thread would finish a read nobody reads, while the client's retry starts
/// another.
pub async fn blocking_cancellable<T, F>(deadline: Instant, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&CancelFlag) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let cancel = CancelFlag::with_deadline(deadline);
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    blocking(move || f(&cancel)).await
}

/// Sets its flag when dropped: with the future that awaits the work.
struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
