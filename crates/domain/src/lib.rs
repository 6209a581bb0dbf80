//! Fieldbook's domain: the data model of charger installations, the
//! installation lifecycle state machine, validation rules and the named
//! mutations a technician's device sends to the server.
//!
//! Pure Rust, no IO: the desktop store, the sync engine and the central server
//! all build on these types, so the rules live in exactly one place.

pub mod ids;
pub mod label;
pub mod lifecycle;
pub mod models;
pub mod mutation;
pub mod report;
pub mod validation;

pub use ids::{InstallationId, InstallationIdError, Sha256Hex};
pub use lifecycle::{Actor, LifecycleError, StartAction, StartRequest, TechnicianActions};
pub use models::*;
pub use mutation::{Mutation, MutationKind};
pub use report::{CustomerSignature, ReportCheck, ReportDraft, SignaturePoint, SignatureStroke};
pub use validation::{FieldError, FieldErrorCode, ValidationErrors};
