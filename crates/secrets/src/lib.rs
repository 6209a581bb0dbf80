//! The device's secrets: the bearer token and the random 256-bit keys of one
//! data folder (its database key and its media key).
//!
//! They live in the OS keyring (Secret Service on Linux, Credential Manager
//! on Windows, Keychain on macOS). Where no keyring answers (a minimal
//! desktop, a CI box) they live in a 0600 JSON file in a 0700 folder outside
//! the data folder, and [`Secrets::backend`] says so, so Settings can tell the
//! technician plainly.
//!
//! A small marker file in the data folder (`key-backend`, no secret in it)
//! records where the keys went and the folder's random id that names them.
//! It is written only after both keys are stored, so a marker always means
//! "the keys exist": when they cannot be found later the error says the key
//! is missing instead of quietly making a new one that opens nothing.

mod backend;
mod error;
mod key_file;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use error::{Result, SecretsError};

use backend::Backend;

/// File in the data folder saying where its keys are (no secret in it).
pub const MARKER_FILE: &str = "key-backend";

/// Where this data folder's keys and token are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyBackend {
    /// The OS keyring (Secret Service, Credential Manager, Keychain).
    OsKeyring,
    /// A file only this OS user can read, outside the data folder.
    File { path: PathBuf },
}

impl KeyBackend {
    /// One sentence for Settings.
    pub fn description(&self) -> String {
        match self {
            KeyBackend::OsKeyring => {
                "Keys are kept in this computer's keyring, locked with your desktop sign-in."
                    .to_owned()
            }
            KeyBackend::File { path } => format!(
                "Keys are kept in a file ({}) because no keyring is available; anyone who can read your files can read them.",
                path.display()
            ),
        }
    }
}

/// A random 256-bit key. Wiped from memory when dropped; never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_BYTES]>);

pub const KEY_BYTES: usize = 32;

impl SecretKey {
    fn random() -> Self {
        use rand::RngCore;
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        SecretKey(bytes)
    }

    /// A key from its 64 hex digits (as the keyring and the key file keep it).
    pub fn from_hex(hex_digits: &str) -> Option<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        hex::decode_to_slice(hex_digits.trim(), bytes.as_mut()).ok()?;
        Some(SecretKey(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// The secrets kept for one data folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    DatabaseKey,
    MediaKey,
    SessionToken,
}

impl Item {
    const ALL: [Item; 3] = [Item::DatabaseKey, Item::MediaKey, Item::SessionToken];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Item::DatabaseKey => "database-key",
            Item::MediaKey => "media-key",
            Item::SessionToken => "session-token",
        }
    }
}

/// Which stores [`Secrets::open_with`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringUse {
    /// The OS keyring when it answers, the key file otherwise.
    WhenAvailable,
    /// The key file even when a keyring answers.
    Never,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    backend: MarkerBackend,
    /// Random; names this folder's entries in the keyring and its key file.
    folder_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum MarkerBackend {
    OsKeyring,
    File,
}

/// The token and keys of one data folder.
#[derive(Debug)]
pub struct Secrets {
    data_dir: PathBuf,
    key_file_dir: PathBuf,
    keyring: KeyringUse,
    /// Replaced by [`Secrets::renew`].
    backend: RwLock<Backend>,
}

impl Secrets {
    /// [`Secrets::open_with`] using the OS keyring when it answers.
    pub fn open(data_dir: &Path, key_file_dir: &Path) -> Result<Secrets> {
        Self::open_with(data_dir, key_file_dir, KeyringUse::WhenAvailable)
    }

