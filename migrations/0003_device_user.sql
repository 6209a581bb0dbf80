-- The user this device id (and its outbox sequence) belongs to. The server
-- binds a device id to the first user who pushes with it and refuses anyone
-- else's mutations under it, so a different user signing in on this
-- computer gets a new device id (once the previous user's outbox is sent).
-- Existing stores adopt whoever is signed in now.
ALTER TABLE device ADD COLUMN user_id TEXT;
UPDATE device SET user_id = (SELECT user_id FROM session);
