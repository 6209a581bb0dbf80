use std::path::{Path, PathBuf};

/// Why a file could not be imported. Every message tells the technician what
/// to do next; the UI branches on [`MediaError::code`], never on the text.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(
        "This file is empty (0 bytes), so there is nothing to attach. \
         Copy the photo or video from the camera or phone again and retry."
    )]
    EmptyFile,

    #[error(
        "This file is not a photo or video: its content is {detected}, whatever its name says. \
         Choose a photo (JPEG, PNG, WebP) or a video (MP4, MOV)."
    )]
    NotMedia { detected: String },

    #[error(
        "This photo is in a format Fieldbook cannot open ({format}). \
         Export or convert it to JPEG or PNG and import it again."
    )]
    UnsupportedPhotoFormat { format: String },

    #[error(
        "This photo is damaged or incomplete and cannot be opened ({detail}). \
         Copy it again from the camera or phone, or take the photo again."
    )]
    CorruptImage { detail: String },

    #[error(
        "This photo is too large to import ({detail}). \
         Resize it (at most {max_side}×{max_side} pixels) and import it again."
    , max_side = crate::MAX_IMAGE_SIDE)]
    ImageTooLarge { detail: String },

    #[error(
        "The encrypted copy of `{}` did not read back as the original, so the original was kept as it is. \
         Check the disk for errors and free space, then start Fieldbook again."
    , path.display())]
    EncryptionCheckFailed { path: PathBuf },

    #[error("Could not {action} `{}`: {source}. Check that the disk is not full and the file is readable.", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MediaError {
    /// Stable machine-readable code, part of the `{code, message}` error the UI receives.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::EmptyFile => "empty_file",
            MediaError::NotMedia { .. } => "not_media",
            MediaError::UnsupportedPhotoFormat { .. } => "unsupported_photo_format",
            MediaError::CorruptImage { .. } => "corrupt_image",
            MediaError::ImageTooLarge { .. } => "image_too_large",
            MediaError::EncryptionCheckFailed { .. } => "encryption_check_failed",
            MediaError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                "disk_full"
            }
            MediaError::Io { .. } => "io",
        }
    }

    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        MediaError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(detail: impl std::fmt::Display) -> Self {
        MediaError::CorruptImage {
            detail: detail.to_string(),
        }
    }

    pub(crate) fn too_large(detail: impl std::fmt::Display) -> Self {
        MediaError::ImageTooLarge {
            detail: detail.to_string(),
        }
    }
}
