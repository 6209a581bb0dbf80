//! Jobs that left this device's scope: kept while they hold work the server
//! has not received, removed (with the customer's data) once they do not.

use rusqlite::Connection;
use uuid::Uuid;

use crate::error::Result;
use crate::rows::{assignments, awaiting, held_work, installations, leads, outbox, reports};

/// Whether the installation holds local work the server has not received.
pub(crate) fn has_unsent_work(conn: &Connection, id: Uuid) -> Result<bool> {
    // Held work counts too: the technician must see Central Ops' decision.
    Ok(outbox::exists_for_installation(conn, id)?
        || held_work::exists_for_installation(conn, id)?
        || reports::has_unsent_draft(conn, id)?)
}

/// Removes a job that left this device's scope once the server has all of
/// its work: the server will not send another tombstone for it.
pub(crate) fn remove_if_left_scope_and_sent(conn: &Connection, id: Uuid) -> Result<()> {
    if installations::is_left_scope(conn, id)? && !has_unsent_work(conn, id)? {
        remove_installation(conn, id)?;
    }
    Ok(())
}

/// Deletes the installation with its assignments, waiting pulled records,
/// drafts, report and media rows, its survey and (unless another job
/// refers to it) its lead. Returns whether it was here.
pub(crate) fn remove_installation(conn: &Connection, id: Uuid) -> Result<bool> {
    let Some((lead_id, survey_id)) = installations::refs(conn, id)? else {
        return Ok(false);
    };
    assignments::delete_for_installation(conn, id)?;
    awaiting::delete_for_installation(conn, id)?;
    // Drafts, submitted reports and media rows go with it (ON DELETE CASCADE).
    installations::delete(conn, id)?;
    // The customer's data leaves the device with the job (survey is 1:1).
    leads::delete_survey(conn, &survey_id)?;
    if !installations::lead_in_use(conn, &lead_id)? {
        leads::delete_lead(conn, &lead_id)?;
    }
    Ok(true)
}
