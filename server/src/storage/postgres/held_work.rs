//! Held work (see `fieldbook_protocol::held_work`): mutations kept for a
//! decision by Central Ops because their installation had left the sender's
//! scope, and the decisions.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Mutation, MutationKind, Sha256Hex};
use fieldbook_protocol::{
    HeldBecause, HeldMutation, HeldWork, HeldWorkDecision, HeldWorkNotice, HeldWorkQuery,
    HeldWorkStatus,
};
use tokio_postgres::Row;
use uuid::Uuid;

use super::rows::{from_json, parse_uuid, to_json};
use super::{parse_timestamp, timestamp, PgDb, PgTx};
use crate::storage::{HeldWorkReads, HeldWorkWrites, NewHeldMutation, StorageError};

fn because_str(because: HeldBecause) -> &'static str {
    match because {
        HeldBecause::AssignmentWithdrawn => "assignment_withdrawn",
        HeldBecause::RemovedFromTeam => "removed_from_team",
    }
}

fn parse_because(s: &str) -> Result<HeldBecause, StorageError> {
    match s {
        "assignment_withdrawn" => Ok(HeldBecause::AssignmentWithdrawn),
        "removed_from_team" => Ok(HeldBecause::RemovedFromTeam),
        other => Err(StorageError::Corrupt(format!("held work reason {other:?}"))),
    }
}

fn parse_status(s: &str) -> Result<HeldWorkStatus, StorageError> {
    HeldWorkStatus::parse(s).ok_or_else(|| StorageError::Corrupt(format!("held work status {s:?}")))
}

const HELD_COLUMNS: &str = "id, installation_id, submitted_by, device_id, because, status, \
    first_received_at, last_received_at, decided_by, decided_at, decision_reason";

/// A `held_work` row, before its mutations are read.
struct HeldRow {
    id: Uuid,
    installation_id: Uuid,
    submitted_by: Uuid,
    device_id: Uuid,
    because: HeldBecause,
    status: HeldWorkStatus,
    first_received_at: DateTime<Utc>,
    last_received_at: DateTime<Utc>,
    decision: Option<HeldWorkDecision>,
}

type RawHeldRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn raw_row(r: &Row) -> Result<RawHeldRow, StorageError> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
    ))
}

fn held_row(raw: RawHeldRow) -> Result<HeldRow, StorageError> {
    let (id, inst, by, device, because, status, first, last, decided_by, decided_at, reason) = raw;
    let status = parse_status(&status)?;
    let decision = match (decided_by, decided_at) {
        (Some(by), Some(at)) => Some(HeldWorkDecision {
            status,
            decided_by: parse_uuid(&by)?,
            decided_at: parse_timestamp(&at)?,
            reason,
        }),
        _ => None,
    };
    Ok(HeldRow {
        id: parse_uuid(&id)?,
        installation_id: parse_uuid(&inst)?,
        submitted_by: parse_uuid(&by)?,
        device_id: parse_uuid(&device)?,
        because: parse_because(&because)?,
        status,
        first_received_at: parse_timestamp(&first)?,
        last_received_at: parse_timestamp(&last)?,
        decision,
    })
}

impl HeldWorkReads for PgDb<'_> {
    fn formerly_in_scope(
        &self,
        installation: Uuid,
        user: Uuid,
    ) -> Result<Option<HeldBecause>, StorageError> {
        let row = self.one(
            "SELECT \
               EXISTS (SELECT 1 FROM tombstones WHERE entity = 'installation' \
                 AND entity_id = $1 AND reason = 'left_scope' AND user_id = $2), \
               EXISTS (SELECT 1 FROM tombstones WHERE entity = 'installation' \
                 AND entity_id = $1 AND reason = 'left_scope' \
                 AND team_id IN (SELECT team_id FROM team_members WHERE user_id = $2))",
            &[&installation.to_string(), &user.to_string()],
        )?;
        let (removed, withdrawn): (bool, bool) = (row.try_get(0)?, row.try_get(1)?);
        Ok(if removed {
            Some(HeldBecause::RemovedFromTeam)
        } else if withdrawn {
            Some(HeldBecause::AssignmentWithdrawn)
        } else {
            None
        })
    }

    fn held_media_installation(
        &self,
        media_id: Uuid,
        user: Uuid,
    ) -> Result<Option<Uuid>, StorageError> {
        self.row(
            "SELECT w.installation_id FROM held_mutations m \
             JOIN held_work w ON w.id = m.held_work_id \
             WHERE m.media_id = $1 AND w.submitted_by = $2 AND m.kind = 'media.attach' \
             LIMIT 1",
            &[&media_id.to_string(), &user.to_string()],
        )?
        .map(|r| parse_uuid(&r.try_get::<_, String>(0)?))
        .transpose()
    }

    fn held_work(&self, id: Uuid) -> Result<Option<HeldWork>, StorageError> {
        let sql = format!("SELECT {HELD_COLUMNS} FROM held_work WHERE id = $1");
        self.row(&sql, &[&id.to_string()])?
            .map(|r| self.held_from_row(held_row(raw_row(&r)?)?))
            .transpose()
    }

    fn held_work_list(&self, query: &HeldWorkQuery) -> Result<Vec<HeldWork>, StorageError> {
        let sql = format!(
            "SELECT {HELD_COLUMNS} FROM held_work \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR installation_id = $2) \
             ORDER BY first_received_at, id"
        );
        self.rows(
            &sql,
            &[
                &query.status.map(HeldWorkStatus::as_str),
                &query.installation_id.map(|i| i.to_string()),
            ],
        )?
        .iter()
        .map(|r| self.held_from_row(held_row(raw_row(r)?)?))
        .collect()
    }

    fn held_work_count(&self, status: HeldWorkStatus) -> Result<u64, StorageError> {
        Ok(self
            .one(
                "SELECT count(*) FROM held_work WHERE status = $1",
                &[&status.as_str()],
            )?
            .try_get::<_, i64>(0)? as u64)
    }

    fn held_work_notice(&self, id: Uuid) -> Result<Option<HeldWorkNotice>, StorageError> {
        Ok(self.held_work(id)?.map(|held| HeldWorkNotice {
            id: held.id,
            installation_id: held.installation_id,
            mutation_ids: held.mutations.iter().map(|m| m.mutation_id).collect(),
            status: held.status,
            decision: held.decision,
        }))
    }
}

