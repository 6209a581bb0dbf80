//! App updates served by the fleet's own server: what `GET
//! /api/v1/updates/{target}/{current_version}` answers when a newer build
//! for that target is published (204 No Content when none is).
//!
//! The shape is tauri-plugin-updater's "dynamic" release format, so the
//! app's updater reads it as is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A published update for one target (`linux-x86_64-deb`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateManifest {
    /// Semantic version of the update (`0.2.0`).
    pub version: String,
    /// Release notes for the technician.
    pub notes: Option<String>,
    /// When ops published it.
    pub pub_date: DateTime<Utc>,
    /// Where the artifact downloads from (supports `Range` for resuming).
    pub url: String,
    /// The minisign signature of the artifact, base64, as `cargo tauri
    /// signer sign` writes it (its trusted comment binds the version). The
    /// app verifies it with the public key it was built with.
    pub signature: String,
    /// Size of the artifact in bytes (an extra field the plugin ignores).
    pub size: u64,
    /// SHA-256 of the artifact, hex (an extra field the plugin ignores).
    pub sha256: String,
}
