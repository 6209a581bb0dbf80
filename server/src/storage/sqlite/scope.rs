//! Who sees what: technicians see their teams' installations, Central Ops
//! see everything.

use fieldbook_domain::Role;
use uuid::Uuid;

use super::{Db, StorageError};

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
}
