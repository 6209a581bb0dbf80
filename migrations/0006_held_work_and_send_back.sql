-- Work the server received for a job that had left this device's scope and
-- keeps for Central Ops to decide on (a `held` push answer). The job stays
-- on the device while such work is here: the technician sees "received,
-- waiting for Central Ops", then the decision, and dismisses it.
CREATE TABLE held_work (
    id              TEXT PRIMARY KEY, -- the server's held record id
    installation_id TEXT    NOT NULL,
    status          TEXT    NOT NULL
        CHECK (status IN ('waiting', 'accepted', 'kept_on_record')),
    message         TEXT    NOT NULL, -- what the server said when it held the work
    decision_reason TEXT,
    decided_at      TEXT,
    received_at     TEXT    NOT NULL,
    server_version  INTEGER           -- NULL until a pull brought the record
);
CREATE INDEX held_work_installation ON held_work (installation_id);

-- A report Central Ops sent back, reopened as this editable draft: the
-- resubmission keeps the report's id (the server replaces the report, one
-- per installation, and keeps the earlier version in its audit log).
ALTER TABLE report_drafts ADD COLUMN reopened_report_id TEXT;
