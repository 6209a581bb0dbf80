//! What the engine remembers in the data dir besides the token: the server
//! URL and, per device id, how this device's outbox sequence maps onto the
//! sequence the server expects (see [`crate::recovery`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::SyncError;
use crate::files;

/// File name of the settings in the data dir.
pub const SETTINGS_FILE: &str = "sync-settings.json";

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Normalised (no trailing slash), e.g. `https://sync.example.com`.
    #[serde(default)]
    pub server_url: Option<String>,
    /// `local outbox sequence - device_seq sent to the server`, per device
    /// id; absent means 0. Changes only after the server lost this device's
    /// history (restored from a backup, reset).
    #[serde(default)]
    pub sequence_offsets: BTreeMap<Uuid, i64>,
}

impl Settings {
    pub fn sequence_offset(&self, device_id: Uuid) -> i64 {
        self.sequence_offsets.get(&device_id).copied().unwrap_or(0)
    }
}

/// The settings file of one data dir.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    path: PathBuf,
}

impl SettingsFile {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(SETTINGS_FILE),
        }
    }

    /// The saved settings; defaults when there are none yet. A damaged file
    /// is an error rather than silently forgotten: the sequence offsets in it
    /// matter.
    pub fn load(&self) -> Result<Settings, SyncError> {
        match files::read_if_exists(&self.path)? {
            None => Ok(Settings::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                SyncError::io(
                    format!(
                        "{} is damaged; remove it and sign in again",
                        self.path.display()
                    ),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            }),
        }
    }

    pub fn save(&self, settings: &Settings) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec_pretty(settings).expect("settings serialise");
        files::write_atomically(&self.path, &bytes, 0o600)
    }
}

/// Checks and normalises a server address typed by a person: http(s) only,
/// no query or fragment, no trailing slash.
pub fn normalise_server_url(input: &str) -> Result<String, SyncError> {
    let trimmed = input.trim();
    let invalid = |reason: &str| SyncError::InvalidServerUrl {
        url: input.to_owned(),
        reason: reason.to_owned(),
    };
    if trimmed.is_empty() {
        return Err(invalid(
            "enter the address Central Ops gave you, e.g. https://sync.example.com",
        ));
    }
    let url = reqwest::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "it must start with https:// (or http:// on a local network)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host name"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not contain '?' or '#'"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_normalised_or_refused() {
        assert_eq!(
            normalise_server_url(" https://sync.example.com/ ").unwrap(),
            "https://sync.example.com"
        );
        assert_eq!(
            normalise_server_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_server_url("https://example.com/fieldbook/").unwrap(),
            "https://example.com/fieldbook"
        );
        for bad in [
            "",
            "sync.example.com",
            "ftp://example.com",
            "https://x.com/?a=1",
        ] {
            let err = normalise_server_url(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_server_url", "{bad}");
        }
    }

    #[test]
    fn settings_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::new(dir.path());
        assert_eq!(file.load().unwrap(), Settings::default());
        let device = Uuid::new_v4();
        let mut settings = Settings {
            server_url: Some("https://sync.example.com".into()),
            ..Settings::default()
        };
        settings.sequence_offsets.insert(device, 14);
        file.save(&settings).unwrap();
        let loaded = file.load().unwrap();
        assert_eq!(loaded, settings);
        assert_eq!(loaded.sequence_offset(device), 14);
        assert_eq!(loaded.sequence_offset(Uuid::new_v4()), 0);
    }

    #[test]
    fn a_damaged_settings_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SETTINGS_FILE), b"{not json").unwrap();
        assert_eq!(
            SettingsFile::new(dir.path()).load().unwrap_err().code(),
            "io"
        );
    }
}
