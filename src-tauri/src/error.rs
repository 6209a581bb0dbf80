//! The one error every command returns: `{code, message, fields?}`, so the UI
//! branches on `code` and shows `message` (which says what to do) as is.

use fieldbook_domain::FieldError;
use fieldbook_store::StoreError;
use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct CommandError {
    /// Stable, machine-readable: the store's and the sync engine's codes, plus
    /// `invalid_input` (a malformed argument) and `internal`.
    pub code: String,
    /// For the technician: what happened and what to do.
    pub message: String,
    /// Field-level problems of a validation error, to show beside each input.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub fields: Option<Vec<FieldError>>,
}

impl CommandError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            fields: None,
        }
    }

    /// An argument the UI sent that cannot be right (bad base64, …).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("invalid_input", message)
    }

    /// A failure of the app itself (a panicked worker, a poisoned lock).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("internal", message)
    }

    /// The same error with `context` in front of its message ("IMG_2.jpg: …").
    pub fn with_context(mut self, context: &str) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CommandError {}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        Self {
            code: e.code().to_owned(),
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
        Self::new(e.code(), e.to_string())
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
        assert_eq!(err.code, "unsynced_work");
        assert!(
            err.message.contains("3 change(s) and 2 file(s)"),
            "{}",
            err.message
        );

        let err = CommandError::from(fieldbook_sync::SyncError::Store(StoreError::from(
            FieldError::required("reason", "Reason is required"),
        )));
        assert_eq!(err.code, "validation");
        assert_eq!(err.fields.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn context_goes_in_front_of_the_message() {
        let err = CommandError::invalid_input("not a PNG").with_context("signature");
        assert_eq!(err.message, "signature: not a PNG");
        assert_eq!(err.to_string(), "invalid_input: signature: not a PNG");
    }
}
