//! The outbox: named mutations waiting to be pushed, in the order this device
//! made them. Entries are appended by the technician actions (inside their
//! transaction) and consumed by the sync engine.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Mutation, MutationKind};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_json, get_opt_parsed, get_ts, get_uuid, to_json, ts};
use crate::error::{Result, StoreError};
use crate::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be pushed (or retried after a network error / 5xx).
    Pending,
    /// The server rejected it or answered with a conflict: the technician must
    /// look. It no longer blocks the rest of the queue.
    NeedsAttention,
}

impl OutboxState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::NeedsAttention => "needs_attention",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(OutboxState::Pending),
            "needs_attention" => Some(OutboxState::NeedsAttention),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OutboxEntry {
    pub mutation_id: Uuid,
    pub device_id: Uuid,
    /// Per-device, strictly increasing; never reused, even after the entry
    /// before it was acknowledged and deleted.
    pub sequence: i64,
    pub kind: MutationKind,
    pub installation_id: Option<Uuid>,
    pub mutation: Mutation,
    /// `server_version` of the entity the mutation was based on.
    pub base_version: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OutboxCounts {
    pub pending: u64,
    pub needs_attention: u64,
}

const COLUMNS: &str = "mutation_id, device_id, sequence, installation_id, payload, base_version, \
                       created_at, state, attempts, last_error";

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let mutation: Mutation = get_json(r, 4)?;
    Ok(OutboxEntry {
        mutation_id: get_uuid(r, 0)?,
        device_id: get_uuid(r, 1)?,
        sequence: r.get(2)?,
        kind: mutation.kind(),
        installation_id: get_opt_parsed(r, 3)?,
        mutation,
        base_version: r.get(5)?,
        created_at: get_ts(r, 6)?,
        state: crate::db::get_choice(r, 7, "outbox state", OutboxState::parse)?,
        attempts: r.get(8)?,
        last_error: r.get(9)?,
    })
}

/// Appends `mutation` with the next device sequence. Call inside the action's
/// transaction.
pub(crate) fn append(
    conn: &Connection,
    device_id: Uuid,
    mutation: &Mutation,
    installation_id: Option<Uuid>,
    base_version: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    // The server refuses a mutation over the shared limits; never queue one
    // (every action passes here, in the transaction of its local change).
    mutation.check_limits()?;
    let sequence: i64 = conn.query_row(
        "UPDATE device SET last_sequence = last_sequence + 1 RETURNING last_sequence",
        [],
        |r| r.get(0),
    )?;
    let mutation_id = Uuid::new_v4();
    conn.prepare_cached(
        "INSERT INTO outbox (mutation_id, device_id, sequence, kind, installation_id, payload,
                             base_version, created_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
    )?
    .execute(params![
        mutation_id.to_string(),
        device_id.to_string(),
        sequence,
        mutation.kind().as_str(),
        installation_id.map(|id| id.to_string()),
        to_json(mutation),
        base_version,
        ts(&now),
    ])?;
    Ok(mutation_id)
}

/// The entry's mutation and the installation it touches.
fn load_for_removal(
    conn: &Connection,
    mutation_id: Uuid,
) -> Result<Option<(Mutation, Option<Uuid>)>> {
    Ok(conn
        .prepare_cached("SELECT payload, installation_id FROM outbox WHERE mutation_id = ?1")?
        .query_row([mutation_id.to_string()], |r| {
            Ok((get_json(r, 0)?, get_opt_parsed(r, 1)?))
        })
        .optional()?)
}

/// Deletes the entry; a job kept only for unsent work goes once none is left.
fn remove(conn: &Connection, mutation_id: Uuid, installation_id: Option<Uuid>) -> Result<()> {
    conn.prepare_cached("DELETE FROM outbox WHERE mutation_id = ?1")?
        .execute([mutation_id.to_string()])?;
    if let Some(id) = installation_id {
        crate::sync_state::remove_if_left_scope_and_sent(conn, id)?;
    }
    Ok(())
}

/// Raises (never lowers: acknowledgements of an attach and a later caption
/// change may be processed in either order) the record's `server_version`.
fn record_server_version(conn: &Connection, table: &str, id: Uuid, version: i64) -> Result<()> {
    conn.prepare_cached(&format!(
        "UPDATE {table} SET server_version = max(coalesce(server_version, 0), ?2) WHERE id = ?1"
    ))?
    .execute(params![id.to_string(), version])?;
    Ok(())
}

/// Outbox entries (any state) that touch `installation_id`.
pub(crate) fn count_for_installation(conn: &Connection, installation_id: Uuid) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE installation_id = ?1")?
        .query_row([installation_id.to_string()], |r| r.get(0))?)
}

impl Store {
    fn outbox_in_state(&self, state: OutboxState, limit: usize) -> Result<Vec<OutboxEntry>> {
        let sql =
            format!("SELECT {COLUMNS} FROM outbox WHERE state = ?1 ORDER BY sequence LIMIT ?2");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![state.as_str(), i64::try_from(limit).unwrap_or(i64::MAX)],
            entry_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The next `limit` entries to push, oldest first.
    pub fn pending_outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.outbox_in_state(OutboxState::Pending, limit)
    }

