//! Fieldbook's central sync server: auth, team scoping, pull/push, blobs.

pub mod blobs;
pub mod caller;
