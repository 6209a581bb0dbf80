//! Typed reads and writes of each table.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use fieldbook_domain::{
    Installation, InstallationAssignment, InstallationId, InstallationMedia, InstallationReport,
    Lead, Role, Sha256Hex, Survey, Team, User,
};
use fieldbook_protocol::{EntityKind, MutationOutcome, ReportEvent, TombstoneReason, Versioned};
use rusqlite::{params, OptionalExtension};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{parse_timestamp, timestamp, Db, StorageError, WriteTx};

pub(super) fn from_json<T: DeserializeOwned>(body: &str) -> Result<T, StorageError> {
    Ok(serde_json::from_str(body)?)
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StorageError> {
    Ok(serde_json::to_string(value)?)
}

pub(super) fn versioned<T: DeserializeOwned>(
    body: String,
    seq: i64,
) -> Result<Versioned<T>, StorageError> {
    Ok(Versioned {
        version: seq as u64,
        record: from_json(&body)?,
    })
}

pub(super) fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|e| StorageError::Corrupt(format!("uuid {s:?}: {e}")))
}

/// A report with the server's receive time.
pub type StoredReport = (Versioned<InstallationReport>, DateTime<Utc>);

/// A login session as stored (the token itself is never stored).
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// A mutation's stored answer.
#[derive(Debug, Clone)]
pub struct StoredMutation {
    pub device_id: Uuid,
    pub user_id: Uuid,
    pub outcome: MutationOutcome,
}

/// A mutation's answer as it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct MutationRecord<'a> {
    pub mutation_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    pub user_id: Uuid,
    pub kind: &'a str,
    pub base_version: Option<u64>,
    pub outcome: &'a MutationOutcome,
}

/// Whose devices a tombstone is meant for.
#[derive(Debug, Clone, Copy)]
enum TombstoneAudience {
    /// Everyone who sees the record's installation (a deletion).
    EveryoneInScope,
    /// The members of a team that lost the installation.
    Team(Uuid),
    /// One user who left a team.
    User(Uuid),
}

/// Who owns a device id and how far its sequence got.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRow {
    pub user_id: Uuid,
    pub last_seq: u64,
}

/// The scope a caller reads in: technicians see their teams' installations,
/// Central Ops see everything.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub user_id: Uuid,
    pub everything: bool,
}

impl Scope {
    pub fn for_user(user_id: Uuid, role: Role) -> Self {
        Scope {
            user_id,
            everything: role == Role::Ops,
        }
    }
}

/// SQL: is installation `?1`'s id column in the scope of user `:user`?
/// `:all` is 1 for Central Ops.
pub(super) fn in_scope_sql(installation_col: &str) -> String {
    format!(
        "(:all = 1 OR EXISTS (SELECT 1 FROM assignments sa \
           JOIN team_members sm ON sm.team_id = sa.team_id \
           WHERE sa.installation_id = {installation_col} AND sa.status != 'withdrawn' \
             AND sm.user_id = :user))"
    )
}

