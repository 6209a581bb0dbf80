//! The two places secrets can live: the OS keyring, or a key file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Result, SecretsError};
use crate::{key_file, Item, KeyBackend};

/// The keyring "service" every entry is filed under.
const SERVICE: &str = "Fieldbook";

#[derive(Debug)]
pub(crate) enum Backend {
    OsKeyring {
        folder_id: String,
    },
    File {
        path: PathBuf,
        /// Read-modify-write of the file is one step at a time.
        lock: Mutex<()>,
    },
}

impl Backend {
    /// The OS keyring, when it answers: a probe entry is written and deleted,
    /// so a keyring that lists but cannot store (locked, read-only) counts as
    /// not answering.
    pub(crate) fn os_keyring(folder_id: &str) -> std::result::Result<Backend, keyring::Error> {
        let probe = keyring::Entry::new(SERVICE, &format!("probe {folder_id}"))?;
        probe.set_password("probe")?;
        probe.delete_credential()?;
        Ok(Backend::OsKeyring {
            folder_id: folder_id.to_owned(),
        })
    }

    pub(crate) fn file(dir: &Path, folder_id: &str) -> Backend {
        Backend::File {
            path: dir.join(format!("{folder_id}.json")),
            lock: Mutex::new(()),
        }
    }

    pub(crate) fn kind(&self) -> KeyBackend {
        match self {
            Backend::OsKeyring { .. } => KeyBackend::OsKeyring,
            Backend::File { path, .. } => KeyBackend::File { path: path.clone() },
        }
    }

    pub(crate) fn get(&self, item: Item) -> Result<Option<String>> {
        match self {
            Backend::OsKeyring { folder_id } => match entry(folder_id, item)?.get_password() {
                Ok(value) => Ok(Some(value)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(keyring_error("read", item, e)),
            },
            Backend::File { path, lock } => {
                let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
                Ok(key_file::read(path)?.remove(item.name()))
            }
        }
    }

    pub(crate) fn set(&self, item: Item, value: &str) -> Result<()> {
        match self {
            Backend::OsKeyring { folder_id } => entry(folder_id, item)?
                .set_password(value)
                .map_err(|e| keyring_error("store", item, e)),
            Backend::File { path, lock } => {
                let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
                let mut items = key_file::read(path)?;
                items.insert(item.name().to_owned(), value.to_owned());
                key_file::write(path, &items)
            }
        }
    }

    pub(crate) fn delete(&self, item: Item) -> Result<()> {
        match self {
            Backend::OsKeyring { folder_id } => match entry(folder_id, item)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(keyring_error("delete", item, e)),
            },
            Backend::File { path, lock } => {
                let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
                let mut items = key_file::read(path)?;
                if items.remove(item.name()).is_some() {
                    key_file::write(path, &items)?;
                }
                Ok(())
            }
        }
    }

    /// The key file itself, once it holds nothing.
    pub(crate) fn remove_key_file(&self) -> Result<()> {
        match self {
            Backend::OsKeyring { .. } => Ok(()),
            Backend::File { path, lock } => {
                let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
                key_file::remove_if_exists(path)
            }
        }
    }
}

fn entry(folder_id: &str, item: Item) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &format!("{} {folder_id}", item.name()))
        .map_err(|e| keyring_error("open", item, e))
}

fn keyring_error(action: &'static str, item: Item, e: keyring::Error) -> SecretsError {
    SecretsError::Keyring {
        action,
        what: item.name(),
        reason: e.to_string(),
    }
}
