//! Fieldbook's domain: the data model of charger installations, the
//! installation lifecycle state machine, validation rules and the named
//! mutations a technician's device sends to the server.
//!
//! Pure Rust, no IO: the desktop store, the sync engine and the central server
//! all build on these types, so the rules live in exactly one place.

pub mod decimal;
pub mod default_template;
pub mod ids;
pub mod label;
pub mod lifecycle;
pub mod models;
pub mod mutation;
pub mod report;
pub mod template;
pub mod validation;

pub use decimal::ExactDecimal;
pub use default_template::default_uk_template;
pub use ids::{InstallationId, InstallationIdError, Sha256Hex};
pub use lifecycle::{Actor, LifecycleError, StartAction, StartRequest, TechnicianActions};
pub use models::*;
pub use mutation::{Mutation, MutationKind};
pub use report::{CustomerSignature, ReportCheck, ReportDraft, SignaturePoint, SignatureStroke};
pub use template::{
    PhotoSlotFills, ReportTemplate, SlotFill, TemplateCheck, TemplateRef, TestResultLine,
    TestResults, TestValue, DEFAULT_TEMPLATE_ID,
};
pub use validation::{FieldError, FieldErrorCode, ValidationErrors};
