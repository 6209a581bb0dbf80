//! The support bundle ("Save diagnostics…"): one zip with what support needs
//! to see what happened on a technician's computer — versions, the sync
//! status, the database's health and queues, and the log files — and no
//! customer data. The database part says how many rows there are, never
//! what is in them (see `fieldbook_store::StoreDiagnostics`); the logs are
//! written without customer data or secrets in the first place (the app's
//! commands skip those fields when they trace).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fieldbook_store::{BlobQueueCounts, OutboxCounts, OutboxErrorSummary, StoreDiagnostics};
use serde::Serialize;
use uuid::Uuid;
use zip::write::SimpleFileOptions;

use crate::error::SyncError;
use crate::files::write_atomically;
use crate::status::SyncStatus;
use crate::SyncEngine;

/// Log files bigger than this go in the zip as their last this-many bytes:
/// the recent past is what support reads, and the zip must stay mailable.
const LOG_TAIL_BYTES: u64 = 16 * 1024 * 1024;

/// The versions and machine the bundle describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub created_at: DateTime<Utc>,
    pub app_version: String,
    pub os: OsInfo,
    pub device_id: Uuid,
    pub schema_version: u32,
    pub supported_schema_version: u32,
    pub server_url: Option<String>,
    /// The signed-in technician's id (not their name), if any.
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// `linux`, `windows`, `macos`.
    pub family: String,
    pub arch: String,
    /// The distribution's name and version (`PRETTY_NAME` of os-release) on Linux.
    pub release: Option<String>,
    /// The kernel version on Linux.
    pub kernel: Option<String>,
}

impl OsInfo {
    pub fn current() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        Self {
            family: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            release: read("/etc/os-release").and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_owned())
            }),
            kernel: read("/proc/sys/kernel/osrelease").map(|v| v.trim().to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseHealth {
    pub integrity_check: Vec<String>,
    pub table_counts: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queues {
    pub outbox: OutboxCounts,
    pub outbox_errors: Vec<OutboxErrorSummary>,
    pub blobs: BlobQueueCounts,
}

/// Everything in the bundle but the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    pub summary: Summary,
    pub sync_status: SyncStatus,
    pub database: DatabaseHealth,
    pub queues: Queues,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedDiagnostics {
    pub path: PathBuf,
    /// Names of the zip's entries, in order.
    pub entries: Vec<String>,
}

impl SyncEngine {
    /// Collects the bundle's facts. Runs the database's integrity check
    /// with the store locked: call from a blocking thread.
    pub fn diagnostics(&self, app_version: &str) -> Result<Diagnostics, SyncError> {
        let (store, user_id): (StoreDiagnostics, Option<Uuid>) =
            crate::with_store(self.store(), |side| {
                Ok((side.diagnostics()?, side.session()?.map(|s| s.user.id)))
            })?;
        Ok(Diagnostics {
            summary: Summary {
                created_at: Utc::now(),
                app_version: app_version.to_owned(),
                os: OsInfo::current(),
                device_id: store.device_id,
                schema_version: store.schema_version,
                supported_schema_version: store.supported_schema_version,
                server_url: self.server_url(),
                user_id,
            },
            sync_status: self.status(),
            database: DatabaseHealth {
                integrity_check: store.integrity_check,
                table_counts: store.table_counts,
            },
            queues: Queues {
                outbox: store.outbox,
                outbox_errors: store.outbox_errors,
                blobs: store.blobs,
            },
        })
    }
}

/// Writes the bundle to `out` (replacing it atomically): the facts as JSON
/// files and every Fieldbook log file of `log_dir` under `logs/`.
pub fn save_diagnostics_zip(
    diagnostics: &Diagnostics,
    log_dir: Option<&Path>,
    out: &Path,
) -> Result<SavedDiagnostics, SyncError> {
    let zip_error = |e: zip::result::ZipError| {
        SyncError::io("cannot write the diagnostics zip", std::io::Error::other(e))
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut entries = Vec::new();
    let mut add = |zip: &mut zip::ZipWriter<_>, name: String, bytes: &[u8]| {
        zip.start_file(name.as_str(), options).map_err(zip_error)?;
        zip.write_all(bytes)
            .map_err(|e| SyncError::io("cannot write the diagnostics zip", e))?;
        entries.push(name);
        Ok::<_, SyncError>(())
    };
    add(&mut zip, "summary.json".into(), &json(&diagnostics.summary))?;
    add(
        &mut zip,
        "sync-status.json".into(),
        &json(&diagnostics.sync_status),
    )?;
    add(
        &mut zip,
        "database.json".into(),
        &json(&diagnostics.database),
    )?;
    add(&mut zip, "queues.json".into(), &json(&diagnostics.queues))?;
    if let Some(dir) = log_dir {
        for path in log_files(dir)? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = read_tail(&path, LOG_TAIL_BYTES)
                .map_err(|e| SyncError::io(format!("cannot read {}", path.display()), e))?;
            add(&mut zip, format!("logs/{name}"), &bytes)?;
        }
    }
    let bytes = zip.finish().map_err(zip_error)?.into_inner();
    write_atomically(out, &bytes, 0o600)?;
    Ok(SavedDiagnostics {
        path: out.to_path_buf(),
        entries,
    })
}

/// The log files Fieldbook wrote (`fieldbook.*.log`), oldest name first.
fn log_files(dir: &Path) -> Result<Vec<PathBuf>, SyncError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SyncError::io(format!("cannot list {}", dir.display()), e)),
    };
    let mut files = Vec::new();
    for entry in listing {
        let entry =
            entry.map_err(|e| SyncError::io(format!("cannot list {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && name.starts_with("fieldbook") && name.ends_with(".log") {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

fn read_tail(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        file.seek(SeekFrom::Start(len - max))?;
    }
    let mut bytes = Vec::with_capacity(len.min(max) as usize);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("diagnostics serialise to JSON")
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::SyncOptions;

    #[test]
    fn the_zip_holds_the_facts_and_only_fieldbook_logs() {
        let dir = tempfile::tempdir().unwrap();
        let store = fieldbook_store::Store::open(dir.path().join("data")).unwrap();
        let engine = SyncEngine::new(
            Arc::new(Mutex::new(store)),
            SyncOptions::new(dir.path().join("data")),
        )
        .unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("fieldbook.2026-11-30.log"), "a line\n").unwrap();
        std::fs::write(logs.join("other.txt"), "not ours").unwrap();

        let diagnostics = engine.diagnostics("9.9.9").unwrap();
        assert_eq!(diagnostics.database.integrity_check, ["ok"]);
        let out = dir.path().join("diagnostics.zip");
        let saved = save_diagnostics_zip(&diagnostics, Some(&logs), &out).unwrap();
        assert_eq!(
            saved.entries,
            [
                "summary.json",
                "sync-status.json",
                "database.json",
                "queues.json",
                "logs/fieldbook.2026-11-30.log"
            ]
        );
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut summary = String::new();
        zip.by_name("summary.json")
            .unwrap()
            .read_to_string(&mut summary)
            .unwrap();
        let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
        assert_eq!(summary["app_version"], "9.9.9");
        assert_eq!(summary["os"]["family"], std::env::consts::OS);
        assert!(summary["user_id"].is_null());
    }

    #[test]
    fn a_big_log_goes_in_as_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fieldbook.log");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_tail(&path, 4).unwrap(), b"6789");
        assert_eq!(read_tail(&path, 100).unwrap(), b"0123456789");
    }
}
