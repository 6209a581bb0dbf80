//! Rows of `outbox`: named mutations waiting to be pushed, in the order this
//! device made them, and the device's sequence counter.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Mutation, MutationKind};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_choice, get_json, get_opt_parsed, get_ts, get_uuid, to_json, ts};
use crate::error::Result;

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

    fn parse(s: &str) -> Option<Self> {
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
        state: get_choice(r, 7, "outbox state", OutboxState::parse)?,
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
    let sequence: i64 = conn
        .prepare_cached(
            "UPDATE device SET last_sequence = last_sequence + 1 RETURNING last_sequence",
        )?
        .query_row([], |r| r.get(0))?;
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

pub(crate) fn in_state(
    conn: &Connection,
    state: OutboxState,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE state = ?1 ORDER BY sequence LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![state.as_str(), i64::try_from(limit).unwrap_or(i64::MAX)],
        entry_from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn entry(conn: &Connection, mutation_id: Uuid) -> Result<Option<OutboxEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE mutation_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([mutation_id.to_string()], entry_from_row)
        .optional()?)
}

pub(crate) fn counts(conn: &Connection) -> Result<OutboxCounts> {
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'needs_attention'), 0)
             FROM outbox",
        )?
        .query_row([], |r| {
            Ok(OutboxCounts {
                pending: r.get(0)?,
                needs_attention: r.get(1)?,
            })
        })?)
}

/// Every entry, any state.
pub(crate) fn count_all(conn: &Connection) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM outbox")?
        .query_row([], |r| r.get(0))?)
}

/// The entry's mutation and the installation it touches.
pub(crate) fn mutation_of(
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

/// The entry's raw payload and state (a payload this version cannot read is
/// the caller's to report).
pub(crate) fn payload_and_state(
    conn: &Connection,
    mutation_id: Uuid,
) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT payload, state FROM outbox WHERE mutation_id = ?1")?
        .query_row([mutation_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub(crate) fn state_of(conn: &Connection, mutation_id: Uuid) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT state FROM outbox WHERE mutation_id = ?1")?
        .query_row([mutation_id.to_string()], |r| r.get(0))
        .optional()?)
}

/// The payloads of the pending entries, in sequence order (for the rebase).
pub(crate) fn pending_payloads(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT payload FROM outbox WHERE state = 'pending' ORDER BY sequence")?;
    let pending = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(pending)
}

pub(crate) fn delete(conn: &Connection, mutation_id: Uuid) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE mutation_id = ?1")?
        .execute([mutation_id.to_string()])?)
}

/// Outbox entries (any state) that touch `installation_id`.
pub(crate) fn count_for_installation(conn: &Connection, installation_id: Uuid) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM outbox WHERE installation_id = ?1")?
        .query_row([installation_id.to_string()], |r| r.get(0))?)
}

pub(crate) fn exists_for_installation(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox WHERE installation_id = ?1)")?
        .query_row([installation_id.to_string()], |r| r.get(0))?)
}

/// Whether an entry of `kind` for the installation is still in the outbox.
pub(crate) fn has_kind_for_installation(
    conn: &Connection,
    installation_id: Uuid,
    kind: MutationKind,
) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE installation_id = ?1 AND kind = ?2)",
        )?
        .query_row(params![installation_id.to_string(), kind.as_str()], |r| {
            r.get(0)
        })?)
}

/// A push attempt failed in a way worth retrying; returns whether the entry
/// was there.
pub(crate) fn record_failure(conn: &Connection, mutation_id: Uuid, error: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE mutation_id = ?1",
        )?
        .execute(params![mutation_id.to_string(), error])?;
    Ok(n > 0)
}

/// Parks the entry with the server's reason; returns whether it was there.
pub(crate) fn park(conn: &Connection, mutation_id: Uuid, reason: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET state = 'needs_attention', attempts = attempts + 1, last_error = ?2
             WHERE mutation_id = ?1",
        )?
        .execute(params![mutation_id.to_string(), reason])?;
    Ok(n > 0)
}

/// Makes a parked entry pending again; returns whether it was there.
pub(crate) fn unpark(conn: &Connection, mutation_id: Uuid) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', last_error = NULL WHERE mutation_id = ?1",
        )?
        .execute([mutation_id.to_string()])?;
    Ok(n > 0)
}
