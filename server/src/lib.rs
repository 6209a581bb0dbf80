//! Fieldbook's central sync server: auth, team scoping, pull/push, blobs.
//!
//! One module per feature; handlers are thin and call the feature's
//! functions, which run on [`storage`].

pub mod admin;
pub mod app;
pub mod auth;
pub mod backup;
pub mod blob_arrival;
pub mod blob_download;
pub mod blobs;
pub mod caller;
pub mod client_address;
pub mod config;
pub mod config_file;
pub mod console_assets;
pub mod error;
pub mod held_work;
pub mod installations;
pub mod json;
pub mod openapi;
pub mod ops;
pub mod password;
pub mod pull;
pub mod push;
pub mod report_templates;
pub mod seed;
pub mod send_back;
pub mod storage;
pub mod tls;
pub mod updates;
pub mod verify;
pub mod wipe;

pub use app::{start, AppState, RunningServer};
pub use config::{PasswordHashing, ServerConfig, TlsFiles};
