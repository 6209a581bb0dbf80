//! The secrets' error: stable codes and messages that say what to do.

use std::path::PathBuf;

pub type Result<T, E = SecretsError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "this computer's keyring did not answer ({reason}); Fieldbook keeps its keys there: unlock the keyring (sign in to the desktop session) and start Fieldbook again"
    )]
    KeyringUnavailable { reason: String },

    #[error(
        "the keyring could not {action} the {what}: {reason}; unlock the keyring and try again"
    )]
    Keyring {
        action: &'static str,
        what: &'static str,
        reason: String,
    },

    #[error(
        "the {what} of the data folder {} is no longer in {place}, so its data cannot be read; restore it, or move the folder away and sign in again to download your jobs",
        data_dir.display()
    )]
    KeyMissing {
        what: &'static str,
        place: String,
        data_dir: PathBuf,
    },

    #[error("the stored {what} is not a 256-bit key; restore it from a backup, or move the data folder away and sign in again")]
    MalformedKey { what: &'static str },

    #[error("{} cannot be read ({reason}); restore it from a backup, or move the data folder away and sign in again", path.display())]
    MalformedFile { path: PathBuf, reason: String },

    #[error(
        "the key file folder {} is inside the data folder {}; keys must be kept apart from the data they open",
        key_file_dir.display(),
        data_dir.display()
    )]
    KeyFileInsideDataFolder {
        key_file_dir: PathBuf,
        data_dir: PathBuf,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl SecretsError {
    /// Stable, machine-readable code (the frontend's `{code, message}`).
    pub fn code(&self) -> &'static str {
        match self {
            SecretsError::KeyringUnavailable { .. } => "keyring_unavailable",
            SecretsError::Keyring { .. } => "keyring",
            SecretsError::KeyMissing { .. } => "key_missing",
            SecretsError::MalformedKey { .. } | SecretsError::MalformedFile { .. } => {
                "key_file_corrupt"
            }
            SecretsError::KeyFileInsideDataFolder { .. } => "key_file_inside_data_folder",
            SecretsError::Io { .. } => "io",
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SecretsError::Io {
            context: context.into(),
            source,
        }
    }
}
