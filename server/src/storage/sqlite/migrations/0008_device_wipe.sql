-- Remote wipe (issue 11): ops order a device to erase what it holds, as
-- 'retired' (send everything unsent first) or 'lost' (wipe at first contact).
ALTER TABLE devices ADD COLUMN wipe_kind TEXT;
ALTER TABLE devices ADD COLUMN wipe_ordered_at TEXT;
-- Random secret sent only to the sessions marked below; the device sends it
-- back to confirm it erased itself.
ALTER TABLE devices ADD COLUMN wipe_confirmation TEXT;
ALTER TABLE devices ADD COLUMN wipe_confirmed_at TEXT;
-- The device a session was bound to when its wipe was ordered: only these
-- sessions receive the confirmation secret (a later session, or another
-- device naming this one in its headers, does not).
ALTER TABLE sessions ADD COLUMN wipe_device_id TEXT;
CREATE INDEX sessions_wipe_device ON sessions (wipe_device_id) WHERE wipe_device_id IS NOT NULL;
