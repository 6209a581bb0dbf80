-- Work a technician sent for an installation that had left their scope
-- (assignment withdrawn or reassigned, or they were removed from the team)
-- while they worked offline. It is neither applied nor refused: it waits
-- here for Central Ops to accept it as the installation's report or keep it
-- on record. One open ('waiting') record per technician and installation;
-- the decision (who, when, why) is written once and never changed.
CREATE TABLE held_work (
    id                TEXT PRIMARY KEY,
    installation_id   TEXT NOT NULL REFERENCES installations (id),
    submitted_by      TEXT NOT NULL REFERENCES users (id),
    device_id         TEXT NOT NULL,
    because           TEXT NOT NULL,
    status            TEXT NOT NULL,
    first_received_at TEXT NOT NULL,
    last_received_at  TEXT NOT NULL,
    decided_by        TEXT REFERENCES users (id),
    decided_at        TEXT,
    decision_reason   TEXT,
    seq               INTEGER NOT NULL UNIQUE
) STRICT;
CREATE INDEX held_work_installation ON held_work (installation_id);
CREATE INDEX held_work_status ON held_work (status);
CREATE INDEX held_work_submitted_by ON held_work (submitted_by, seq);
CREATE UNIQUE INDEX held_work_one_open ON held_work (installation_id, submitted_by)
    WHERE status = 'waiting';

-- The mutations a held record holds, in arrival order, as sent.
CREATE TABLE held_mutations (
    mutation_id  TEXT PRIMARY KEY,
    held_work_id TEXT NOT NULL REFERENCES held_work (id),
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    -- The photo / video a media.* mutation is about, so a later caption or
    -- removal of a held photo joins the same record.
    media_id     TEXT
) STRICT;
CREATE INDEX held_mutations_work ON held_mutations (held_work_id);
CREATE INDEX held_mutations_media ON held_mutations (media_id) WHERE media_id IS NOT NULL;

-- Report events made by Central Ops (send back, accept held work) carry a
-- note; a correction keeps the report it replaced. Ops events have no device
-- or mutation: those columns hold '' then.
ALTER TABLE report_events ADD COLUMN note TEXT;
ALTER TABLE report_events ADD COLUMN earlier_body TEXT;

-- Set while a report is sent back to the technician (installation
-- `completed`); cleared when they resubmit.
ALTER TABLE reports ADD COLUMN sent_back_at TEXT;
