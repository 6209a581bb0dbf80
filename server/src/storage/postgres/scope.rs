//! Who sees what: technicians see their teams' installations, Central Ops
//! see everything.

use uuid::Uuid;

use super::PgDb;
use crate::storage::{Scope, ScopeReads, StorageError};

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

impl ScopeReads for PgDb<'_> {
    fn installation_in_scope(
        &self,
        installation: Uuid,
        scope: Scope,
    ) -> Result<bool, StorageError> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM installations i WHERE i.id = :id AND {})",
            in_scope_sql("i.id")
        );
        let rows = self.named_rows(
            &sql,
            &[
                (":id", &installation.to_string()),
                (":all", &(scope.everything as i64)),
                (":user", &scope.user_id.to_string()),
            ],
        )?;
        Ok(rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(false))
    }
}
