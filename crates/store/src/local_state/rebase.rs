//! Rebase (docs/architecture.md "Rebase"): an installation's local view is
//! the server's last word with the still-pending local mutations
//! re-applied on top, so the screen never flips back to the server's older
//! state while a push is on its way, and a refused mutation disappears from
//! the screen without a pull.

use std::collections::HashSet;

use fieldbook_domain::lifecycle::{self, StartRequest};
use fieldbook_domain::{Installation, Mutation};
use rusqlite::Connection;
use uuid::Uuid;

use crate::error::Result;
use crate::rows::{assignments, installations, media, outbox, session};

/// Re-applies the still-pending local mutations on top of freshly pulled
/// rows (`touched` installations, `touched_media` photos / videos). A
/// mutation that no longer fits the server's state is left alone here; the
/// push will report it. Returns how many records changed.
pub(crate) fn rebase_pending(
    conn: &Connection,
    touched: &HashSet<Uuid>,
    touched_media: &HashSet<Uuid>,
) -> Result<usize> {
    let mut rebased = HashSet::new();
    for payload in outbox::pending_payloads(conn)? {
        let Ok(mutation) = serde_json::from_str::<Mutation>(&payload) else {
            continue;
        };
        if let Mutation::AssignmentRespond {
            assignment_id,
            response,
            reason,
            at,
        } = &mutation
        {
            if assignments::reapply_response(
                conn,
                *assignment_id,
                *response,
                reason.as_deref(),
                at,
            )? {
                rebased.insert(*assignment_id);
            }
            continue;
        }
        match &mutation {
            Mutation::MediaCaption { media_id, caption } if touched_media.contains(media_id) => {
                media::set_caption(conn, *media_id, caption)?;
                rebased.insert(*media_id);
                continue;
            }
            Mutation::MediaRemove { media_id } if touched_media.contains(media_id) => {
                media::delete(conn, *media_id)?;
                rebased.insert(*media_id);
                continue;
            }
            _ => {}
        }
        let Some(id) = mutation.installation_id() else {
            continue;
        };
        if !touched.contains(&id) {
            continue;
        }
        let Ok((mut inst, _)) = installations::load(conn, id) else {
            continue;
        };
        let before = inst.clone();
        if let Mutation::ReportSubmit { .. } = &mutation {
            assignments::complete_for_teams(conn, id, &session::my_team_ids(conn)?)?;
        }
        replay(&mut inst, &mutation);
        if inst != before {
            installations::save_state(conn, &inst)?;
            rebased.insert(id);
        }
    }
    Ok(rebased.len())
}

/// Re-applies one technician mutation to an installation's state. A refusal
/// means the server moved on; the push reports it, so it is ignored here.
pub(crate) fn replay(inst: &mut Installation, mutation: &Mutation) {
    let _ = match mutation {
        Mutation::InstallationStart {
            expected_from,
            override_reason,
            at,
            ..
        } => lifecycle::start(
            inst,
            *expected_from,
            &StartRequest {
                override_reason: override_reason.clone(),
            },
            *at,
        )
        .map(drop),
        Mutation::InstallationFinish {
            expected_from, at, ..
        } => lifecycle::finish(inst, *expected_from, *at),
        Mutation::InstallationCouldNotComplete {
            expected_from,
            reason,
            at,
            ..
        } => lifecycle::could_not_complete(inst, *expected_from, reason, *at),
        Mutation::InstallationSetFlags {
            customer_confirmed,
            demo_completed,
            ..
        } => {
            if let Some(v) = customer_confirmed {
                inst.customer_confirmed = *v;
            }
            if let Some(v) = demo_completed {
                inst.demo_completed = *v;
            }
            Ok(())
        }
        Mutation::ReportSubmit { report } => {
            lifecycle::submit_report(inst, report.demo_given, report.submitted_at)
        }
        _ => Ok(()),
    };
}

/// The installation as the server last described it, if known.
pub(crate) fn server_state(conn: &Connection, id: Uuid) -> Result<Option<Installation>> {
    let Ok((mut inst, _)) = installations::load(conn, id) else {
        return Ok(None);
    };
    let Some(server) = installations::server_fields(conn, id)? else {
        return Ok(None);
    };
    inst.status = server.status;
    inst.material_ready = server.material_ready;
    inst.customer_confirmed = server.customer_confirmed;
    inst.demo_completed = server.demo_completed;
    inst.updated_at = server.updated_at;
    inst.status_reason = server.status_reason;
    Ok(Some(inst))
}

/// Rebuilds the local view of one installation (and its assignments) from
/// the server's last word plus the mutations still pending, after one left
/// the pending queue without a pull (refused, parked, retried).
pub(crate) fn rebase_installation(conn: &Connection, id: Uuid) -> Result<()> {
    if let Some(server) = server_state(conn, id)? {
        installations::save_state(conn, &server)?;
    }
    assignments::restore_server_state(conn, id)?;
    rebase_pending(conn, &HashSet::from([id]), &HashSet::new())?;
    Ok(())
}
