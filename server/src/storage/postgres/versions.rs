//! How changes reach devices: the change sequence, new versions for rows a
//! device must pull again, and tombstones for what left its scope.

use std::collections::BTreeSet;

use fieldbook_domain::Installation;
use fieldbook_protocol::{EntityKind, TombstoneReason};
use uuid::Uuid;

use super::{PgDb, PgTx};
use crate::storage::{StorageError, VersionReads, VersionWrites};

/// Whose devices a tombstone is meant for.
#[derive(Debug, Clone, Copy)]
pub(super) enum TombstoneAudience {
    /// Everyone who sees the record's installation (a deletion).
    EveryoneInScope,
    /// The members of a team that lost the installation.
    Team(Uuid),
    /// One user who left a team.
    User(Uuid),
}

impl VersionReads for PgDb<'_> {
    /// In a read snapshot, its safe watermark (every change at or below it
    /// is committed and visible); in a write transaction, the last number
    /// handed out.
    fn change_seq(&self) -> Result<u64, StorageError> {
        Ok(match self.watermark {
            Some(w) => w,
            None => self.block(super::change_seq::last_handed_out(&**self.tx))?,
        } as u64)
    }
}

impl VersionWrites for PgTx<'_> {
    fn touch_installation_family(
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

    fn tombstone_left_scope(
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
}

impl PgTx<'_> {
    pub(super) fn touch(&mut self, table: &'static str, id: Uuid) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            &format!("UPDATE {table} SET seq = $1 WHERE id = $2"),
            &[&(seq as i64), &id.to_string()],
        )?;
        Ok(seq)
    }

    pub(super) fn tombstone(
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
        self.db.execute(
            "INSERT INTO tombstones \
               (seq, entity, entity_id, reason, team_id, user_id, installation_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &(seq as i64),
                &entity.as_str(),
                &id.to_string(),
                &reason,
                &team_id.map(|t| t.to_string()),
                &user_id.map(|u| u.to_string()),
                &installation.map(|i| i.to_string()),
            ],
        )?;
        Ok(seq)
    }

    /// Every record that travels with an installation, by kind.
    pub(super) fn installation_family(
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
                "SELECT id FROM assignments WHERE installation_id = $1",
            ),
            (
                EntityKind::Report,
                "SELECT id FROM reports WHERE installation_id = $1",
            ),
            (
                EntityKind::Media,
                "SELECT id FROM media WHERE installation_id = $1",
            ),
        ] {
            family.extend(
                self.db
                    .ids(sql, installation.id)?
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
        users.extend(self.db.ids(
            "SELECT assigned_by FROM assignments WHERE installation_id = $1 \
             UNION SELECT submitted_by FROM reports WHERE installation_id = $1 \
             UNION SELECT uploaded_by FROM media WHERE installation_id = $1",
            installation.id,
        )?);
        Ok(users)
    }

    /// [`Self::touch_installation_family`] without the users, which are added
    /// to `users` so a caller touching many installations touches each user
    /// once.
    pub(super) fn touch_family_rows(
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
            .db
            .one(
                "SELECT EXISTS (SELECT 1 FROM assignments a \
               WHERE a.installation_id = $1 AND a.status != 'withdrawn' \
                 AND a.team_id NOT IN (SELECT team_id FROM team_members WHERE user_id = $2))",
                &[&installation.to_string(), &user.to_string()],
            )?
            .try_get(0)?;
        if seen_by_other_teams {
            self.touch("users", user)?;
        }
        Ok(())
    }
}
