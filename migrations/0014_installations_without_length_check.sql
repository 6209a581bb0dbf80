-- `installations` again, without `CHECK (length(installation_id) <= 20)`.
--
-- Why: a pull page writes its jobs with multi-row statements
-- (crates/store/src/multi_row.rs). SQLite keeps a statement journal (a copy
-- of every page the statement touches) for a multi-row statement that may
-- abort half-way, and it counts any function call in a CHECK as able to
-- abort. That check alone cost a first sync of 10,000 jobs a quarter of its
-- installation writes. The number's format (`INS-YYYY-NNNNNN`, 15
-- characters) is enforced where it is parsed (fieldbook_domain's
-- `InstallationId`), and the store never writes a number it has not parsed;
-- the displaced job's stand-in (`displaced-<rowid>`) is shorter too.
--
-- SQLite cannot drop a CHECK in place, so this is its documented table
-- rebuild: new table, copy, drop, rename. The migration runner turns
-- foreign keys off around it (otherwise the DROP would delete every report
-- draft, report, photo and certificate through their ON DELETE CASCADE) and
-- runs `PRAGMA foreign_key_check` before it commits.
--
-- The rowid is copied: `installation_search` is keyed by it.

CREATE TABLE installations_rebuilt (
    id                  TEXT PRIMARY KEY,
    installation_id     TEXT    NOT NULL UNIQUE,
    survey_id           TEXT    NOT NULL UNIQUE, -- spec: OneToOne(Survey)
    lead_id             TEXT    NOT NULL,
    scheduled_date      TEXT    NOT NULL,
    scheduled_time_slot TEXT    NOT NULL
        CHECK (scheduled_time_slot IN ('morning', 'afternoon', 'evening', 'full_day')),
    status              TEXT    NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'material_pending', 'material_ready', 'confirmed',
                          'in_progress', 'completed', 'report_submitted', 'closed',
                          'rescheduled', 'cancelled')),
    material_ready      INTEGER NOT NULL DEFAULT 0,
    customer_confirmed  INTEGER NOT NULL DEFAULT 0,
    demo_completed      INTEGER NOT NULL DEFAULT 0,
    created_by          TEXT    NOT NULL,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    status_reason       TEXT,
    ops_review_note     TEXT,
    server_version      INTEGER NOT NULL,
    -- The day's order of the time slots (text order would put afternoon first).
    slot_order          INTEGER GENERATED ALWAYS AS (
        CASE scheduled_time_slot
            WHEN 'morning' THEN 1 WHEN 'afternoon' THEN 2
            WHEN 'evening' THEN 3 ELSE 4 END) VIRTUAL,
    left_scope_at             TEXT,
    server_status             TEXT,
    server_material_ready     INTEGER,
    server_customer_confirmed INTEGER,
    server_demo_completed     INTEGER,
    server_updated_at         TEXT,
    server_status_reason      TEXT,
    displaced_number          TEXT,
    report_template_id        TEXT
);

INSERT INTO installations_rebuilt (
    rowid, id, installation_id, survey_id, lead_id, scheduled_date,
    scheduled_time_slot, status, material_ready, customer_confirmed,
    demo_completed, created_by, created_at, updated_at, status_reason,
    ops_review_note, server_version, left_scope_at, server_status,
    server_material_ready, server_customer_confirmed, server_demo_completed,
    server_updated_at, server_status_reason, displaced_number, report_template_id)
SELECT
    rowid, id, installation_id, survey_id, lead_id, scheduled_date,
    scheduled_time_slot, status, material_ready, customer_confirmed,
    demo_completed, created_by, created_at, updated_at, status_reason,
    ops_review_note, server_version, left_scope_at, server_status,
    server_material_ready, server_customer_confirmed, server_demo_completed,
    server_updated_at, server_status_reason, displaced_number, report_template_id
FROM installations;

-- Drops its indexes and its trigger with it.
DROP TABLE installations;
ALTER TABLE installations_rebuilt RENAME TO installations;

-- status first (the spec's status index), then the list order, so "all
-- confirmed jobs by date" reads the first page straight off the index.
CREATE INDEX installations_status
    ON installations (status, scheduled_date, slot_order, installation_id);
CREATE INDEX installations_scheduled ON installations (scheduled_date, slot_order, installation_id);
CREATE INDEX installations_lead ON installations (lead_id);
-- A first sync cut short may have left the two schedule indexes to be
-- built at the next open (rows/deferred_indexes.rs): they are built now.
DELETE FROM deferred_indexes WHERE name IN ('installations_status', 'installations_scheduled');

CREATE TRIGGER installation_search_delete AFTER DELETE ON installations
BEGIN
    DELETE FROM installation_search WHERE installation_rowid = old.rowid;
END;
