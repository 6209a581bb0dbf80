//! Who sees what: technicians see their teams' installations, Central Ops
//! see everything.

use fieldbook_domain::Role;
use uuid::Uuid;

use super::StorageError;

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

pub trait ScopeReads {
    /// Whether an installation exists and is in the caller's scope.
    fn installation_in_scope(&self, installation: Uuid, scope: Scope)
        -> Result<bool, StorageError>;
}
