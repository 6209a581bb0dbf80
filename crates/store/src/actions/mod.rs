//! The technician's actions: each public function validates with
//! `fieldbook_domain`, writes the change and appends its outbox entry in
//! one IMMEDIATE transaction opened here ([`in_transaction`]), so a crash
//! leaves both or neither. Uses rows and `local_state`; never `apply`.

mod certificate;
mod held_work;
mod installations;
mod label_search;
mod media;
mod outbox;
mod reports;
mod session;

pub use certificate::CertificatePage;
pub use installations::AssignmentResponse;
pub use label_search::{run_next_label_search, LabelsRead, LABEL_SEARCH_BUDGET};
pub use reports::{DraftSaved, SignatureInput};

use rusqlite::{Connection, TransactionBehavior};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::rows::{installations as installation_rows, reports as report_rows};
use crate::Store;

/// What an action needs besides the transaction.
struct ActionContext<'a> {
    device_id: Uuid,
    media: &'a fieldbook_media::MediaStore,
}

/// Runs `action` in one IMMEDIATE transaction: everything it wrote (the
/// change and its outbox entry) commits together or not at all. The only
/// place actions open a transaction.
fn in_transaction<T>(
    store: &mut Store,
    action: impl FnOnce(&Connection, &ActionContext<'_>) -> Result<T>,
) -> Result<T> {
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let ctx = ActionContext {
        device_id: store.device_id,
        media: &store.media,
    };
    let value = action(&tx, &ctx)?;
    tx.commit()?;
    Ok(value)
}

/// Submitted here, or (status from the server) on another device of the team.
fn is_submitted(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    use fieldbook_domain::InstallationStatus::{Closed, ReportSubmitted};
    if report_rows::has_report(conn, installation_id)? {
        return Ok(true);
    }
    Ok(installation_rows::find(conn, installation_id)?
        .is_some_and(|(inst, _)| matches!(inst.status, ReportSubmitted | Closed)))
}

fn refuse_if_submitted(conn: &Connection, installation_id: Uuid) -> Result<()> {
    if is_submitted(conn, installation_id)? {
        return Err(StoreError::ReportSubmitted);
    }
    Ok(())
}
