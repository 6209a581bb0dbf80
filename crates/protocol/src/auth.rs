//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`,
//! `GET /api/v1/auth/session`.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Team, User};
use serde::{Deserialize, Serialize};

/// Credentials for `POST /api/v1/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LoginRequest {
    /// The account name, as given by Central Ops.
    pub username: String,
    /// The plain password (sent over TLS in production; never logged).
    pub password: String,
}

// Hand-written so a password never lands in a log line.
impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A successful login: the bearer token and who it belongs to.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// Opaque bearer token (`Authorization: Bearer <token>`). The server keeps
    /// only its hash; it cannot be recovered, only revoked.
    pub token: String,
    /// After this instant the token is refused; log in again.
    pub expires_at: DateTime<Utc>,
    /// Who logged in.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub user: User,
    /// The teams the user belongs to (their sync scope).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub teams: Vec<Team>,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .field("teams", &self.teams)
            .finish()
    }
}

/// `GET /api/v1/auth/session`: who the token belongs to, and until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// Who the token belongs to.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub user: User,
    /// The user's teams (their sync scope).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub teams: Vec<Team>,
}
