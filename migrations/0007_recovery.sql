-- Recovery from a server restored from a backup or reset.

-- A job this device keeps for unsent work although the server no longer has
-- it, whose INS- number the restored server gave to another job: the number
-- it had (shown to the technician), while `installation_id` holds a local
-- placeholder so the server's job can take its number.
ALTER TABLE installations ADD COLUMN displaced_number TEXT;

-- A pull from zero (a full resync) notes here what the device held when it
-- began; each page crosses off what it brings, and what is left when the
-- last page is applied is gone from the server: removed, or kept (marked
-- left scope) while it holds unsent work.
CREATE TABLE resync_unseen (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;

-- A local file the server found corrupt (its whole-file hash did not match):
-- its size and modification time then, so it is not sent again, also after
-- a restart, until the file changes.
ALTER TABLE blobs ADD COLUMN corrupt_size INTEGER;
ALTER TABLE blobs ADD COLUMN corrupt_modified_ns INTEGER;
