//! How changes reach devices: the change sequence, new versions for rows a
//! device must pull again, and tombstones for what left its scope.

use fieldbook_domain::Installation;
use uuid::Uuid;

use super::StorageError;

pub trait VersionReads {
    /// The last change sequence number handed out (committed, in this snapshot).
    fn change_seq(&self) -> Result<u64, StorageError>;
}

pub trait VersionWrites {
    /// Gives an installation and everything that travels with it new versions:
    /// a team that just gained it pulls all of it, even rows older than its
    /// cursor — including the users those records name.
    fn touch_installation_family(
        &mut self,
        installation: &Installation,
    ) -> Result<(), StorageError>;

    /// Tombstones for a team that lost an installation (pull skips them for
    /// callers who still see the record through another team).
    fn tombstone_left_scope(
        &mut self,
        team_id: Uuid,
        installation: &Installation,
    ) -> Result<(), StorageError>;
}
