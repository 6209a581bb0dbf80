//! Users, teams and team membership.

use std::collections::BTreeSet;

use fieldbook_domain::{Installation, Team, User};
use fieldbook_protocol::{EntityKind, TombstoneReason, Versioned};
use uuid::Uuid;

use super::rows::{from_json, parse_uuid, to_json};
use super::versions::TombstoneAudience;
use super::{PgDb, PgTx};
use crate::storage::{InstallationReads, StorageError, UserReads, UserWrites};

impl UserReads for PgDb<'_> {
    fn user(&self, id: Uuid) -> Result<Option<Versioned<User>>, StorageError> {
        self.body_by_id("SELECT body, seq FROM users WHERE id = $1", &id.to_string())
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>, StorageError> {
        Ok(self.user_credentials(username)?.map(|(u, _)| u))
    }

    fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>, StorageError> {
        self.row(
            "SELECT body, password_hash FROM users WHERE username = $1",
            &[&username],
        )?
        .map(|r| Ok((from_json(&r.try_get::<_, String>(0)?)?, r.try_get(1)?)))
        .transpose()
    }

    fn team_ids_of(&self, user_id: Uuid) -> Result<Vec<Uuid>, StorageError> {
        self.ids(
            "SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id",
            user_id,
        )
    }

    fn team(&self, id: Uuid) -> Result<Option<Versioned<Team>>, StorageError> {
        let Some(row) = self.row(
            "SELECT name, seq FROM teams WHERE id = $1",
            &[&id.to_string()],
        )?
        else {
            return Ok(None);
        };
        let (name, seq): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        let members = self.ids(
            "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id",
            id,
        )?;
        Ok(Some(Versioned {
            version: seq as u64,
            record: Team {
                id,
                name,
                member_ids: members,
            },
        }))
    }

    fn team_by_name(&self, name: &str) -> Result<Option<Team>, StorageError> {
        let id: Option<String> = self
            .row("SELECT id FROM teams WHERE name = $1", &[&name])?
            .map(|r| r.try_get(0))
            .transpose()?;
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

impl UserWrites for PgTx<'_> {
    fn insert_user(&mut self, user: &User, password_hash: &str) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO users (id, username, role, password_hash, body, seq) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &user.id.to_string(),
                &user.username.as_str(),
                &user.role.as_str(),
                &password_hash,
                &to_json(user)?,
                &(seq as i64),
            ],
        )?;
        Ok(seq)
    }

    fn insert_team(&mut self, id: Uuid, name: &str) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO teams (id, name, seq) VALUES ($1, $2, $3)",
            &[&id.to_string(), &name, &(seq as i64)],
        )?;
        Ok(seq)
    }

    fn add_team_member(&mut self, team_id: Uuid, user_id: Uuid) -> Result<u64, StorageError> {
        let added = self.db.execute(
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&team_id.to_string(), &user_id.to_string()],
        )?;
        if added == 0 {
            return self.touch("teams", team_id);
        }
        let mut users: BTreeSet<Uuid> = self
            .db
            .ids(
                "SELECT user_id FROM team_members WHERE team_id = $1",
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
        let removed = self.db.execute(
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
            &[&team_id.to_string(), &user_id.to_string()],
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

impl PgTx<'_> {
    /// Installations with a live (not withdrawn) assignment to the team.
    fn installations_assigned_to(&self, team_id: Uuid) -> Result<Vec<Installation>, StorageError> {
        let ids = self.db.ids(
            "SELECT DISTINCT installation_id FROM assignments \
             WHERE team_id = $1 AND status != 'withdrawn'",
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
