//! The one error every command returns: `{code, message, fields?}`, so the UI
//! branches on `code` and shows `message` (which says what to do) as is.

use fieldbook_domain::FieldError;
use fieldbook_store::StoreError;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Every `code` a command can answer with: the store's, the media files' and
/// the sync engine's codes, plus the app's own `invalid_input` and
/// `internal`. Exported to TypeScript as a union, so the UI's
/// `err.code === "…"` checks are type-checked. A test in
/// `src-tauri/src/error.rs` fails when one of those crates gains a code that
/// is missing here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // The store.
    Locked,
    SchemaTooNew,
    NotFound,
    Validation,
    Lifecycle,
    ReportSubmitted,
    NotSignedIn,
    NotPermitted,
    UnsentWorkOfAnotherUser,
    Io,
    Database,
    Corrupt,
    /// The disk is full (also for photos and videos): nothing was saved.
    DiskFull,
    // Photos and videos.
    EmptyFile,
    NotMedia,
    UnsupportedPhotoFormat,
    CorruptImage,
    ImageTooLarge,
    /// The completion certificate could not be made (the message says why).
    Certificate,
    // The sync engine.
    Offline,
    ServerError,
    Unauthorized,
    BadCredentials,
    RateLimited,
    UnsyncedWork,
    InvalidServerUrl,
    ForeignDevice,
    Refused,
    Protocol,
    UpdateRejected,
    /// Central Ops had this computer wiped (the engine erased it).
    WipeOrdered,
    // The app.
    InvalidInput,
    Internal,
    /// Installing the update now would put unsent work at risk, or no
    /// update is downloaded; the message says what to do.
    UpdateNotReady,
    // Encryption at rest (the store) and the keys (fieldbook-secrets).
    WrongDatabaseKey,
    EncryptionCheckFailed,
    KeyringUnavailable,
    Keyring,
    KeyMissing,
    KeyFileCorrupt,
    KeyFileInsideDataFolder,
}

impl ErrorCode {
    /// The code of a library error. A code this enum lacks is a bug the test
    /// below catches; should one slip through, the UI gets `internal` and the
    /// log says which code it was.
    fn of(code: &'static str) -> ErrorCode {
        serde_json::from_value(serde_json::Value::from(code)).unwrap_or_else(|_| {
            tracing::error!(code, "an error code missing from ErrorCode");
            ErrorCode::Internal
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct CommandError {
    /// Stable, machine-readable; the UI branches on it.
    pub code: ErrorCode,
    /// For the technician: what happened and what to do.
    pub message: String,
    /// Field-level problems of a validation error, to show beside each input.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub fields: Option<Vec<FieldError>>,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: None,
        }
    }

    /// An argument the UI sent that cannot be right (bad base64, …).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// A failure of the app itself (a panicked worker, a poisoned lock).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The same error with `context` in front of its message ("IMG_2.jpg: …").
    pub fn with_context(mut self, context: &str) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = serde_json::to_value(self.code).unwrap_or_default();
        write!(
            f,
            "{}: {}",
            code.as_str().unwrap_or("internal"),
            self.message
        )
    }
}

impl std::error::Error for CommandError {}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        Self {
            code: ErrorCode::of(e.code()),
            message: e.to_string(),
            fields: e.validation_errors().map(|v| v.errors.clone()),
        }
    }
}

impl From<fieldbook_sync::SyncError> for CommandError {
    fn from(e: fieldbook_sync::SyncError) -> Self {
        // A wrapped store error keeps its own code and field problems.
        if let fieldbook_sync::SyncError::Store(store) = e {
            return store.into();
        }
        Self::new(ErrorCode::of(e.code()), e.to_string())
    }
}

pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_code_message_and_fields() {
        let err = CommandError::from(StoreError::from(FieldError::required(
            "reason",
            "Reason is required",
        )));
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["code"], "validation");
        assert_eq!(json["message"], "reason: Reason is required");
        assert_eq!(json["fields"][0]["field"], "reason");

        let json = serde_json::to_value(CommandError::from(StoreError::NotSignedIn)).unwrap();
        assert_eq!(json["code"], "not_signed_in");
        assert_eq!(
            json["message"],
            "nobody is signed in on this device; sign in first"
        );
        assert!(
            json.get("fields").is_none(),
            "no fields key without field problems: {json}"
        );
    }

    #[test]
    fn sync_errors_keep_their_code_and_wrapped_store_errors_the_store_code() {
        let err = CommandError::from(fieldbook_sync::SyncError::UnsyncedWork {
            pending_mutations: 3,
            pending_blobs: 2,
        });
        assert_eq!(err.code, ErrorCode::UnsyncedWork);
        assert!(
            err.message.contains("3 change(s) and 2 file(s)"),
            "{}",
            err.message
        );

        let err = CommandError::from(fieldbook_sync::SyncError::Store(StoreError::from(
            FieldError::required("reason", "Reason is required"),
        )));
        assert_eq!(err.code, ErrorCode::Validation);
        assert_eq!(err.fields.as_ref().map(Vec::len), Some(1));
    }

    /// The `code()` of each library error, read from its source: every
    /// code it can return must be a member of [`ErrorCode`].
    #[test]
    fn every_library_error_code_is_in_the_union() {
        let sources = [
            ("store", include_str!("../../crates/store/src/error.rs")),
            ("media", include_str!("../../crates/media/src/error.rs")),
            ("sync", include_str!("../../crates/sync/src/error.rs")),
            ("secrets", include_str!("../../crates/secrets/src/error.rs")),
        ];
        for (library, source) in sources {
            let start = source
                .find("pub fn code(&self) -> &'static str {")
                .unwrap_or_else(|| panic!("{library}: no code() found"));
            let body = &source[start..];
            let body = &body[..body.find("\n    }\n").expect("end of code()")];
            let codes: Vec<&str> = body
                .split("=> \"")
                .skip(1)
                .map(|rest| &rest[..rest.find('"').unwrap()])
                .collect();
            assert!(codes.len() >= 5, "{library}: only {codes:?}");
            for code in codes {
                let parsed: Result<ErrorCode, _> =
                    serde_json::from_value(serde_json::Value::from(code));
                assert!(
                    parsed.is_ok(),
                    "{library}'s code {code:?} is missing from ErrorCode"
                );
            }
        }
        assert_eq!(ErrorCode::of("no_such_code"), ErrorCode::Internal);
    }

    #[test]
    fn context_goes_in_front_of_the_message() {
        let err = CommandError::invalid_input("not a PNG").with_context("signature");
        assert_eq!(err.message, "signature: not a PNG");
        assert_eq!(err.to_string(), "invalid_input: signature: not a PNG");
    }
}
