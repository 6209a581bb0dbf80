-- Indexes no query of the store uses (every query that filters on these
-- columns also names a better one: the installation's id, or a team with
-- its installation). Each still cost every pulled row one more B-tree
-- insert, and a first sync writes 10,000 rows of each table.
DROP INDEX installations_created_by;
DROP INDEX installation_assignments_team;
DROP INDEX surveys_lead;

-- Secondary indexes a first sync leaves out while it writes thousands of
-- jobs and builds once after its last page (crates/store/src/apply/bulk_load.rs):
-- the statement that builds each waits here, in the same transaction as its
-- DROP, so a crash in between leaves it to be built at the next start.
CREATE TABLE deferred_indexes (
    name TEXT PRIMARY KEY,
    sql  TEXT NOT NULL
) WITHOUT ROWID;
