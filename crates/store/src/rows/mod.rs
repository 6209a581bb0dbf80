//! Per-table row code: the reads and writes of one table group, nothing
//! else. A function here runs in whatever transaction its caller opened (it
//! never opens one) and uses only the base modules (`db`, `error`,
//! `multi_row`, `search`) — never another row module, never actions or
//! apply. Rules that span tables live above, in `local_state`, `actions`
//! and `apply`.

pub(crate) mod assignments;
pub(crate) mod awaiting;
pub(crate) mod blobs;
pub(crate) mod certificates;
pub(crate) mod deferred_indexes;
pub(crate) mod held_work;
pub(crate) mod installations;
pub(crate) mod leads;
pub(crate) mod media;
pub(crate) mod media_codes;
pub(crate) mod media_encrypted;
pub(crate) mod outbox;
pub(crate) mod people;
pub(crate) mod reports;
pub(crate) mod resync;
pub(crate) mod session;
pub(crate) mod sync_state;
pub(crate) mod templates;

/// Where a photo's, video's or signature's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileAvailability {
    /// The file is in this device's media store (always for what was
    /// attached or signed here; for what came from another device only if
    /// the same bytes are here). Otherwise the UI shows it as "on server".
    pub on_this_device: bool,
    /// The server said it has the bytes; `None` until a pull said either.
    pub on_server: Option<bool>,
}
