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

    #[error(transparent)]
    Media(#[from] fieldbook_media::MediaError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the local database failed: {0}")]
    Database(#[from] rusqlite::Error),

    #[error("the local database holds a value this version cannot read ({0}); restore from sync")]
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
            StoreError::Media(e) => e.code(),
            StoreError::Io { .. } => "io",
            StoreError::Database(_) | StoreError::MigrationFailed { .. } => "database",
            StoreError::Corrupt(_) => "corrupt",
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

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
