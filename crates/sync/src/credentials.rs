//! Where the bearer token lives between runs.
//!
//! No OS keyring implementation: the keyring crates need a running Secret
//! Service (D-Bus) on Linux, which field laptops and CI here do not have, or
//! the kernel keyring, which forgets the token on reboot. The token is kept
//! in a file only its owner can read, in the data dir.

use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

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
