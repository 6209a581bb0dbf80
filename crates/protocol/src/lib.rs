//! The sync API contract (`/api/v1`): request and response types, error codes.
//!
//! Shared by the desktop sync engine and the central server. Only serde types
//! live here (no HTTP client or server code), so either side can change its
//! transport without touching the contract. The optional `openapi` feature adds
//! schema derives for the server's generated OpenAPI document.

// The contract is read by two teams: every public item says what it means.
#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod error;
pub mod held_work;
pub mod ops;
pub mod pull;
pub mod push;
pub mod templates;
pub mod updates;
pub mod wipe;

pub use admin::*;
pub use auth::*;
pub use error::{ErrorBody, ErrorCode};
pub use held_work::*;
pub use ops::*;
pub use pull::*;
pub use push::*;
pub use templates::*;
pub use updates::*;
pub use wipe::*;

/// Version segment of every route: `/api/v1/...`. A breaking change to any
/// type in this crate gets a new version and a new prefix.
pub const API_VERSION: &str = "v1";

/// Prefix of every route of this version.
pub const API_PREFIX: &str = "/api/v1";

/// Answer of `GET /api/v1/health`: cheap enough for the device's connectivity
/// probe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `"ok"` when the server answers at all.
    pub status: String,
    /// The API version served (`"v1"`).
    pub api_version: String,
    /// The server's build version.
    pub server_version: String,
}
