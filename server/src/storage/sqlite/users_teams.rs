//! Users, teams and team membership.

use std::collections::BTreeSet;

use fieldbook_domain::{Installation, Team, User};
use fieldbook_protocol::{EntityKind, TombstoneReason, Versioned};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::{from_json, parse_uuid, to_json, versioned};
use super::versions::TombstoneAudience;
use super::{SqliteDb, SqliteTx};
use crate::storage::{InstallationReads, StorageError, UserReads, UserWrites};

impl UserReads for SqliteDb<'_> {
    fn user(&self, id: Uuid) -> Result<Option<Versioned<User>>, StorageError> {
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

    fn user_by_username(&self, username: &str) -> Result<Option<User>, StorageError> {
        Ok(self.user_credentials(username)?.map(|(u, _)| u))
    }

    fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>, StorageError> {
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

    fn team_ids_of(&self, user_id: Uuid) -> Result<Vec<Uuid>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT team_id FROM team_members WHERE user_id = ?1 ORDER BY team_id",
        )?;
        let ids = stmt
            .query_map([user_id.to_string()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids.iter().map(|s| parse_uuid(s)).collect()
    }

    fn team(&self, id: Uuid) -> Result<Option<Versioned<Team>>, StorageError> {
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

    fn team_by_name(&self, name: &str) -> Result<Option<Team>, StorageError> {
        let id: Option<String> = self
            .conn
            .query_row("SELECT id FROM teams WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        match id {
            Some(id) => Ok(self.team(parse_uuid(&id)?)?.map(|t| t.record)),
            None => Ok(None),
        }
    }

    fn teams_of(&self, user_id: Uuid) -> Result<Vec<Team>, StorageError> {
        let mut teams = Vec::new();
        for id in self.team_ids_of(user_id)? {
            if let Some(t) = self.team(id)? {
                teams.push(t.record);
            }
        }
        Ok(teams)
    }
}

impl UserWrites for SqliteTx<'_> {
    fn insert_user(&mut self, user: &User, password_hash: &str) -> Result<u64, StorageError> {
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

    fn insert_team(&mut self, id: Uuid, name: &str) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.tx.execute(
            "INSERT INTO teams (id, name, seq) VALUES (?1, ?2, ?3)",
            params![id.to_string(), name, seq as i64],
        )?;
        Ok(seq)
    }

    fn add_team_member(&mut self, team_id: Uuid, user_id: Uuid) -> Result<u64, StorageError> {
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

    fn remove_team_member(&mut self, team_id: Uuid, user_id: Uuid) -> Result<bool, StorageError> {
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
}

impl SqliteTx<'_> {
    /// Installations with a live (not withdrawn) assignment to the team.
    fn installations_assigned_to(&self, team_id: Uuid) -> Result<Vec<Installation>, StorageError> {
        let ids = self.ids(
            "SELECT DISTINCT installation_id FROM assignments \
             WHERE team_id = ?1 AND status != 'withdrawn'",
            team_id,
        )?;
        ids.into_iter()
            .map(|id| {
                self.db
                    .installation(id)?
                    .map(|v| v.record)
                    .ok_or_else(|| StorageError::Corrupt(format!("assignment to missing {id}")))
            })
            .collect()
    }
}
