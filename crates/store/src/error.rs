//! The store's error: one enum with stable codes the UI branches on and
//! messages a technician can act on.

use std::path::PathBuf;

use fieldbook_domain::{AssignmentStatus, LifecycleError, ValidationErrors};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "Fieldbook's data folder {} is already in use by another Fieldbook window or process; close it and try again",
        path.display()
    )]
    Locked { path: PathBuf },

    #[error(
        "this data was written by a newer Fieldbook (schema version {found}, this version understands up to {supported}); update Fieldbook to open it"
    )]
    SchemaTooNew { found: u32, supported: u32 },

    #[error("updating the local database to schema {version:04}_{name} failed: {source}")]
    MigrationFailed {
        version: u32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "updating the local database to schema {version:04}_{name} left rows of {table} pointing at rows that are gone; nothing was changed"
    )]
    MigrationBrokeReferences {
        version: u32,
        name: &'static str,
        table: String,
    },

    #[error("{entity} {id} is not on this device; sync and try again")]
    NotFound { entity: &'static str, id: String },

    #[error("{0}")]
    Validation(ValidationErrors),

    #[error("{0}")]
    Lifecycle(LifecycleError),

    #[error("this assignment is {status}; only a newly assigned job can be accepted or declined")]
    AssignmentAlreadyAnswered { status: AssignmentStatus },

    #[error("the report for this installation has been submitted and can no longer be changed")]
    ReportSubmitted,

    #[error("nobody is signed in on this device; sign in first")]
    NotSignedIn,

    #[error("only the person who added this photo or video can change or remove it")]
    NotUploader,

    #[error(
        "{name} has {pending} change(s) on this computer the server has not accepted yet; {name} must sign in and sync (and dismiss any that need attention) before someone else signs in here"
    )]
    UnsentWorkOfAnotherUser { name: String, pending: u64 },

    #[error(transparent)]
    Media(#[from] fieldbook_media::MediaError),

    #[error("the completion certificate could not be made: {0}")]
    Certificate(#[from] fieldbook_certificate::CertificateError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the local database {} cannot be opened with this computer's key (the key is wrong or missing, e.g. the keyring was reset); nothing was changed: restore the keyring, or move the data folder away and sign in again to download your jobs",
        path.display()
    )]
    WrongKey { path: PathBuf },

    #[error("the encrypted copy of the local database does not match the original ({0}); the original is kept as it was: free some disk space and start Fieldbook again, or contact support")]
    EncryptionCheckFailed(String),

    #[error("the data was erased but new keys could not be made ({0}); unlock the keyring and start Fieldbook again")]
    KeysNotRenewed(String),

    #[error("the local database failed: {0}")]
    Database(rusqlite::Error),

    #[error(
        "this computer's disk is full, so this change was not saved (everything saved before is kept); free some space and try again"
    )]
    DiskFull,

    #[error("the local database holds a value this version cannot read ({0}); sync again, and contact support if this repeats")]
    Corrupt(String),
}

impl StoreError {
    /// Stable, machine-readable code (the frontend's `{code, message}`).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Locked { .. } => "locked",
            StoreError::SchemaTooNew { .. } => "schema_too_new",
            StoreError::NotFound { .. } => "not_found",
            StoreError::Validation(_) => "validation",
            StoreError::Lifecycle(_) | StoreError::AssignmentAlreadyAnswered { .. } => "lifecycle",
            StoreError::ReportSubmitted => "report_submitted",
            StoreError::NotSignedIn => "not_signed_in",
            StoreError::NotUploader => "not_permitted",
            StoreError::UnsentWorkOfAnotherUser { .. } => "unsent_work_of_another_user",
            StoreError::Media(e) => e.code(),
            StoreError::Certificate(_) => "certificate",
            StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                "disk_full"
            }
            StoreError::Io { .. } => "io",
            StoreError::DiskFull => "disk_full",
            StoreError::Database(_)
            | StoreError::MigrationFailed { .. }
            | StoreError::MigrationBrokeReferences { .. } => "database",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::WrongKey { .. } => "wrong_database_key",
            StoreError::EncryptionCheckFailed(_) => "encryption_check_failed",
            StoreError::KeysNotRenewed(_) => "keyring",
        }
    }

    /// The field-level problems, when this is a validation error.
    pub fn validation_errors(&self) -> Option<&ValidationErrors> {
        match self {
            StoreError::Validation(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    /// A column that no longer parses (a bad enum value, a malformed id) is
    /// damaged data, not a failing database: say so.
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::FromSqlConversionFailure(column, _, cause) => {
                StoreError::Corrupt(format!("column {column}: {cause}"))
            }
            // SQLITE_FULL: a write found no space; the transaction was
            // rolled back, so what was saved before is intact.
            other if other.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => {
                StoreError::DiskFull
            }
            other => StoreError::Database(other),
        }
    }
}

impl From<LifecycleError> for StoreError {
    /// A missing or bad reason is a field problem the form shows next to the
    /// input, not a lifecycle refusal.
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Invalid(field) => field.into(),
            other => StoreError::Lifecycle(other),
        }
    }
}

impl From<ValidationErrors> for StoreError {
    fn from(e: ValidationErrors) -> Self {
        StoreError::Validation(e)
    }
}

impl From<fieldbook_domain::FieldError> for StoreError {
    fn from(e: fieldbook_domain::FieldError) -> Self {
        StoreError::Validation(ValidationErrors { errors: vec![e] })
    }
}

/// What the UI receives: `{code, message}`, plus `fields` for validation
/// errors so each message can sit next to its input.
impl serde::Serialize for StoreError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields = self.validation_errors().map(|v| &v.errors);
        let mut s = serializer.serialize_struct("StoreError", 3)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.serialize_field("fields", &fields)?;
        s.end()
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use fieldbook_domain::FieldError;

    #[test]
    fn serialises_as_code_message_and_fields() {
        let err = StoreError::from(FieldError::required("reason", "Reason is required"));
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["code"], "validation");
        assert_eq!(json["message"], "reason: Reason is required");
        assert_eq!(json["fields"][0]["field"], "reason");
        assert_eq!(json["fields"][0]["code"], "required");

        let json = serde_json::to_value(StoreError::ReportSubmitted).unwrap();
        assert_eq!(json["code"], "report_submitted");
        assert!(json["fields"].is_null());
    }

    #[test]
    fn lifecycle_reason_problems_become_field_errors() {
        let err = StoreError::from(LifecycleError::Invalid(FieldError::required(
            "override_reason",
            "Override reason is required",
        )));
        assert_eq!(err.code(), "validation");
        let err = StoreError::from(LifecycleError::NoSuchMove {
            from: fieldbook_domain::InstallationStatus::Closed,
            to: fieldbook_domain::InstallationStatus::InProgress,
        });
        assert_eq!(err.code(), "lifecycle");
        assert_eq!(
            err.to_string(),
            "an installation cannot move from closed to in_progress"
        );
    }
}