    /// Entries the server rejected or answered with a conflict.
    pub fn needs_attention(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox_in_state(OutboxState::NeedsAttention, usize::MAX)
    }

    pub fn outbox_entry(&self, mutation_id: Uuid) -> Result<Option<OutboxEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE mutation_id = ?1");
        Ok(self
            .conn
            .query_row(&sql, [mutation_id.to_string()], entry_from_row)
            .optional()?)
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'needs_attention'), 0)
             FROM outbox",
            [],
            |r| {
                Ok(OutboxCounts {
                    pending: r.get(0)?,
                    needs_attention: r.get(1)?,
                })
            },
        )?)
    }

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
        self.in_write_transaction(|tx, _| {
            let Some((mutation, installation_id)) = load_for_removal(tx, mutation_id)? else {
                return Ok(false);
            };
            match &mutation {
                Mutation::ReportSubmit { report } => {
                    record_server_version(tx, "installation_reports", report.id, applied_version)?
                }
                Mutation::MediaAttach { media } => {
                    record_server_version(tx, "installation_media", media.id, applied_version)?
                }
                Mutation::MediaCaption { media_id, .. } => {
                    record_server_version(tx, "installation_media", *media_id, applied_version)?
                }
                _ => {}
            }
            crate::sync_state::absorb_applied(tx, &mutation)?;
            remove(tx, mutation_id, installation_id)?;
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
        self.in_write_transaction(|tx, _| {
            let Some((mutation, installation_id)) = load_for_removal(tx, mutation_id)? else {
                return Ok(false);
            };
            if let Some(job) = crate::held_work::entry_installation(tx, installation_id, &mutation)?
            {
                crate::held_work::record_held(tx, held_work_id, job, message, Utc::now())?;
            }
            remove(tx, mutation_id, installation_id)?;
            Ok(true)
        })
    }

    /// The technician dismissed an entry the server rejected or answered with
    /// a conflict. Only entries needing attention can be dismissed: a pending
    /// one is work not yet sent. Returns whether such an entry was there.
    pub fn dismiss_outbox_entry(&mut self, mutation_id: Uuid) -> Result<bool> {
        self.in_write_transaction(|tx, _| {
            let state: Option<String> = tx
                .prepare_cached("SELECT state FROM outbox WHERE mutation_id = ?1")?
                .query_row([mutation_id.to_string()], |r| r.get(0))
                .optional()?;
            if state.as_deref() != Some(OutboxState::NeedsAttention.as_str()) {
                return Ok(false);
            }
            let installation_id = load_for_removal(tx, mutation_id)?.and_then(|(_, id)| id);
            remove(tx, mutation_id, installation_id)?;
            Ok(true)
        })
    }

    /// A push attempt failed in a way worth retrying (network, 5xx): count it
    /// and keep the error for the status line. The entry stays pending.
    pub fn record_push_failure(&mut self, mutation_id: Uuid, error: &str) -> Result<()> {
        self.update_entry(
            mutation_id,
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE mutation_id = ?1",
            Some(error),
        )
    }

    /// The server rejected the mutation or reported a conflict: park it with
    /// the reason so the rest of the queue moves on. Its effect is undone on
    /// this device (the screen shows the server's state plus what is still
    /// pending); the entry keeps what the technician did.
    pub fn move_to_needs_attention(&mut self, mutation_id: Uuid, reason: &str) -> Result<()> {
        self.change_state_and_rebase(
            mutation_id,
            "UPDATE outbox SET state = 'needs_attention', attempts = attempts + 1, last_error = ?2
             WHERE mutation_id = ?1",
            Some(reason),
        )
    }

    /// The technician asked to try a parked entry again: it is pending, and
    /// shown as done, again.
    pub fn retry_outbox_entry(&mut self, mutation_id: Uuid) -> Result<()> {
        self.change_state_and_rebase(
            mutation_id,
            "UPDATE outbox SET state = 'pending', last_error = ?2 WHERE mutation_id = ?1",
            None,
        )
    }

    fn change_state_and_rebase(
        &mut self,
        mutation_id: Uuid,
        sql: &str,
        error: Option<&str>,
    ) -> Result<()> {
        self.in_write_transaction(|tx, _| {
            let n = tx.execute(sql, params![mutation_id.to_string(), error])?;
            if n == 0 {
                return Err(StoreError::not_found("outbox entry", mutation_id));
            }
            if let Some((_, Some(installation_id))) = load_for_removal(tx, mutation_id)? {
                crate::sync_state::rebase_installation(tx, installation_id)?;
            }
            Ok(())
        })
    }

    fn update_entry(&mut self, mutation_id: Uuid, sql: &str, error: Option<&str>) -> Result<()> {
        let n = self
            .conn
            .execute(sql, params![mutation_id.to_string(), error])?;
        if n == 0 {
            return Err(StoreError::not_found("outbox entry", mutation_id));
        }
        Ok(())
    }
}