impl PgDb<'_> {
    fn held_mutations(&self, held_work_id: Uuid) -> Result<Vec<HeldMutation>, StorageError> {
        self.rows(
            "SELECT mutation_id, payload, received_at FROM held_mutations \
             WHERE held_work_id = $1 ORDER BY arrival",
            &[&held_work_id.to_string()],
        )?
        .into_iter()
        .map(|r| {
            let mutation: Mutation = from_json(&r.try_get::<_, String>(1)?)?;
            Ok(HeldMutation {
                mutation_id: parse_uuid(&r.try_get::<_, String>(0)?)?,
                kind: mutation.kind(),
                received_at: parse_timestamp(&r.try_get::<_, String>(2)?)?,
                mutation,
            })
        })
        .collect()
    }

    fn held_from_row(&self, row: HeldRow) -> Result<HeldWork, StorageError> {
        let mutations = self.held_mutations(row.id)?;
        let has_report = mutations
            .iter()
            .any(|m| m.kind == MutationKind::ReportSubmit);
        let media_sha256: Vec<Sha256Hex> = mutations
            .iter()
            .filter_map(|m| match &m.mutation {
                Mutation::MediaAttach { media } => Some(media.file.sha256.clone()),
                _ => None,
            })
            .collect();
        Ok(HeldWork {
            id: row.id,
            installation_id: row.installation_id,
            submitted_by: row.submitted_by,
            device_id: row.device_id,
            because: row.because,
            status: row.status,
            first_received_at: row.first_received_at,
            last_received_at: row.last_received_at,
            has_report,
            media_sha256,
            mutations,
            decision: row.decision,
        })
    }
}

impl HeldWorkWrites for PgTx<'_> {
    fn hold_mutation(&mut self, m: &NewHeldMutation<'_>) -> Result<Uuid, StorageError> {
        let now = timestamp(self.now);
        let open: Option<String> = self
            .db
            .row(
                "SELECT id FROM held_work \
                 WHERE installation_id = $1 AND submitted_by = $2 AND status = 'waiting' \
                 FOR UPDATE",
                &[&m.installation_id.to_string(), &m.submitted_by.to_string()],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        let seq = self.next_seq()?;
        let id = match open {
            Some(id) => {
                self.db.execute(
                    "UPDATE held_work SET last_received_at = $2, seq = $3 WHERE id = $1",
                    &[&id, &now, &(seq as i64)],
                )?;
                parse_uuid(&id)?
            }
            None => {
                let id = Uuid::new_v4();
                self.db.execute(
                    "INSERT INTO held_work (id, installation_id, submitted_by, device_id, \
                       because, status, first_received_at, last_received_at, seq) \
                     VALUES ($1, $2, $3, $4, $5, 'waiting', $6, $6, $7)",
                    &[
                        &id.to_string(),
                        &m.installation_id.to_string(),
                        &m.submitted_by.to_string(),
                        &m.device_id.to_string(),
                        &because_str(m.because),
                        &now,
                        &(seq as i64),
                    ],
                )?;
                id
            }
        };
        self.db.execute(
            "INSERT INTO held_mutations (mutation_id, held_work_id, kind, payload, received_at, \
               media_id) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &m.mutation_id.to_string(),
                &id.to_string(),
                &m.mutation.kind().as_str(),
                &to_json(m.mutation)?,
                &now,
                &m.media_id.map(|i| i.to_string()),
            ],
        )?;
        Ok(id)
    }

    fn decide_held_work(
        &mut self,
        id: Uuid,
        decision: &HeldWorkDecision,
    ) -> Result<bool, StorageError> {
        let seq = self.next_seq()?;
        let changed = self.db.execute(
            "UPDATE held_work SET status = $2, decided_by = $3, decided_at = $4, \
               decision_reason = $5, seq = $6 \
             WHERE id = $1 AND status = 'waiting'",
            &[
                &id.to_string(),
                &decision.status.as_str(),
                &decision.decided_by.to_string(),
                &timestamp(decision.decided_at),
                &decision.reason,
                &(seq as i64),
            ],
        )?;
        Ok(changed == 1)
    }
}
