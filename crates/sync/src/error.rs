//! The sync engine's error: stable codes the UI branches on, and messages
//! that tell the technician what to do.

use std::time::Duration;

use fieldbook_protocol::ErrorCode;
use fieldbook_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server could not be reached (no network, DNS, refused, timed out,
    /// connection cut).
    #[error("cannot reach the server ({detail}); your work is kept on this computer and sent when the connection returns")]
    Offline { detail: String },

    /// The server answered 5xx. `retry_after`: its `Retry-After` (a busy
    /// or overloaded server says when to come back).
    #[error("the server had a problem (HTTP {status}: {message}); your work is kept and Fieldbook tries again later")]
    Server {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },

    /// 401 on anything but the login: the token expired or was revoked.
    #[error("you were signed out on the server; sign in again to keep syncing (nothing on this computer is lost)")]
    Unauthorized,

    #[error("wrong username or password")]
    BadCredentials,

    /// 429: the server asks to wait.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },

    #[error("{pending_mutations} change(s) and {pending_blobs} file(s) have not reached the server yet; sync first, or sign out anyway to keep them on this computer until you sign in again")]
    UnsyncedWork {
        pending_mutations: u64,
        pending_blobs: u64,
    },

    #[error("{url:?} is not a server address Fieldbook can use: {reason}")]
    InvalidServerUrl { url: String, reason: String },

    #[error("nobody is signed in to a server on this computer; sign in first")]
    NotSignedIn,

    /// The server says this device id belongs to another user.
    #[error("the server has this computer registered to another user; sign out and sign in as that user, or contact Central Ops")]
    ForeignDevice,

    /// Any other refusal of a request (4xx with an error body).
    #[error("the server refused the request (HTTP {status}, {}): {message}", code.as_str())]
    Refused {
        status: u16,
        code: ErrorCode,
        message: String,
    },

    /// The server's answer does not follow the protocol.
    #[error("the server sent an answer this version of Fieldbook does not understand ({0}); update Fieldbook or contact support")]
    Protocol(String),

    /// The token or settings file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Store(#[from] StoreError),

    /// The keyring or key file holding the token failed.
    #[error(transparent)]
    Secrets(#[from] fieldbook_secrets::SecretsError),

    /// A downloaded app update failed verification (signature, version or
    /// size); it was deleted and is never installed.
    #[error("the downloaded update was refused: {0}; it was deleted and Fieldbook keeps running this version (tell Central Ops if this repeats)")]
    UpdateRejected(String),

    /// Central Ops ordered this device wiped (`410 wipe_ordered`, or a
    /// retired device with nothing left to send): the engine erases it.
    #[error("Central Ops ordered this computer wiped")]
    WipeOrdered(fieldbook_protocol::WipeOrder),
}

impl SyncError {
    /// Stable, machine-readable code. A store error keeps the store's own
    /// code (e.g. `unsent_work_of_another_user`), so the UI treats it the same
    /// wherever it comes from.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Offline { .. } => "offline",
            SyncError::Server { .. } => "server_error",
            SyncError::Unauthorized => "unauthorized",
            SyncError::BadCredentials => "bad_credentials",
            SyncError::RateLimited { .. } => "rate_limited",
            SyncError::UnsyncedWork { .. } => "unsynced_work",
            SyncError::InvalidServerUrl { .. } => "invalid_server_url",
            SyncError::NotSignedIn => "not_signed_in",
            SyncError::ForeignDevice => "foreign_device",
            SyncError::Refused { .. } => "refused",
            SyncError::Protocol(_) => "protocol",
            SyncError::Io { .. } => "io",
            SyncError::Store(e) => e.code(),
            SyncError::Secrets(e) => e.code(),
            SyncError::UpdateRejected(_) => "update_rejected",
            SyncError::WipeOrdered(_) => "wipe_ordered",
        }
    }

    /// Worth trying again later without anyone doing anything (the loop
    /// backs off and retries these).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SyncError::Offline { .. } | SyncError::Server { .. } | SyncError::RateLimited { .. }
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SyncError::Io {
            context: context.into(),
            source,
        }
    }

    /// The `{code, message}` pair the status line shows.
    pub fn info(&self) -> crate::status::SyncErrorInfo {
        crate::status::SyncErrorInfo {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

/// What the UI receives: `{code, message}`.
impl serde::Serialize for SyncError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("SyncError", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_and_message() {
        let json = serde_json::to_value(SyncError::Unauthorized).unwrap();
        assert_eq!(json["code"], "unauthorized");
        assert!(json["message"].as_str().unwrap().contains("sign in again"));
    }

    #[test]
    fn store_errors_keep_their_code() {
        let err = SyncError::from(StoreError::NotSignedIn);
        assert_eq!(err.code(), "not_signed_in");
        let err = SyncError::from(StoreError::UnsentWorkOfAnotherUser {
            name: "Alex".into(),
            pending: 2,
        });
        assert_eq!(err.code(), "unsent_work_of_another_user");
    }

    #[test]
    fn only_transport_and_server_failures_are_retried() {
        assert!(SyncError::Offline {
            detail: "refused".into()
        }
        .is_retryable());
        assert!(SyncError::Server {
            status: 503,
            message: "busy".into(),
            retry_after: None,
        }
        .is_retryable());
        assert!(!SyncError::Unauthorized.is_retryable());
        assert!(!SyncError::Protocol("bad json".into()).is_retryable());
    }
}
