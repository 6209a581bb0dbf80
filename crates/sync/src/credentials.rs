//! Where the bearer token lives between runs.
//!
//! The app keeps it with the data folder's keys ([`KeyringCredentialStore`]:
//! the OS keyring, or a 0600 key file outside the data folder where no
//! keyring answers). [`FileCredentialStore`], a 0600 file in the data dir, is
//! where versions before the keyring kept it; tests and tools still use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fieldbook_secrets::Secrets;

use crate::error::SyncError;
use crate::files;

/// Keeps one bearer token. Implementations must be cheap: the engine reads the
/// token at start and writes it on sign-in / sign-out only.
pub trait CredentialStore: Send + Sync + std::fmt::Debug {
    fn load(&self) -> Result<Option<String>, SyncError>;
    fn save(&self, token: &str) -> Result<(), SyncError>;
    fn clear(&self) -> Result<(), SyncError>;
}

/// The token in `<data dir>/session-token`, mode 0600, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileCredentialStore {
    path: PathBuf,
}

/// File name of the token in the data dir.
pub const TOKEN_FILE: &str = "session-token";

impl FileCredentialStore {
    pub fn new(data_dir: impl AsRef<Path>) -> Self {
        Self {
            path: data_dir.as_ref().join(TOKEN_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CredentialStore for FileCredentialStore {
    fn load(&self) -> Result<Option<String>, SyncError> {
        Ok(files::read_if_exists(&self.path)?
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
            .filter(|token| !token.is_empty()))
    }

    fn save(&self, token: &str) -> Result<(), SyncError> {
        files::write_atomically(&self.path, token.as_bytes(), 0o600)
    }

    fn clear(&self) -> Result<(), SyncError> {
        files::remove_if_exists(&self.path)
    }
}

/// The token with the data folder's keys. A token an older version left in
/// `<data dir>/session-token` is moved there on first read, so an upgrade
/// keeps the technician signed in and leaves no token on the disk.
#[derive(Debug, Clone)]
pub struct KeyringCredentialStore {
    secrets: Arc<Secrets>,
    legacy: FileCredentialStore,
}

impl KeyringCredentialStore {
    pub fn new(secrets: Arc<Secrets>, data_dir: impl AsRef<Path>) -> Self {
        Self {
            secrets,
            legacy: FileCredentialStore::new(data_dir),
        }
    }
}

impl CredentialStore for KeyringCredentialStore {
    fn load(&self) -> Result<Option<String>, SyncError> {
        if let Some(token) = self.secrets.token()? {
            // A crash after the move but before the removal left both.
            self.legacy.clear()?;
            return Ok(Some(token));
        }
        let Some(token) = self.legacy.load()? else {
            return Ok(None);
        };
        self.secrets.save_token(&token)?;
        self.legacy.clear()?;
        Ok(Some(token))
    }

    fn save(&self, token: &str) -> Result<(), SyncError> {
        Ok(self.secrets.save_token(token)?)
    }

    fn clear(&self) -> Result<(), SyncError> {
        self.secrets.clear_token()?;
        self.legacy.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_secrets(dir: &Path) -> Arc<Secrets> {
        Arc::new(
            Secrets::open_with(
                &dir.join("data"),
                &dir.join("keys"),
                fieldbook_secrets::KeyringUse::Never,
            )
            .unwrap(),
        )
    }

    #[test]
    fn a_token_left_in_the_data_folder_moves_to_the_key_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        FileCredentialStore::new(&data).save("old-token").unwrap();
        let secrets = file_secrets(dir.path());
        let store = KeyringCredentialStore::new(secrets.clone(), &data);
        assert_eq!(store.load().unwrap().as_deref(), Some("old-token"));
        assert!(
            !data.join(TOKEN_FILE).exists(),
            "no token left in the data folder"
        );
        assert_eq!(secrets.token().unwrap().as_deref(), Some("old-token"));
        store.save("new-token").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some("new-token"));
        assert!(!data.join(TOKEN_FILE).exists());
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn saves_loads_and_clears_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCredentialStore::new(dir.path());
        assert_eq!(store.load().unwrap(), None);
        store.save("secret-token").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some("secret-token"));
        store.save("newer-token").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some("newer-token"));
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn only_the_owner_can_read_the_token_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileCredentialStore::new(dir.path());
        store.save("secret-token").unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
