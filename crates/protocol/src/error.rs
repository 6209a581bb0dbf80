//! The error body every non-2xx JSON response carries.

use fieldbook_domain::FieldError;
use serde::{Deserialize, Serialize};

/// Stable, machine-readable error codes: clients branch on these, never on the
/// message text. New codes may be added; existing ones never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ErrorCode {
    /// The request is malformed (bad JSON, bad query or path parameter).
    BadRequest,
    /// The request is well-formed but a field is invalid; see `fields`.
    ValidationFailed,
    /// No token, or the token is unknown, expired or revoked: log in again.
    Unauthorized,
    /// Login failed: unknown username or wrong password (deliberately not
    /// distinguished).
    InvalidCredentials,
    /// Too many failed logins for this account; wait `retry_after_secs`.
    TooManyAttempts,
    /// Authenticated, but the role may not do this.
    Forbidden,
    /// No such object in the caller's scope (also when it exists for another
    /// team: ids cannot be probed).
    NotFound,
    /// The request conflicts with the current state (e.g. a lifecycle move
    /// that is not allowed from the current status, a duplicate name).
    Conflict,
    /// The request body is larger than this route accepts.
    PayloadTooLarge,
    /// The server took too long; retry.
    Timeout,
    /// An unexpected server error; retry later.
    Internal,
    /// The pull cursor is not one this server hands out (above
    /// `MAX_PULL_CURSOR`): pull again from 0.
    InvalidCursor,
    /// Central Ops ordered this device wiped: the order is in `wipe`; the
    /// device erases its data and confirms (see [`crate::wipe`]).
    WipeOrdered,
    /// The server is at capacity for this kind of request and did not start
    /// it (nothing was read or saved): send it again after `Retry-After`
    /// seconds (also in `retry_after_secs`).
    Busy,
}

impl ErrorCode {
    /// The wire name (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::WipeOrdered => "wipe_ordered",
            ErrorCode::Busy => "busy",
        }
    }
}

/// The body of every error response: `{code, message}` plus optional details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorBody {
    /// What went wrong, for the program.
    pub code: ErrorCode,
    /// A sentence a person can act on.
    pub message: String,
    /// Per-field problems when `code` is `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// Seconds to wait before retrying, when `code` is `too_many_attempts`
    /// or `busy` (also sent as the `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// The wipe order, when `code` is `wipe_ordered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<crate::wipe::WipeOrder>,
}

impl ErrorBody {
    /// A body with just a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after_secs: None,
            wipe: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::ValidationFailed,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::TooManyAttempts,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Timeout,
        ErrorCode::Internal,
        ErrorCode::InvalidCursor,
        ErrorCode::WipeOrdered,
        ErrorCode::Busy,
    ];

    #[test]
    fn codes_serialise_as_their_stable_names() {
        for code in ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn error_body_omits_empty_details() {
        let body = ErrorBody::new(ErrorCode::NotFound, "No such installation");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"code": "not_found", "message": "No such installation"})
        );
    }
}
