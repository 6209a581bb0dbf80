//! Rows of `held_work`. Held work on the device: what the server received for a job that had left
//! this device's scope (ops withdrew or reassigned the assignment, or removed
//! the technician from the team) and keeps for Central Ops to decide on. It
//! is not an error and not in needs-attention: the job shows "received,
//! waiting for Central Ops", then the decision, which the pull brings.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{get_choice, get_opt_ts, get_ts, get_uuid, ts};
use crate::error::Result;

/// Where held work stands (the server's decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum HeldWorkStatus {
    /// Received; Central Ops have not decided yet.
    Waiting,
    /// Ops accepted the report as the installation's report.
    Accepted,
    /// Ops kept the work on record without attaching it (see the reason).
    KeptOnRecord,
}

impl HeldWorkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldWorkStatus::Waiting => "waiting",
            HeldWorkStatus::Accepted => "accepted",
            HeldWorkStatus::KeptOnRecord => "kept_on_record",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "waiting" => Some(HeldWorkStatus::Waiting),
            "accepted" => Some(HeldWorkStatus::Accepted),
            "kept_on_record" => Some(HeldWorkStatus::KeptOnRecord),
            _ => None,
        }
    }
}

/// Held work as the technician sees it on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeldWork {
    /// The server's held record id.
    pub id: Uuid,
    pub installation_id: Uuid,
    pub status: HeldWorkStatus,
    /// What the server said when it held the work.
    pub message: String,
    /// Why ops decided as they did (required to keep on record).
    pub decision_reason: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// When the server's `held` answer reached this device.
    pub received_at: DateTime<Utc>,
}

/// A held record as the server described it in a pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHeldWork {
    pub id: Uuid,
    pub installation_id: Uuid,
    pub status: HeldWorkStatus,
    pub decision_reason: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// Records a `held` answer (the record may already be here from an earlier
/// answer or a pull: its status is kept).
pub(crate) fn record_held(
    conn: &Connection,
    id: Uuid,
    installation_id: Uuid,
    message: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO held_work (id, installation_id, status, message, received_at)
         VALUES (?1, ?2, 'waiting', ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET message = excluded.message",
    )?
    .execute(params![
        id.to_string(),
        installation_id.to_string(),
        message,
        ts(&now)
    ])?;
    Ok(())
}

/// Writes a pulled held record: its status and decision (never an older
/// version over a newer one).
pub(crate) fn apply_pulled(
    conn: &Connection,
    held: &ServerHeldWork,
    server_version: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO held_work (id, installation_id, status, message, decision_reason,
                                decided_at, received_at, server_version)
         VALUES (?1, ?2, ?3, '', ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status,
             decision_reason = excluded.decision_reason, decided_at = excluded.decided_at,
             server_version = excluded.server_version
         WHERE coalesce(held_work.server_version, 0) <= excluded.server_version",
    )?
    .execute(params![
        held.id.to_string(),
        held.installation_id.to_string(),
        held.status.as_str(),
        held.decision_reason,
        held.decided_at.as_ref().map(ts),
        ts(&Utc::now()),
        server_version
    ])?;
    Ok(())
}

/// Held work for one job, oldest first.
pub(crate) fn for_installation(conn: &Connection, installation_id: Uuid) -> Result<Vec<HeldWork>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, installation_id, status, message, decision_reason, decided_at, received_at
         FROM held_work WHERE installation_id = ?1 ORDER BY received_at, id",
    )?;
    let rows = stmt.query_map([installation_id.to_string()], |r| {
        Ok(HeldWork {
            id: get_uuid(r, 0)?,
            installation_id: get_uuid(r, 1)?,
            status: get_choice(r, 2, "held work status", HeldWorkStatus::parse)?,
            message: r.get(3)?,
            decision_reason: r.get(4)?,
            decided_at: get_opt_ts(r, 5)?,
            received_at: get_ts(r, 6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether the job has held work (the technician must see Central Ops'
/// decision).
pub(crate) fn exists_for_installation(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM held_work WHERE installation_id = ?1)")?
        .query_row([installation_id.to_string()], |r| r.get(0))?)
}

/// Deletes the job's decided held work; returns whether there was any.
pub(crate) fn delete_decided(conn: &Connection, installation_id: Uuid) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM held_work WHERE installation_id = ?1 AND status != 'waiting'")?
        .execute([installation_id.to_string()])?;
    Ok(n > 0)
}