impl Db<'_> {
    /// The last change sequence number handed out (committed, in this snapshot).
    pub fn change_seq(&self) -> Result<u64, StorageError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'change_seq'", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }

    pub fn user(&self, id: Uuid) -> Result<Option<Versioned<User>>, StorageError> {
        self.conn
            .query_row(
                "SELECT body, seq FROM users WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .map(|(b, s)| versioned(b, s))
            .transpose()
    }

    pub fn user_by_username(&self, username: &str) -> Result<Option<User>, StorageError> {
        Ok(self.user_credentials(username)?.map(|(u, _)| u))
    }

    /// The user and their PHC password hash.
    pub fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>, StorageError> {
        self.conn
            .query_row(
                "SELECT body, password_hash FROM users WHERE username = ?1",
                [username],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(b, h)| Ok((from_json(&b)?, h)))
            .transpose()
    }

    pub fn team_ids_of(&self, user_id: Uuid) -> Result<Vec<Uuid>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT team_id FROM team_members WHERE user_id = ?1 ORDER BY team_id",
        )?;
        let ids = stmt
            .query_map([user_id.to_string()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids.iter().map(|s| parse_uuid(s)).collect()
    }

    pub fn team(&self, id: Uuid) -> Result<Option<Versioned<Team>>, StorageError> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT name, seq FROM teams WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((name, seq)) = row else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT user_id FROM team_members WHERE team_id = ?1 ORDER BY user_id",
        )?;
        let members = stmt
            .query_map([id.to_string()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Versioned {
            version: seq as u64,
            record: Team {
                id,
                name,
                member_ids: members
                    .iter()
                    .map(|s| parse_uuid(s))
                    .collect::<Result<_, _>>()?,
            },
        }))
    }

    pub fn team_by_name(&self, name: &str) -> Result<Option<Team>, StorageError> {
        let id: Option<String> = self
            .conn
            .query_row("SELECT id FROM teams WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        match id {
            Some(id) => Ok(self.team(parse_uuid(&id)?)?.map(|t| t.record)),
            None => Ok(None),
        }
    }

    pub fn teams_of(&self, user_id: Uuid) -> Result<Vec<Team>, StorageError> {
        let mut teams = Vec::new();
        for id in self.team_ids_of(user_id)? {
            if let Some(t) = self.team(id)? {
                teams.push(t.record);
            }
        }
        Ok(teams)
    }

    fn body_by_id<T: DeserializeOwned>(
        &self,
        sql: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, StorageError> {
        self.conn
            .prepare_cached(sql)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .map(|(b, s)| versioned(b, s))
            .transpose()
    }

    pub fn installation(&self, id: Uuid) -> Result<Option<Versioned<Installation>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM installations WHERE id = ?1",
            &id.to_string(),
        )
    }

    pub fn installation_by_human_id(
        &self,
        id: &InstallationId,
    ) -> Result<Option<Versioned<Installation>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM installations WHERE installation_id = ?1",
            id.as_str(),
        )
    }

    pub fn lead(&self, id: Uuid) -> Result<Option<Versioned<Lead>>, StorageError> {
        self.body_by_id("SELECT body, seq FROM leads WHERE id = ?1", &id.to_string())
    }

    pub fn survey(&self, id: Uuid) -> Result<Option<Versioned<Survey>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM surveys WHERE id = ?1",
            &id.to_string(),
        )
    }

    pub fn assignment(
        &self,
        id: Uuid,
    ) -> Result<Option<Versioned<InstallationAssignment>>, StorageError> {
        self.body_by_id(
            "SELECT body, seq FROM assignments WHERE id = ?1",
            &id.to_string(),
        )
    }

    pub fn assignments_of(
        &self,
        installation: Uuid,
    ) -> Result<Vec<Versioned<InstallationAssignment>>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, seq FROM assignments WHERE installation_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([installation.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<(String, i64)>, _>>()?;
        rows.into_iter().map(|(b, s)| versioned(b, s)).collect()
    }

    /// Whether any installation's report has this id.
    pub fn report_id_taken(&self, id: Uuid) -> Result<bool, StorageError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM reports WHERE id = ?1)",
            [id.to_string()],
            |r| r.get(0),
        )?)
    }

    /// The installation's report and when the server received it.
    pub fn report_of(&self, installation: Uuid) -> Result<Option<StoredReport>, StorageError> {
        let row: Option<(String, i64, String)> = self
            .conn
            .query_row(
                "SELECT body, seq, received_at FROM reports WHERE installation_id = ?1",
                [installation.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(b, s, at)| Ok((versioned(b, s)?, parse_timestamp(&at)?)))
            .transpose()
    }

    /// Whether the installation's report is sent back to the technician.
    pub fn report_sent_back(&self, installation: Uuid) -> Result<bool, StorageError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM reports \
                 WHERE installation_id = ?1 AND sent_back_at IS NOT NULL)",
            )?
            .query_row([installation.to_string()], |r| r.get(0))?)
    }

    pub fn media(&self, id: Uuid) -> Result<Option<Versioned<InstallationMedia>>, StorageError> {
        self.body_by_id("SELECT body, seq FROM media WHERE id = ?1", &id.to_string())
    }

    /// Hashes of the media currently attached to an installation (what a
    /// report's content hash covers).
    pub fn media_hashes_of(&self, installation: Uuid) -> Result<Vec<Sha256Hex>, StorageError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT sha256 FROM media WHERE installation_id = ?1")?;
        let rows = stmt
            .query_map([installation.to_string()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| StorageError::Corrupt(format!("sha256 {s:?}")))
            })
            .collect()
    }

    /// Whether an installation exists and is in the caller's scope.
    pub fn installation_in_scope(
        &self,
        installation: Uuid,
        scope: Scope,
    ) -> Result<bool, StorageError> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM installations i WHERE i.id = :id AND {})",
            in_scope_sql("i.id")
        );
        Ok(self.conn.prepare_cached(&sql)?.query_row(
            rusqlite::named_params! {
                ":id": installation.to_string(),
                ":all": scope.everything as i64,
                ":user": scope.user_id.to_string(),
            },
            |r| r.get(0),
        )?)
    }

    pub fn report_events(&self, installation: Uuid) -> Result<Vec<ReportEvent>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event, report_id, installation_id, received_at, device_id, user_id, \
                    mutation_id, content_hash, note, earlier_body \
             FROM report_events WHERE installation_id = ?1 ORDER BY id",
        )?;
        type Row = (
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
        );
        let rows = stmt
            .query_map([installation.to_string()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect::<Result<Vec<Row>, _>>()?;
        // Ops events have no device or mutation: stored as ''.
        let optional = |s: &str| (!s.is_empty()).then(|| parse_uuid(s)).transpose();
        rows.into_iter()
            .map(
                |(event, report, inst, at, device, user, mutation, hash, note, earlier)| {
                    Ok(ReportEvent {
                        event: from_json(&format!("\"{event}\""))?,
                        report_id: parse_uuid(&report)?,
                        installation_id: parse_uuid(&inst)?,
                        received_at: parse_timestamp(&at)?,
                        device_id: optional(&device)?,
                        user_id: parse_uuid(&user)?,
                        mutation_id: optional(&mutation)?,
                        content_hash: hash
                            .parse()
                            .map_err(|_| StorageError::Corrupt(format!("sha256 {hash:?}")))?,
                        note,
                        earlier_version: earlier.map(|b| from_json(&b)).transpose()?,
                    })
                },
            )
            .collect()
    }

    /// Media records and reports whose blob had not arrived when they were
    /// last versioned, as (kind, record id, blob hash); at most `limit` of each.
    pub fn awaiting_blobs(
        &self,
        limit: usize,
    ) -> Result<Vec<(EntityKind, Uuid, Sha256Hex)>, StorageError> {
        let mut out = Vec::new();
        for (kind, sql) in [
            (
                EntityKind::Media,
                "SELECT id, sha256 FROM media WHERE blob_present = 0 LIMIT ?1",
            ),
            (
                EntityKind::Report,
                "SELECT id, signature_sha256 FROM reports WHERE signature_blob_present = 0 LIMIT ?1",
            ),
        ] {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (id, hash) in rows {
                let hash = hash
                    .parse()
                    .map_err(|_| StorageError::Corrupt(format!("sha256 {hash:?}")))?;
                out.push((kind, parse_uuid(&id)?, hash));
            }
        }
        Ok(out)
    }

    pub fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, StorageError> {
        let row: Option<(String, String, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT user_id, expires_at, revoked_at FROM sessions WHERE token_hash = ?1",
            )?
            .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(user, exp, revoked)| {
            Ok(SessionRow {
                user_id: parse_uuid(&user)?,
                expires_at: parse_timestamp(&exp)?,
                revoked: revoked.is_some(),
            })
        })
        .transpose()
    }

    pub fn device(&self, device_id: Uuid) -> Result<Option<DeviceRow>, StorageError> {
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT user_id, last_seq FROM devices WHERE device_id = ?1")?
            .query_row([device_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(u, s)| {
            Ok(DeviceRow {
                user_id: parse_uuid(&u)?,
                last_seq: s as u64,
            })
        })
        .transpose()
    }

    pub fn stored_mutation(
        &self,
        mutation_id: Uuid,
    ) -> Result<Option<StoredMutation>, StorageError> {
        let row: Option<(String, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT device_id, user_id, result FROM mutations WHERE mutation_id = ?1",
            )?
            .query_row([mutation_id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(d, u, result)| {
            Ok(StoredMutation {
                device_id: parse_uuid(&d)?,
                user_id: parse_uuid(&u)?,
                outcome: from_json(&result)?,
            })
        })
        .transpose()
    }
}

impl WriteTx<'_> {
    pub fn insert_user(&mut self, user: &User, password_hash: &str) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx.execute(
            "INSERT INTO users (id, username, role, password_hash, body, seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                user.id.to_string(),
                user.username,
                user.role.as_str(),
                password_hash,
                to_json(user)?,
                seq as i64
            ],
        )?;
        Ok(seq)
    }

    pub fn insert_team(&mut self, id: Uuid, name: &str) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx.execute(
            "INSERT INTO teams (id, name, seq) VALUES (?1, ?2, ?3)",
            params![id.to_string(), name, seq as i64],
        )?;
        Ok(seq)
    }

    /// Adds a member. The team, its members and the installations assigned
    /// to it get new versions: the newcomer's devices (whatever their
    /// cursor) pull the team's work and team-mates, and team-mates pull the
    /// newcomer.
    pub fn add_team_member(&mut self, team_id: Uuid, user_id: Uuid) -> Result<u64, StorageError> {
        let added = self.tx.execute(
            "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
            params![team_id.to_string(), user_id.to_string()],
        )?;
        if added == 0 {
            return self.touch("teams", team_id);
        }
        let mut users: BTreeSet<Uuid> = self
            .ids(
                "SELECT user_id FROM team_members WHERE team_id = ?1",
                team_id,
            )?
            .into_iter()
            .collect();
        for installation in self.installations_assigned_to(team_id)? {
            self.touch_family_rows(&installation, &mut users)?;
        }
        for user in users {
            self.touch("users", user)?;
        }
        self.touch("teams", team_id)
    }

    /// Installations with a live (not withdrawn) assignment to the team.
    fn installations_assigned_to(&self, team_id: Uuid) -> Result<Vec<Installation>, StorageError> {
        let ids = self.ids(
            "SELECT DISTINCT installation_id FROM assignments \
             WHERE team_id = ?1 AND status != 'withdrawn'",
            team_id,
        )?;
        ids.into_iter()
            .map(|id| {
                self.db()
                    .installation(id)?
                    .map(|v| v.record)
                    .ok_or_else(|| StorageError::Corrupt(format!("assignment to missing {id}")))
            })
            .collect()
    }

    /// Removes a member; `false` if they were not one. Their devices get
    /// tombstones for the team and for every installation of the team, with
    /// its family (pull skips those they still see through another team);
    /// team-mates pull the team's new member list.
    pub fn remove_team_member(
        &mut self,
        team_id: Uuid,
        user_id: Uuid,
    ) -> Result<bool, StorageError> {
        let removed = self.tx.execute(
            "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
            params![team_id.to_string(), user_id.to_string()],
        )?;
        if removed == 0 {
            return Ok(false);
        }
        for installation in self.installations_assigned_to(team_id)? {
            for (kind, id) in self.installation_family(&installation)? {
                self.tombstone(
                    kind,
                    id,
                    TombstoneReason::LeftScope,
                    TombstoneAudience::User(user_id),
                    Some(installation.id),
                )?;
            }
        }
        self.tombstone(
            EntityKind::Team,
            team_id,
            TombstoneReason::LeftScope,
            TombstoneAudience::User(user_id),
            None,
        )?;
        self.touch("teams", team_id)?;
        Ok(true)
    }

    fn touch(&mut self, table: &'static str, id: Uuid) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx.execute(
            &format!("UPDATE {table} SET seq = ?1 WHERE id = ?2"),
            params![seq as i64, id.to_string()],
        )?;
        Ok(seq)
    }

    pub fn save_lead(&mut self, lead: &Lead) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx
            .prepare_cached(
                "INSERT INTO leads (id, body, seq) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq",
            )?
            .execute(params![lead.id.to_string(), to_json(lead)?, seq as i64])?;
        Ok(seq)
    }

    pub fn save_survey(&mut self, survey: &Survey) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx
            .prepare_cached(
                "INSERT INTO surveys (id, lead_id, body, seq) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq",
            )?
            .execute(params![
                survey.id.to_string(),
                survey.lead_id.to_string(),
                to_json(survey)?,
                seq as i64
            ])?;
        Ok(seq)
    }

    pub fn save_installation(&mut self, inst: &Installation) -> Result<u64, StorageError> {
        let before = self.db().stored_installation(inst.id)?;
        self.record_installation_history(before.as_ref(), inst)?;
        let seq = self.next_seq()?;
        self.tx
            .prepare_cached(
                "INSERT INTO installations \
                   (id, installation_id, survey_id, lead_id, status, scheduled_date, created_by, body, seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                   scheduled_date = excluded.scheduled_date, body = excluded.body, seq = excluded.seq",
            )?
            .execute(params![
                inst.id.to_string(),
                inst.installation_id.as_str(),
                inst.survey_id.to_string(),
                inst.lead_id.to_string(),
                inst.status.as_str(),
                inst.scheduled_date.to_string(),
                inst.created_by.to_string(),
                to_json(inst)?,
                seq as i64
            ])?;
        // Imported ids (demo seed) must never be handed out again.
        self.tx
            .prepare_cached(
                "INSERT INTO installation_id_counters (year, last) VALUES (?1, ?2) \
                 ON CONFLICT (year) DO UPDATE SET last = max(last, excluded.last)",
            )?
            .execute(params![
                inst.installation_id.year(),
                inst.installation_id.sequence()
            ])?;
        Ok(seq)
    }

    /// The next `INS-YYYY-NNNNNN` for an installation created at `now`.
    pub fn next_installation_id(&mut self) -> Result<InstallationId, StorageError> {
        let year = self.now.year();
        let n: i64 = self.tx.query_row(
            "INSERT INTO installation_id_counters (year, last) VALUES (?1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = last + 1 RETURNING last",
            [year],
            |r| r.get(0),
        )?;
        InstallationId::new(year, n as u32)
            .map_err(|e| StorageError::Corrupt(format!("installation id counter: {e}")))
    }

    pub fn save_assignment(&mut self, a: &InstallationAssignment) -> Result<u64, StorageError> {
        let before = self.db().stored_assignment(a.id)?;
        self.record_assignment_history(before.as_ref(), a)?;
        let seq = self.next_seq()?;
        self.tx
            .prepare_cached(
                "INSERT INTO assignments \
                   (id, installation_id, team_id, status, body, seq, assigned_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body, \
                   seq = excluded.seq, assigned_by = excluded.assigned_by",
            )?
            .execute(params![
                a.id.to_string(),
                a.installation_id.to_string(),
                a.team_id.to_string(),
                a.status.as_str(),
                to_json(a)?,
                seq as i64,
                a.assigned_by.to_string()
            ])?;
        Ok(seq)
    }

    pub fn insert_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        let signature = report
            .customer_signature
            .as_ref()
            .map(|s| s.png.sha256.as_str());
        self.tx.execute(
            "INSERT INTO reports (id, installation_id, body, received_at, seq, \
               signature_sha256, signature_blob_present, submitted_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                report.id.to_string(),
                report.installation_id.to_string(),
                to_json(report)?,
                timestamp(self.now),
                seq as i64,
                signature,
                signature.is_none() as i64,
                report.submitted_by.to_string()
            ],
        )?;
        self.make_user_visible_with(report.submitted_by, report.installation_id)?;
        Ok(seq)
    }

    pub fn append_report_event(&mut self, event: &ReportEvent) -> Result<(), StorageError> {
        let earlier = event.earlier_version.as_deref().map(to_json).transpose()?;
        self.tx.execute(
            "INSERT INTO report_events (event, report_id, installation_id, received_at, \
               device_id, user_id, mutation_id, content_hash, note, earlier_body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                event.event.as_str(),
                event.report_id.to_string(),
                event.installation_id.to_string(),
                timestamp(event.received_at),
                event.device_id.map(|d| d.to_string()).unwrap_or_default(),
                event.user_id.to_string(),
                event.mutation_id.map(|m| m.to_string()).unwrap_or_default(),
                event.content_hash.as_str(),
                event.note,
                earlier
            ],
        )?;
        Ok(())
    }

    /// Replaces an installation's report with a corrected version (after ops
    /// sent it back): same row, new body and version; the sent-back mark is
    /// cleared. The caller keeps the earlier version in the report events.
    pub fn replace_report(&mut self, report: &InstallationReport) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        let signature = report
            .customer_signature
            .as_ref()
            .map(|s| s.png.sha256.as_str());
        self.tx.execute(
            "UPDATE reports SET id = ?1, body = ?3, received_at = ?4, seq = ?5, \
               signature_sha256 = ?6, signature_blob_present = ?7, submitted_by = ?8, \
               sent_back_at = NULL \
             WHERE installation_id = ?2",
            params![
                report.id.to_string(),
                report.installation_id.to_string(),
                to_json(report)?,
                timestamp(self.now),
                seq as i64,
                signature,
                signature.is_none() as i64,
                report.submitted_by.to_string()
            ],
        )?;
        self.make_user_visible_with(report.submitted_by, report.installation_id)?;
        Ok(seq)
    }

    /// Marks (or clears) the installation's report as sent back to the
    /// technician.
    pub fn set_report_sent_back(
        &mut self,
        installation: Uuid,
        sent_back: bool,
    ) -> Result<(), StorageError> {
        self.tx.execute(
            "UPDATE reports SET sent_back_at = ?2 WHERE installation_id = ?1",
            params![
                installation.to_string(),
                sent_back.then(|| timestamp(self.now))
            ],
        )?;
        Ok(())
    }

    pub fn save_media(&mut self, media: &InstallationMedia) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx
            .prepare_cached(
                "INSERT INTO media (id, installation_id, sha256, body, received_at, seq, uploaded_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq, \
                   uploaded_by = excluded.uploaded_by",
            )?
            .execute(params![
                media.id.to_string(),
                media.installation_id.to_string(),
                media.file.sha256.as_str(),
                to_json(media)?,
                timestamp(self.now),
                seq as i64,
                media.uploaded_by.to_string()
            ])?;
        self.make_user_visible_with(media.uploaded_by, media.installation_id)?;
        Ok(seq)
    }

    /// The blob of a media record arrived: record it with a new version so
    /// devices that pulled it "awaiting blob" pull it again.
    pub fn mark_media_blob_present(&mut self, media_id: Uuid) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx.execute(
            "UPDATE media SET blob_present = 1, seq = ?1 WHERE id = ?2",
            params![seq as i64, media_id.to_string()],
        )?;
        Ok(seq)
    }

    /// The signature image of a report arrived (see [`Self::mark_media_blob_present`]).
    pub fn mark_signature_blob_present(&mut self, report_id: Uuid) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx.execute(
            "UPDATE reports SET signature_blob_present = 1, seq = ?1 WHERE id = ?2",
            params![seq as i64, report_id.to_string()],
        )?;
        Ok(seq)
    }

    /// Deletes a media record and leaves a tombstone for everyone in scope.
    pub fn delete_media(&mut self, media: &InstallationMedia) -> Result<u64, StorageError> {
        self.tx
            .execute("DELETE FROM media WHERE id = ?1", [media.id.to_string()])?;
        self.tombstone(
            EntityKind::Media,
            media.id,
            TombstoneReason::Deleted,
            TombstoneAudience::EveryoneInScope,
            Some(media.installation_id),
        )
    }

    fn tombstone(
        &mut self,
        entity: EntityKind,
        id: Uuid,
        reason: TombstoneReason,
        audience: TombstoneAudience,
        installation: Option<Uuid>,
    ) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        let reason = match reason {
            TombstoneReason::LeftScope => "left_scope",
            TombstoneReason::Deleted => "deleted",
        };
        let (team_id, user_id) = match audience {
            TombstoneAudience::EveryoneInScope => (None, None),
            TombstoneAudience::Team(team) => (Some(team), None),
            TombstoneAudience::User(user) => (None, Some(user)),
        };
        self.tx
            .prepare_cached(
                "INSERT INTO tombstones \
                   (seq, entity, entity_id, reason, team_id, user_id, installation_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                seq as i64,
                entity.as_str(),
                id.to_string(),
                reason,
                team_id.map(|t| t.to_string()),
                user_id.map(|u| u.to_string()),
                installation.map(|i| i.to_string())
            ])?;
        Ok(seq)
    }

    /// Ids selected by `sql` with one id parameter.
    fn ids(&self, sql: &str, param: Uuid) -> Result<Vec<Uuid>, StorageError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let rows = stmt
            .query_map([param.to_string()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.iter().map(|s| parse_uuid(s)).collect()
    }

    /// Every record that travels with an installation, by kind.
    fn installation_family(
        &self,
        installation: &Installation,
    ) -> Result<Vec<(EntityKind, Uuid)>, StorageError> {
        let mut family = vec![
            (EntityKind::Installation, installation.id),
            (EntityKind::Lead, installation.lead_id),
            (EntityKind::Survey, installation.survey_id),
        ];
        for (kind, sql) in [
            (
                EntityKind::Assignment,
                "SELECT id FROM assignments WHERE installation_id = ?1",
            ),
            (
                EntityKind::Report,
                "SELECT id FROM reports WHERE installation_id = ?1",
            ),
            (
                EntityKind::Media,
                "SELECT id FROM media WHERE installation_id = ?1",
            ),
        ] {
            family.extend(
                self.ids(sql, installation.id)?
                    .into_iter()
                    .map(|id| (kind, id)),
            );
        }
        Ok(family)
    }

    /// Users the installation's records name: its creator, who assigned it,
    /// who submitted its report, who uploaded its media.
    fn users_named_by(&self, installation: &Installation) -> Result<Vec<Uuid>, StorageError> {
        let mut users = vec![installation.created_by];
        users.extend(self.ids(
            "SELECT assigned_by FROM assignments WHERE installation_id = ?1 \
             UNION SELECT submitted_by FROM reports WHERE installation_id = ?1 \
             UNION SELECT uploaded_by FROM media WHERE installation_id = ?1",
            installation.id,
        )?);
        Ok(users)
    }

    /// Gives an installation and everything that travels with it new versions:
    /// a team that just gained it pulls all of it, even rows older than its
    /// cursor — including the users those records name.
    pub fn touch_installation_family(
        &mut self,
        installation: &Installation,
    ) -> Result<(), StorageError> {
        let mut users = BTreeSet::new();
        self.touch_family_rows(installation, &mut users)?;
        for user in users {
            self.touch("users", user)?;
        }
        Ok(())
    }

    /// [`Self::touch_installation_family`] without the users, which are added
    /// to `users` so a caller touching many installations touches each user
    /// once.
    fn touch_family_rows(
        &mut self,
        installation: &Installation,
        users: &mut BTreeSet<Uuid>,
    ) -> Result<(), StorageError> {
        users.extend(self.users_named_by(installation)?);
        for (kind, id) in self.installation_family(installation)? {
            let table = match kind {
                EntityKind::Installation => "installations",
                EntityKind::Lead => "leads",
                EntityKind::Survey => "surveys",
                EntityKind::Assignment => "assignments",
                EntityKind::Report => "reports",
                EntityKind::Media => "media",
                EntityKind::Team | EntityKind::User => continue,
            };
            self.touch(table, id)?;
        }
        Ok(())
    }

    /// Tombstones for a team that lost an installation (pull skips them for
    /// callers who still see the record through another team).
    pub fn tombstone_left_scope(
        &mut self,
        team_id: Uuid,
        installation: &Installation,
    ) -> Result<(), StorageError> {
        for (kind, id) in self.installation_family(installation)? {
            self.tombstone(
                kind,
                id,
                TombstoneReason::LeftScope,
                TombstoneAudience::Team(team_id),
                Some(installation.id),
            )?;
        }
        Ok(())
    }

    /// A record written by `user` on `installation` names them: every device
    /// that sees the installation must have that user. Those who see it
    /// only through a team `user` is not in may have a cursor past the user's
    /// row, so the row gets a new version. (Team-mates already have it.)
    pub(super) fn make_user_visible_with(
        &mut self,
        user: Uuid,
        installation: Uuid,
    ) -> Result<(), StorageError> {
        let seen_by_other_teams: bool = self
            .tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM assignments a \
               WHERE a.installation_id = ?1 AND a.status != 'withdrawn' \
                 AND a.team_id NOT IN (SELECT team_id FROM team_members WHERE user_id = ?2))",
            )?
            .query_row(params![installation.to_string(), user.to_string()], |r| {
                r.get(0)
            })?;
        if seen_by_other_teams {
            self.touch("users", user)?;
        }
        Ok(())
    }

    pub fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.tx.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                token_hash,
                user_id.to_string(),
                timestamp(self.now),
                timestamp(expires_at)
            ],
        )?;
        Ok(())
    }

    pub fn revoke_session(&mut self, token_hash: &str) -> Result<(), StorageError> {
        self.tx.execute(
            "UPDATE sessions SET revoked_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
            params![timestamp(self.now), token_hash],
        )?;
        Ok(())
    }

    pub fn bind_device(&mut self, device_id: Uuid, user_id: Uuid) -> Result<(), StorageError> {
        self.tx.execute(
            "INSERT INTO devices (device_id, user_id, last_seq, first_seen) VALUES (?1, ?2, 0, ?3)",
            params![
                device_id.to_string(),
                user_id.to_string(),
                timestamp(self.now)
            ],
        )?;
        Ok(())
    }

    /// Stores a mutation's answer and advances its device's sequence.
    pub fn record_mutation(&mut self, m: &MutationRecord<'_>) -> Result<(), StorageError> {
        self.tx
            .prepare_cached(
                "INSERT INTO mutations (mutation_id, device_id, device_seq, user_id, kind, \
                   base_version, result, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                m.mutation_id.to_string(),
                m.device_id.to_string(),
                m.device_seq as i64,
                m.user_id.to_string(),
                m.kind,
                m.base_version.map(|v| v as i64),
                to_json(m.outcome)?,
                timestamp(self.now)
            ])?;
        self.tx
            .prepare_cached("UPDATE devices SET last_seq = ?1 WHERE device_id = ?2")?
            .execute(params![m.device_seq as i64, m.device_id.to_string()])?;
        Ok(())
    }
}
