//! The server's answers to pushed outbox entries.

use chrono::Utc;
use fieldbook_domain::Mutation;
use rusqlite::Connection;
use uuid::Uuid;

use super::in_transaction;
use crate::error::{Result, StoreError};
use crate::local_state::{left_scope, rebase};
use crate::rows::{assignments, held_work, installations, media, outbox, reports, session};
use crate::Store;

/// Deletes the entry; a job kept only for unsent work goes once none is left.
fn remove(conn: &Connection, mutation_id: Uuid, installation_id: Option<Uuid>) -> Result<()> {
    outbox::delete(conn, mutation_id)?;
    if let Some(id) = installation_id {
        left_scope::remove_if_left_scope_and_sent(conn, id)?;
    }
    Ok(())
}

/// The server applied `mutation`: fold it into what the device knows of the
/// server's state, so a later rebase does not undo it before the pull
/// brings the server's row.
fn absorb_applied(conn: &Connection, mutation: &Mutation) -> Result<()> {
    if let Mutation::AssignmentRespond {
        assignment_id,
        response,
        reason,
        at,
    } = mutation
    {
        return assignments::set_server_response(
            conn,
            *assignment_id,
            *response,
            reason.as_deref(),
            at,
        );
    }
    let Some(id) = mutation.installation_id() else {
        return Ok(());
    };
    let Some(mut server) = rebase::server_state(conn, id)? else {
        return Ok(());
    };
    rebase::replay(&mut server, mutation);
    installations::set_server_fields(conn, &server)?;
    if let Mutation::ReportSubmit { .. } = mutation {
        assignments::set_server_completed_for_teams(conn, id, &session::my_team_ids(conn)?)?;
    }
    Ok(())
}

/// The installation a held outbox entry was about: the entry's own, or
/// for a caption / removal the photo's.
fn held_installation(
    conn: &Connection,
    installation_id: Option<Uuid>,
    mutation: &Mutation,
) -> Result<Option<Uuid>> {
    if installation_id.is_some() {
        return Ok(installation_id);
    }
    let media_id = match mutation {
        Mutation::MediaCaption { media_id, .. } | Mutation::MediaRemove { media_id } => *media_id,
        _ => return Ok(None),
    };
    Ok(media::owner(conn, media_id)?.map(|(installation_id, _)| installation_id))
}

impl Store {
    /// The server applied the mutation: drop it, and record `applied_version`
    /// (the version the server gave the changed record) on the record this
    /// device authored — the submitted report, or the photo / video for
    /// `media.attach` and `media.caption` — so the UI can show it arrived.
    /// Installation and assignment rows are left for the pull: the server may
    /// have merged the change (flags), and their `server_version` must stay
    /// the version of the row content the device holds, since it becomes the
    /// base version of the next mutation. A job that left this device's scope
    /// is removed once its last unsent work is acknowledged. Returns whether
    /// the entry was there.
    pub fn acknowledge_outbox(&mut self, mutation_id: Uuid, applied_version: i64) -> Result<bool> {
        in_transaction(self, |tx, _| {
            let Some((mutation, installation_id)) = outbox::mutation_of(tx, mutation_id)? else {
                return Ok(false);
            };
            match &mutation {
                Mutation::ReportSubmit { report } => {
                    reports::raise_server_version(tx, report.id, applied_version)?
                }
                Mutation::MediaAttach { media: attached } => {
                    media::raise_server_version(tx, attached.id, applied_version)?
                }
                Mutation::MediaCaption { media_id, .. } => {
                    media::raise_server_version(tx, *media_id, applied_version)?
                }
                _ => {}
            }
            absorb_applied(tx, &mutation)?;
            remove(tx, mutation_id, installation_id)?;
            tracing::debug!(
                mutation = %mutation_id,
                kind = mutation.kind().as_str(),
                version = applied_version,
                "outbox entry acknowledged"
            );
            Ok(true)
        })
    }

    /// The server received the mutation but holds it for Central Ops (the
    /// job left this device's scope while it was worked offline): the entry
    /// leaves the outbox — it was received, nothing is left to send or to fix
    /// — and the job keeps a held-work record, "waiting for Central Ops",
    /// until the decision comes with a pull. The local view stays as the
    /// technician left it. Returns whether the entry was there.
    pub fn hold_outbox_entry(
        &mut self,
        mutation_id: Uuid,
        held_work_id: Uuid,
        message: &str,
    ) -> Result<bool> {
        in_transaction(self, |tx, _| {
            let Some((mutation, installation_id)) = outbox::mutation_of(tx, mutation_id)? else {
                return Ok(false);
            };
            tracing::debug!(
                mutation = %mutation_id,
                kind = mutation.kind().as_str(),
                held_work = %held_work_id,
                "outbox entry held by the server for Central Ops"
            );
            if let Some(job) = held_installation(tx, installation_id, &mutation)? {
                held_work::record_held(tx, held_work_id, job, message, Utc::now())?;
            }
            remove(tx, mutation_id, installation_id)?;
            Ok(true)
        })
    }

    /// A push attempt failed in a way worth retrying (network, 5xx): count it
    /// and keep the error for the status line. The entry stays pending.
    pub fn record_push_failure(&mut self, mutation_id: Uuid, error: &str) -> Result<()> {
        in_transaction(self, |tx, _| {
            if !outbox::record_failure(tx, mutation_id, error)? {
                return Err(StoreError::not_found("outbox entry", mutation_id));
            }
            Ok(())
        })
    }

    /// The server rejected the mutation or reported a conflict: park it with
    /// the reason so the rest of the queue moves on. Its effect is undone on
    /// this device (the screen shows the server's state plus what is still
    /// pending); the entry keeps what the technician did.
    pub fn move_to_needs_attention(&mut self, mutation_id: Uuid, reason: &str) -> Result<()> {
        in_transaction(self, |tx, _| {
            if !outbox::park(tx, mutation_id, reason)? {
                return Err(StoreError::not_found("outbox entry", mutation_id));
            }
            tracing::debug!(mutation = %mutation_id, reason, "outbox entry needs attention; local view rebuilt");
            if let Some((_, Some(installation_id))) = outbox::mutation_of(tx, mutation_id)? {
                rebase::rebase_installation(tx, installation_id)?;
            }
            Ok(())
        })
    }
}
