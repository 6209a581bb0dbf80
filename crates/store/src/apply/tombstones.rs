//! Tombstones: records that left this device's scope or were deleted.

use rusqlite::Connection;
use uuid::Uuid;

use super::page::{ApplyOutcome, RecordKind, Tombstone, TombstoneReason};
use crate::error::Result;
use crate::local_state::left_scope;
use crate::rows::{assignments, awaiting, installations, leads, media, people, reports};

/// Applies one tombstone. An installation with unsent work is kept and
/// marked left-scope (never silently dropped); otherwise it goes with its
/// assignments, lead, survey and local rows. Other records go unless they
/// belong to such a kept job or are this device's unsent work; a lead or
/// survey stays while a job on the device still refers to it.
pub(super) fn apply(
    conn: &Connection,
    tombstone: &Tombstone,
    outcome: &mut ApplyOutcome,
) -> Result<()> {
    let id = tombstone.id;
    let deleted = match tombstone.kind {
        RecordKind::Installation => {
            if left_scope::has_unsent_work(conn, id)? {
                tracing::debug!(
                    installation = %id,
                    reason = ?tombstone.reason,
                    "job left this device's scope; kept for its unsent work"
                );
                installations::mark_left_scope(conn, id)?;
                outcome.kept.push(id);
                0
            } else {
                usize::from(left_scope::remove_installation(conn, id)?)
            }
        }
        RecordKind::Assignment => match assignments::installation_of(conn, id)? {
            Some(installation_id) if !installations::is_left_scope(conn, installation_id)? => {
                assignments::delete(conn, id)?
            }
            _ => 0,
        },
        RecordKind::Report => {
            let waiting = awaiting::delete(conn, "report", &id.to_string())?;
            let owner = reports::report_owner(conn, id)?;
            waiting
                + match installation_child_goes(conn, owner, tombstone)? {
                    true => reports::delete_report(conn, id)?,
                    false => 0,
                }
        }
        RecordKind::Media => {
            let waiting = awaiting::delete(conn, "media", &id.to_string())?;
            let owner = media::owner(conn, id)?;
            waiting
                + match installation_child_goes(conn, owner, tombstone)? {
                    true => media::delete(conn, id)?,
                    false => 0,
                }
        }
        RecordKind::Lead => {
            let lead_id = id.to_string();
            if installations::lead_in_use(conn, &lead_id)? {
                0
            } else {
                leads::delete_lead(conn, &lead_id)?
            }
        }
        RecordKind::Survey => {
            let survey_id = id.to_string();
            if installations::survey_in_use(conn, &survey_id)? {
                0
            } else {
                leads::delete_survey(conn, &survey_id)?
            }
        }
        // Members go with the team (ON DELETE CASCADE).
        RecordKind::Team => people::delete_team(conn, id)?,
        RecordKind::User => people::delete_user(conn, id)?,
    };
    outcome.deleted += deleted;
    Ok(())
}

/// Whether a tombstoned report or media row (`owner`: its installation and
/// whether the server accepted it) goes: not when it is this device's own
/// work the server has not accepted (no server version yet), nor when it
/// belongs to a job kept for unsent work — a kept job stays as the
/// technician left it.
fn installation_child_goes(
    conn: &Connection,
    owner: Option<(Uuid, bool)>,
    tombstone: &Tombstone,
) -> Result<bool> {
    let Some((installation_id, accepted)) = owner else {
        return Ok(false);
    };
    if !accepted {
        return Ok(false);
    }
    if tombstone.reason == TombstoneReason::LeftScope
        && installations::is_left_scope(conn, installation_id)?
    {
        return Ok(false);
    }
    Ok(true)
}
