//! What the UI shows about sync at any moment: a snapshot ([`SyncStatus`])
//! published on a watch channel, with progress while a sync runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether the server was reachable the last time the engine tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ConnectionState {
    Online,
    Offline,
    /// Not tried yet since start.
    #[default]
    Unknown,
}

/// What a running sync is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum SyncPhase {
    #[default]
    Idle,
    Pushing,
    Pulling,
    Uploading,
}

/// `{code, message}` of the last failure; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncErrorInfo {
    pub code: String,
    pub message: String,
}

/// Progress of the current phase. Items are mutations (push), records
/// (pull) or files (upload); bytes only move while uploading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncProgress {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub items_done: u64,
    /// `None` while unknown (a pull does not know how many pages follow).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub items_total: Option<u64>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_done: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_total: u64,
}

/// The snapshot the UI renders as-is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    pub connection: ConnectionState,
    pub phase: SyncPhase,
    /// A user is signed in on this device (the store has a session).
    pub signed_in: bool,
    /// The server refused the token (expired, revoked): the outbox is kept
    /// and the UI asks for the password again.
    pub needs_sign_in: bool,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pending_mutations: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pending_blobs: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pending_blob_bytes: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub needs_attention: u64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the background loop will try next (after a failure or while
    /// waiting for the debounce); `None` when it just waits for changes.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<SyncErrorInfo>,
    pub progress: Option<SyncProgress>,
    /// This device's first pull for the signed-in user is running: the
    /// coming days' jobs may already be on screen, the rest is arriving
    /// (`progress` counts the records so far).
    #[serde(default)]
    pub first_sync: bool,
    /// When records from the server were last written to the local store
    /// (the near window of a first sync, or a pull that brought changes):
    /// lists on screen reload when it moves.
    #[serde(default)]
    pub pulled_at: Option<DateTime<Utc>>,
    /// Central Ops had this computer wiped: the sign-in screen says why.
    /// Cleared by the next sign-in.
    #[serde(default)]
    pub wiped: Option<crate::wipe::WipeNotice>,
}

impl SyncStatus {
    /// Nothing waits to be sent (mutations or files).
    pub fn is_fully_synced(&self) -> bool {
        self.pending_mutations == 0 && self.pending_blobs == 0
    }
}

/// What one [`crate::SyncEngine::sync_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncSummary {
    /// Mutations the server applied.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pushed: u64,
    /// Mutations the server rejected or answered with a conflict (now in
    /// needs-attention).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub refused: u64,
    /// Mutations the server received for jobs that had left this device's
    /// scope and holds for Central Ops (now the jobs' held work, not an
    /// error).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub held: u64,
    /// Records and tombstones applied from pull pages.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub pulled_records: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub uploaded_blobs: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub uploaded_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_snake_case_names_and_values() {
        let status = SyncStatus {
            connection: ConnectionState::Offline,
            phase: SyncPhase::Uploading,
            pending_blob_bytes: 42,
            last_error: Some(SyncErrorInfo {
                code: "offline".into(),
                message: "cannot reach the server".into(),
            }),
            ..SyncStatus::default()
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["connection"], "offline");
        assert_eq!(json["phase"], "uploading");
        assert_eq!(json["pending_blob_bytes"], 42);
        assert_eq!(json["needs_sign_in"], false);
        assert_eq!(json["last_error"]["code"], "offline");
        assert!(json["progress"].is_null());
    }
}
