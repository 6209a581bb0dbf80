//! Users, teams and team membership.

use fieldbook_domain::{Team, User};
use fieldbook_protocol::Versioned;
use uuid::Uuid;

use super::StorageError;

pub trait UserReads {
    /// A user by id, with its version.
    fn user(&self, id: Uuid) -> Result<Option<Versioned<User>>, StorageError>;

    /// A user by username.
    fn user_by_username(&self, username: &str) -> Result<Option<User>, StorageError>;

    /// The user and their PHC password hash.
    fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>, StorageError>;

    /// The teams a user is a member of, by id order.
    fn team_ids_of(&self, user_id: Uuid) -> Result<Vec<Uuid>, StorageError>;

    /// A team by id with its members (by id order), with its version.
    fn team(&self, id: Uuid) -> Result<Option<Versioned<Team>>, StorageError>;

    /// A team by name.
    fn team_by_name(&self, name: &str) -> Result<Option<Team>, StorageError>;

    /// The teams a user is a member of.
    fn teams_of(&self, user_id: Uuid) -> Result<Vec<Team>, StorageError>;
}

pub trait UserWrites {
    /// Inserts a user with their PHC password hash; returns its version.
    fn insert_user(&mut self, user: &User, password_hash: &str) -> Result<u64, StorageError>;

    /// Inserts a team without members; returns its version.
    fn insert_team(&mut self, id: Uuid, name: &str) -> Result<u64, StorageError>;

    /// Adds a member. The team, its members and the installations assigned
    /// to it get new versions: the newcomer's devices (whatever their
    /// cursor) pull the team's work and team-mates, and team-mates pull the
    /// newcomer.
    fn add_team_member(&mut self, team_id: Uuid, user_id: Uuid) -> Result<u64, StorageError>;

    /// Removes a member; `false` if they were not one. Their devices get
    /// tombstones for the team and for every installation of the team, with
    /// its family (pull skips those they still see through another team);
    /// team-mates pull the team's new member list.
    fn remove_team_member(&mut self, team_id: Uuid, user_id: Uuid) -> Result<bool, StorageError>;
}
