//! The desktop's sync engine: keeps a device's local store and the central
//! server in step (pull, push, blob uploads, background loop).
//!
//! One module per feature: [`blobs`] (tus uploads), [`client`] (HTTP),
//! [`credentials`] (token), [`settings`] (server URL), [`pull`], [`push`],
//! [`status`], [`engine`] (sign-in, sync cycle, loop) and [`recovery`] (a
//! server that lost this device's history).

pub mod app_lock;
pub mod blobs;
pub mod client;
pub mod credentials;
pub mod diagnostics;
pub mod engine;
pub mod error;
mod files;
pub mod near_window;
pub mod pull;
pub mod push;
pub mod recovery;
pub mod retention;
pub mod settings;
pub mod status;
pub mod transport;
pub mod updates;
pub mod wipe;

pub use credentials::{CredentialStore, FileCredentialStore, KeyringCredentialStore};
pub use engine::{SyncEngine, SyncOptions};
pub use error::SyncError;
pub use status::{
    ConnectionState, SyncErrorInfo, SyncPhase, SyncProgress, SyncStatus, SyncSummary,
};
pub use wipe::{erase_everything, WipeNotice};

/// The local store, shared between the app's commands and the engine. Never
/// held across an `.await`: lock, read or write, unlock.
pub type SharedStore = std::sync::Arc<std::sync::Mutex<fieldbook_store::Store>>;

/// The engine's only way into the store: locked for one short step (never
/// across an `.await`), seen through the narrow [`fieldbook_store::SyncSide`]
/// handle, not the store's whole surface.
pub(crate) struct StoreLock<'a>(std::sync::MutexGuard<'a, fieldbook_store::Store>);

impl StoreLock<'_> {
    pub(crate) fn side(&mut self) -> fieldbook_store::SyncSide<'_> {
        self.0.sync_side()
    }
}

pub(crate) fn lock_store(store: &SharedStore) -> StoreLock<'_> {
    // A panic elsewhere while holding the lock leaves SQLite consistent
    // (transactions roll back), so the store stays usable.
    StoreLock(
        store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// Runs one step against the store's sync handle.
pub(crate) fn with_store<T>(
    store: &SharedStore,
    step: impl FnOnce(&mut fieldbook_store::SyncSide<'_>) -> fieldbook_store::Result<T>,
) -> Result<T, SyncError> {
    Ok(step(&mut lock_store(store).side())?)
}

#[cfg(test)]
mod tests {
    /// Only [`super::lock_store`] locks the store: every other module goes
    /// through the narrow handle.
    #[test]
    fn the_engine_reaches_the_store_only_through_its_sync_handle() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.file_name().is_some_and(|n| n == "lib.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for needle in [
                    "store.lock()",
                    "lock(&self.inner.store)",
                    "store lock poisoned",
                ] {
                    if text.contains(needle) {
                        offenders.push(format!("{} contains `{needle}`", path.display()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