    /// Finds where this data folder's keys are, or (first start) picks the
    /// keyring when it answers, else a key file in `key_file_dir`, and
    /// creates both keys there. `key_file_dir` must be outside `data_dir`:
    /// a copy of the data folder must not carry its keys along.
    pub fn open_with(data_dir: &Path, key_file_dir: &Path, keyring: KeyringUse) -> Result<Secrets> {
        fs::create_dir_all(data_dir)
            .map_err(|e| SecretsError::io(format!("cannot create {}", data_dir.display()), e))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| SecretsError::io(format!("cannot find {}", data_dir.display()), e))?;
        let key_file_dir = key_file::absolute(key_file_dir)?;
        if key_file_dir.starts_with(&data_dir) {
            return Err(SecretsError::KeyFileInsideDataFolder {
                key_file_dir,
                data_dir,
            });
        }
        let marker_path = data_dir.join(MARKER_FILE);
        let backend = match read_marker(&marker_path)? {
            Some(marker) => match marker.backend {
                MarkerBackend::OsKeyring => {
                    Backend::os_keyring(&marker.folder_id).map_err(|reason| {
                        SecretsError::KeyringUnavailable {
                            reason: reason.to_string(),
                        }
                    })?
                }
                MarkerBackend::File => Backend::file(&key_file_dir, &marker.folder_id),
            },
            None => start_fresh(&data_dir, &key_file_dir, keyring)?,
        };
        Ok(Secrets {
            data_dir,
            key_file_dir,
            keyring,
            backend: RwLock::new(backend),
        })
    }

    /// Forgets every key and the token ([`Secrets::forget_everything`]) and
    /// makes new keys, as on a first start. Remote wipe calls this once the
    /// old database is deleted: whatever of it is left on the disk stays
    /// encrypted with a key that no longer exists, and the new empty database
    /// gets the new key. A crash midway is safe: without a marker the next
    /// start makes new keys for the (deleted) database.
    pub fn renew(&self) -> Result<()> {
        self.forget_everything()?;
        let fresh = start_fresh(&self.data_dir, &self.key_file_dir, self.keyring)?;
        *self.backend.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Where the keys are (Settings shows [`KeyBackend::description`]).
    pub fn backend(&self) -> KeyBackend {
        self.current().kind()
    }

    /// The key the local database is encrypted with.
    pub fn database_key(&self) -> Result<SecretKey> {
        self.key(Item::DatabaseKey)
    }

    /// The key the media files are encrypted with.
    pub fn media_key(&self) -> Result<SecretKey> {
        self.key(Item::MediaKey)
    }

    pub fn token(&self) -> Result<Option<String>> {
        Ok(self
            .current()
            .get(Item::SessionToken)?
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty()))
    }

    pub fn save_token(&self, token: &str) -> Result<()> {
        self.set(Item::SessionToken, token)
    }

    pub fn clear_token(&self) -> Result<()> {
        self.current().delete(Item::SessionToken)
    }

    /// Deletes both keys and the token from wherever they are (keyring and
    /// key file) and then the marker: afterwards nothing on this computer can
    /// decrypt the data folder. Remote wipe calls this; it can be called
    /// again after a crash midway (what is already gone is skipped).
    pub fn forget_everything(&self) -> Result<()> {
        let backend = self.current();
        for item in Item::ALL {
            backend.delete(item)?;
        }
        backend.remove_key_file()?;
        let marker = self.data_dir.join(MARKER_FILE);
        key_file::remove_if_exists(&marker)?;
        tracing::info!(data_dir = %self.data_dir.display(), "all keys and the token are forgotten");
        Ok(())
    }

    fn key(&self, item: Item) -> Result<SecretKey> {
        let backend = self.current();
        let hex_digits = backend.get(item)?.ok_or_else(|| SecretsError::KeyMissing {
            what: item.name(),
            place: backend.kind().place(),
            data_dir: self.data_dir.clone(),
        })?;
        SecretKey::from_hex(&hex_digits).ok_or(SecretsError::MalformedKey { what: item.name() })
    }

    fn set(&self, item: Item, value: &str) -> Result<()> {
        self.current().set(item, value)
    }

    fn current(&self) -> RwLockReadGuard<'_, Backend> {
        self.backend.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl KeyBackend {
    fn place(&self) -> String {
        match self {
            KeyBackend::OsKeyring => "the system keyring".to_owned(),
            KeyBackend::File { path } => path.display().to_string(),
        }
    }
}

/// First start of a data folder: picks where the keys go, creates both
/// keys there, and then (last) writes the marker.
fn start_fresh(data_dir: &Path, key_file_dir: &Path, keyring: KeyringUse) -> Result<Backend> {
    let folder_id = hex::encode(&SecretKey::random().as_bytes()[..16]);
    let backend = match keyring {
        KeyringUse::WhenAvailable => match Backend::os_keyring(&folder_id) {
            Ok(backend) => backend,
            Err(reason) => {
                tracing::warn!(%reason, "no OS keyring answers; keys go to a file");
                Backend::file(key_file_dir, &folder_id)
            }
        },
        KeyringUse::Never => Backend::file(key_file_dir, &folder_id),
    };
    // Keys first, marker last: a marker always means the keys exist.
    backend.set(Item::DatabaseKey, &SecretKey::random().to_hex())?;
    backend.set(Item::MediaKey, &SecretKey::random().to_hex())?;
    let marker = Marker {
        backend: match backend {
            Backend::OsKeyring { .. } => MarkerBackend::OsKeyring,
            Backend::File { .. } => MarkerBackend::File,
        },
        folder_id,
    };
    let json = serde_json::to_vec(&marker).expect("the marker serialises");
    key_file::write_atomically(&data_dir.join(MARKER_FILE), &json, 0o600)?;
    Ok(backend)
}

fn read_marker(path: &Path) -> Result<Option<Marker>> {
    let Some(bytes) = key_file::read_if_exists(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| SecretsError::MalformedFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_never_shows_in_debug_output_and_round_trips_through_hex() {
        let key = SecretKey::random();
        assert_eq!(format!("{key:?}"), "SecretKey(…)");
        let again = SecretKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(again.as_bytes(), key.as_bytes());
        assert!(SecretKey::from_hex("abc").is_none());
        assert_ne!(SecretKey::random().as_bytes(), key.as_bytes());
    }
}
