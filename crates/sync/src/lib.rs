//! The desktop's sync engine: keeps a device's local store and the central
//! server in step (pull, push, blob uploads, background loop).
//!
//! One module per feature: [`blobs`] (tus uploads), [`client`] (HTTP),
//! [`credentials`] (token), [`settings`] (server URL), [`pull`], [`push`],
//! [`status`], [`engine`] (sign-in, sync cycle, loop) and [`recovery`] (a
//! server that lost this device's history).

pub mod blobs;
pub mod client;
pub mod credentials;
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

pub use credentials::{CredentialStore, FileCredentialStore};
pub use engine::{SyncEngine, SyncOptions};
pub use error::SyncError;
pub use status::{
    ConnectionState, SyncErrorInfo, SyncPhase, SyncProgress, SyncStatus, SyncSummary,
};

/// The local store, shared between the app's commands and the engine. Never
/// held across an `.await`: lock, read or write, unlock.
pub type SharedStore = std::sync::Arc<std::sync::Mutex<fieldbook_store::Store>>;
