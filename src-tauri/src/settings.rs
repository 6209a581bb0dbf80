//! The settings screen: how much disk the local data uses, and "Save
//! diagnostics…" (the support bundle, collected by `fieldbook_sync::diagnostics`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::context::AppContext;
use crate::error::{CommandError, CommandResult};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
pub struct StorageUsage {
    /// The SQLite database with its write-ahead log.
    #[ts(type = "number")]
    pub database_bytes: u64,
    /// Photos, videos, signatures and their thumbnails.
    #[ts(type = "number")]
    pub media_bytes: u64,
    /// Photos, videos and signatures (thumbnails not counted).
    #[ts(type = "number")]
    pub media_files: u64,
}

/// Measured from the files, without the store's lock.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn storage_usage(ctx: &AppContext) -> CommandResult<StorageUsage> {
    let database = ctx.database_path().to_path_buf();
    let media_root = ctx.media().root().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut usage = StorageUsage::default();
        for suffix in ["", "-wal", "-shm"] {
            let mut path = database.clone().into_os_string();
            path.push(suffix);
            usage.database_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        add_media(&media_root, true, &mut usage).map_err(|e| {
            CommandError::new(
                crate::error::ErrorCode::Io,
                format!(
                    "could not measure the media folder {}: {e}",
                    media_root.display()
                ),
            )
        })?;
        Ok(usage)
    })
    .await
    .map_err(|e| CommandError::internal(format!("measuring storage stopped unexpectedly: {e}")))?
}

/// Where the keys that encrypt this data folder are kept, for Settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct KeyStorage {
    /// `os_keyring`, `file` (no keyring answered), or `unencrypted` (a
    /// folder opened without keys: tests and tools only).
    pub kind: String,
    /// One sentence for the technician.
    pub description: String,
}

pub fn key_storage(ctx: &AppContext) -> KeyStorage {
    match ctx.key_backend() {
        Some(backend) => KeyStorage {
            kind: match backend {
                fieldbook_secrets::KeyBackend::OsKeyring => "os_keyring",
                fieldbook_secrets::KeyBackend::File { .. } => "file",
            }
            .to_owned(),
            description: backend.description(),
        },
        None => KeyStorage {
            kind: "unencrypted".to_owned(),
            description: "This data folder is not encrypted.".to_owned(),
        },
    }
}

/// The support bundle as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DiagnosticsSaved {
    /// Where the zip went (with `.zip` added when the name had no extension).
    pub path: String,
    /// The files inside it.
    pub entries: Vec<String>,
}

/// Writes the support bundle to `path`, the file the technician chose in
/// the save dialog.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn save_diagnostics(ctx: &AppContext, path: String) -> CommandResult<DiagnosticsSaved> {
    if path.trim().is_empty() {
        return Err(CommandError::new(
            crate::error::ErrorCode::Validation,
            "choose where to save the diagnostics file",
        ));
    }
    let mut out = PathBuf::from(path);
    if out.extension().is_none() {
        out.set_extension("zip");
    }
    let engine = ctx.sync().clone();
    let log_dir = ctx.launch().log_dir.clone();
    tokio::task::spawn_blocking(move || {
        let diagnostics = engine.diagnostics(env!("CARGO_PKG_VERSION"))?;
        let saved = fieldbook_sync::diagnostics::save_diagnostics_zip(
            &diagnostics,
            log_dir.as_deref(),
            &out,
        )?;
        Ok(DiagnosticsSaved {
            path: saved.path.display().to_string(),
            entries: saved.entries,
        })
    })
    .await
    .map_err(|e| CommandError::internal(format!("saving diagnostics stopped unexpectedly: {e}")))?
}

/// Blobs sit in two-hex-digit shard folders of the media root; thumbnails and
/// unfinished imports in `thumbs/` and `tmp/` count as bytes only.
fn add_media(dir: &Path, at_root: bool, usage: &mut StorageUsage) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let name = entry.file_name();
            let is_shard = at_root
                && name.len() == 2
                && name
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()));
            if is_shard {
                for blob in std::fs::read_dir(entry.path())? {
                    let blob = blob?;
                    if blob.file_type()?.is_file() {
                        usage.media_files += 1;
                        usage.media_bytes += blob.metadata()?.len();
                    }
                }
            } else {
                add_media(&entry.path(), false, usage)?;
            }
        } else if kind.is_file() {
            usage.media_bytes += entry.metadata()?.len();
        }
    }
    Ok(())
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn storage_usage(ctx: State<'_, AppContext>) -> CommandResult<StorageUsage> {
        super::storage_usage(&ctx).await
    }

    #[tauri::command]
    pub async fn key_storage(ctx: State<'_, AppContext>) -> CommandResult<KeyStorage> {
        Ok(super::key_storage(&ctx))
    }

    #[tauri::command]
    pub async fn save_diagnostics(
        ctx: State<'_, AppContext>,
        path: String,
    ) -> CommandResult<DiagnosticsSaved> {
        super::save_diagnostics(&ctx, path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{png_bytes, Fixture};

    #[tokio::test]
    async fn counts_the_database_and_each_stored_file_once() {
        let fx = Fixture::new();
        let before = storage_usage(&fx.ctx).await.unwrap();
        assert!(before.database_bytes > 0);
        assert_eq!(before.media_files, 0);

        let id = fx.started_job().await;
        let mut paths = Vec::new();
        for seed in 0..3u8 {
            let path = fx.dir.path().join(format!("photo-{seed}.png"));
            std::fs::write(&path, png_bytes(seed)).unwrap();
            paths.push(path.to_string_lossy().into_owned());
        }
        // The same bytes again: stored once.
        paths.push(paths[0].clone());
        let attached = crate::media::attach_media(&fx.ctx, id, paths, |_| {})
            .await
            .unwrap();
        let blob_bytes: u64 = attached[..3].iter().map(|m| m.file.size).sum();

        let after = storage_usage(&fx.ctx).await.unwrap();
        assert_eq!(after.media_files, 3);
        assert!(
            after.media_bytes > blob_bytes,
            "blobs plus thumbnails: {} vs {blob_bytes}",
            after.media_bytes
        );
    }
}
