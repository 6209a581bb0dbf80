//! Schema migrations: the numbered `.sql` files of the top-level
//! `migrations/` folder, embedded at build time (see build.rs), applied in one
//! transaction and recorded in `PRAGMA user_version`.

use std::collections::HashSet;

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
    last_version(MIGRATIONS)
}

fn last_version(migrations: &[Migration]) -> u32 {
    migrations.last().map_or(0, |m| m.version)
}

/// Brings the database up to [`schema_version`]. A database from a newer
/// Fieldbook is refused untouched: running old code on a newer schema could
/// silently drop what the newer version stored.
///
/// Foreign keys are off while migrations run, as in SQLite's own procedure
/// for changing a table (new table, copy, drop, rename): with them on, the
/// `DROP TABLE` of a parent deletes its children through `ON DELETE
/// CASCADE`. `PRAGMA foreign_keys` cannot change inside a transaction, so it
/// is set around it, and `PRAGMA foreign_key_check` runs after each
/// migration: one that leaves a reference dangling is rolled back with the
/// whole run.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32> {
    run(conn, MIGRATIONS)
}

/// [`migrate`] with the given migrations (tests bring their own).
fn run(conn: &mut Connection, migrations: &[Migration]) -> Result<u32> {
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let migrated = run_in_one_transaction(conn, migrations);
    // Restored whatever happened: the connection goes on to serve the app.
    let restored = conn.pragma_update(None, "foreign_keys", enforced);
    let supported = migrated?;
    restored?;
    Ok(supported)
}

fn run_in_one_transaction(conn: &mut Connection, migrations: &[Migration]) -> Result<u32> {
    let supported = last_version(migrations);
    // IMMEDIATE takes the write lock before reading the version, so two
    // processes racing past the directory lock could not both migrate.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    let pending: Vec<&Migration> = migrations.iter().filter(|m| m.version > found).collect();
    // Rows already pointing nowhere (written by hand with foreign keys off)
    // are not the migrations' doing and must not stop Fieldbook opening.
    let dangling_before = if pending.is_empty() {
        HashSet::new()
    } else {
        dangling_references(&tx)?
    };
    for migration in pending {
        tx.execute_batch(migration.sql)
            .map_err(|source| StoreError::MigrationFailed {
                version: migration.version,
                name: migration.name,
                source,
            })?;
        let broken = dangling_references(&tx)?
            .into_iter()
            .find(|reference| !dangling_before.contains(reference));
        if let Some((table, _)) = broken {
            return Err(StoreError::MigrationBrokeReferences {
                version: migration.version,
                name: migration.name,
                table,
            });
        }
        tx.pragma_update(None, "user_version", migration.version)?;
    }
    tx.commit()?;
    Ok(supported)
}

/// Each row whose reference finds no parent: its table and rowid (none
/// for a `WITHOUT ROWID` table, whose dangling rows then count as one).
fn dangling_references(conn: &Connection) -> Result<HashSet<(String, Option<i64>)>> {
    let mut check = conn.prepare("PRAGMA foreign_key_check")?;
    let rows = check.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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

    fn connection_enforcing_foreign_keys() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        conn
    }

    fn foreign_keys(conn: &Connection) -> bool {
        conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap()
    }

    const PARENT_AND_CHILD: Migration = Migration {
        version: 1,
        name: "parent_and_child",
        sql: "CREATE TABLE parent (id INTEGER PRIMARY KEY, note TEXT CHECK (length(note) < 9));
              CREATE TABLE child (id INTEGER PRIMARY KEY,
                                  parent_id INTEGER NOT NULL REFERENCES parent (id) ON DELETE CASCADE);
              INSERT INTO parent VALUES (1, 'kept');
              INSERT INTO child VALUES (10, 1);",
    };

    #[test]
    fn a_table_rebuilt_under_its_children_keeps_them() {
        // SQLite's procedure for changing a table: with foreign keys on,
        // the DROP of the old parent would delete the child through its
        // ON DELETE CASCADE.
        let mut conn = connection_enforcing_foreign_keys();
        let rebuild = Migration {
            version: 2,
            name: "parent_without_check",
            sql: "CREATE TABLE parent_rebuilt (id INTEGER PRIMARY KEY, note TEXT);
                  INSERT INTO parent_rebuilt SELECT id, note FROM parent;
                  DROP TABLE parent;
                  ALTER TABLE parent_rebuilt RENAME TO parent;",
        };
        assert_eq!(run(&mut conn, &[PARENT_AND_CHILD, rebuild]).unwrap(), 2);
        let children: i64 = conn
            .query_row("SELECT count(*) FROM child WHERE parent_id = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(children, 1);
        assert!(foreign_keys(&conn), "enforced again after the migrations");
        // The cascade still works on the rebuilt parent.
        conn.execute("DELETE FROM parent WHERE id = 1", []).unwrap();
        let children: i64 = conn
            .query_row("SELECT count(*) FROM child", [], |r| r.get(0))
            .unwrap();
        assert_eq!(children, 0);
    }

    #[test]
    fn a_migration_that_leaves_a_reference_dangling_is_rolled_back() {
        let mut conn = connection_enforcing_foreign_keys();
        run(&mut conn, &[PARENT_AND_CHILD]).unwrap();
        let orphaning = Migration {
            version: 2,
            name: "orphaning",
            sql: "DELETE FROM parent;",
        };
        let err = run(&mut conn, &[PARENT_AND_CHILD, orphaning]).unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::MigrationBrokeReferences { version: 2, table, .. } if table == "child"
            ),
            "{err:?}"
        );
        assert_eq!(err.code(), "database");
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        let parents: i64 = conn
            .query_row("SELECT count(*) FROM parent", [], |r| r.get(0))
            .unwrap();
        assert_eq!(parents, 1, "the delete was rolled back");
        assert!(foreign_keys(&conn), "enforced again after the failure");
    }

    #[test]
    fn a_reference_dangling_before_the_migrations_does_not_stop_them() {
        let mut conn = connection_enforcing_foreign_keys();
        run(&mut conn, &[PARENT_AND_CHILD]).unwrap();
        // Written by hand with foreign keys off (a support session).
        conn.execute_batch("PRAGMA foreign_keys = OFF; INSERT INTO child VALUES (11, 99);")
            .unwrap();
        let unrelated = Migration {
            version: 2,
            name: "unrelated",
            sql: "CREATE TABLE other (id INTEGER PRIMARY KEY);",
        };
        assert_eq!(run(&mut conn, &[PARENT_AND_CHILD, unrelated]).unwrap(), 2);
    }
}
