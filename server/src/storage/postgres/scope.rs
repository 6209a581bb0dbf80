//! Who sees what: technicians see their teams' installations, Central Ops
//! see everything.

use uuid::Uuid;

use super::PgDb;
use crate::storage::{Scope, ScopeReads, StorageError};

pub(super) use crate::storage::shared_sql::in_scope_sql;

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
