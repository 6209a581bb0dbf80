//! Schema migrations: the numbered `.sql` files of the top-level
//! `migrations/` folder, embedded at build time (see build.rs), applied in one
//! transaction and recorded in `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The schema version this build writes.
pub fn schema_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database up to [`schema_version`]. A database from a newer
/// Fieldbook is refused untouched: running old code on a newer schema could
/// silently drop what the newer version stored.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32> {
    let supported = schema_version();
    // IMMEDIATE takes the write lock before reading the version, so two
    // processes racing past the directory lock could not both migrate.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.execute_batch(migration.sql)
            .map_err(|source| StoreError::MigrationFailed {
                version: migration.version,
                name: migration.name,
                source,
            })?;
        tx.pragma_update(None, "user_version", migration.version)?;
    }
    tx.commit()?;
    Ok(supported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_numbered_from_one() {
        assert!(!MIGRATIONS.is_empty());
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(!m.sql.trim().is_empty());
        }
        assert_eq!(schema_version(), MIGRATIONS.len() as u32);
    }

    #[test]
    fn every_file_in_migrations_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let files = std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "sql")
            })
            .count();
        assert_eq!(files, MIGRATIONS.len());
    }
}
