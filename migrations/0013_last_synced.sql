-- When the signed-in user's last sync cycle ended well. The sync status
-- kept it in memory only, so a device restarted offline said "Never synced"
-- however fresh its data was: the technician on site could not tell a
-- schedule synced this morning from one never synced at all. A new session
-- (sign-in of another user) starts at NULL; the same user signing in again
-- keeps it (crates/store/src/rows/session.rs).
ALTER TABLE session ADD COLUMN last_synced_at TEXT;

-- A device upgraded to this version: the time of the last pull page it
-- applied (when its data last came from the server) stands in until its
-- next good sync, so it does not say "Never synced" meanwhile.
UPDATE session SET last_synced_at = (SELECT max(updated_at) FROM sync_state);
