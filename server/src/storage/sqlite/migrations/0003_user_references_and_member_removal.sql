-- Who each record names, as indexed columns, so a technician's pull can send
-- every user an in-scope record refers to (installations.created_by already
-- is a column).
ALTER TABLE assignments ADD COLUMN assigned_by TEXT;
UPDATE assignments SET assigned_by = json_extract(body, '$.assigned_by');
CREATE INDEX assignments_assigned_by ON assignments (assigned_by);

ALTER TABLE reports ADD COLUMN submitted_by TEXT;
UPDATE reports SET submitted_by = json_extract(body, '$.submitted_by');
CREATE INDEX reports_submitted_by ON reports (submitted_by);

ALTER TABLE media ADD COLUMN uploaded_by TEXT;
UPDATE media SET uploaded_by = json_extract(body, '$.uploaded_by');
CREATE INDEX media_uploaded_by ON media (uploaded_by);

-- Tombstones may now address one user (who left a team) instead of a whole
-- team, and a team's own tombstone belongs to no installation: rebuilt with
-- `user_id` and a nullable `installation_id`.
CREATE TABLE tombstones_v3 (
    seq             INTEGER PRIMARY KEY,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    team_id         TEXT,
    user_id         TEXT,
    installation_id TEXT
) STRICT;
INSERT INTO tombstones_v3 (seq, entity, entity_id, reason, team_id, installation_id)
    SELECT seq, entity, entity_id, reason, team_id, installation_id FROM tombstones;
DROP TABLE tombstones;
ALTER TABLE tombstones_v3 RENAME TO tombstones;
