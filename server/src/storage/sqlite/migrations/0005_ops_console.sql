-- Central Ops console: list filters and search, installation history,
-- device contact details, sessions bound to devices.

-- Filters the console's installation list uses, computed from the stored
-- record (virtual: nothing to keep in step, indexable).
ALTER TABLE installations ADD COLUMN material_ready INTEGER
    GENERATED ALWAYS AS (json_extract(body, '$.material_ready')) VIRTUAL;
ALTER TABLE installations ADD COLUMN customer_confirmed INTEGER
    GENERATED ALWAYS AS (json_extract(body, '$.customer_confirmed')) VIRTUAL;
ALTER TABLE installations ADD COLUMN demo_completed INTEGER
    GENERATED ALWAYS AS (json_extract(body, '$.demo_completed')) VIRTUAL;
ALTER TABLE installations ADD COLUMN needs_review INTEGER
    GENERATED ALWAYS AS (json_extract(body, '$.ops_review_note') IS NOT NULL) VIRTUAL;
ALTER TABLE installations ADD COLUMN updated_at TEXT
    GENERATED ALWAYS AS (json_extract(body, '$.updated_at')) VIRTUAL;
-- Keyset pages: every order ends with the id.
CREATE INDEX installations_date_id ON installations (scheduled_date, id);
CREATE INDEX installations_updated_id ON installations (updated_at, id);
CREATE INDEX installations_status_date ON installations (status, scheduled_date, id);
CREATE INDEX installations_needs_review ON installations (id) WHERE needs_review;
CREATE INDEX reports_received ON reports (received_at);

-- Free-text search: one text per installation (INS id, customer, address,
-- postcode, charger serial), indexed by FTS5: every word the user types is
-- matched as a word prefix ("smi" finds Smith, "LS1" finds LS12 4AB), through
-- the index (prefix indexes for 2 and 3 characters). A trigram index would
-- also find infixes, but costs 10x more per search on 10,000 installations.
-- Triggers keep it in step with installations, leads and reports.
CREATE TABLE installation_search_text (
    rowid           INTEGER PRIMARY KEY,
    installation_id TEXT NOT NULL UNIQUE,
    text            TEXT NOT NULL
) STRICT;
CREATE VIRTUAL TABLE installation_search USING fts5 (
    text,
    content = 'installation_search_text',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
CREATE TRIGGER installation_search_text_ai AFTER INSERT ON installation_search_text BEGIN
    INSERT INTO installation_search (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER installation_search_text_au AFTER UPDATE OF text ON installation_search_text
WHEN old.text IS NOT new.text BEGIN
    INSERT INTO installation_search (installation_search, rowid, text)
        VALUES ('delete', old.rowid, old.text);
    INSERT INTO installation_search (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER installation_search_text_ad AFTER DELETE ON installation_search_text BEGIN
    INSERT INTO installation_search (installation_search, rowid, text)
        VALUES ('delete', old.rowid, old.text);
END;

CREATE VIEW installation_search_source AS
SELECT i.id AS installation_id,
       i.installation_id
         || ' ' || coalesce(json_extract(l.body, '$.customer_name'), '')
         || ' ' || coalesce(json_extract(l.body, '$.address_line1'), '')
         || ' ' || coalesce(json_extract(l.body, '$.address_line2'), '')
         || ' ' || coalesce(json_extract(l.body, '$.city'), '')
         || ' ' || coalesce(json_extract(l.body, '$.postcode'), '')
         || ' ' || coalesce(json_extract(r.body, '$.charger_serial_number'), '') AS text
FROM installations i
JOIN leads l ON l.id = i.lead_id
LEFT JOIN reports r ON r.installation_id = i.id;

CREATE TRIGGER installations_search_ai AFTER INSERT ON installations BEGIN
    INSERT INTO installation_search_text (installation_id, text)
        SELECT installation_id, text FROM installation_search_source
        WHERE installation_id = new.id
    ON CONFLICT (installation_id) DO UPDATE SET text = excluded.text;
END;
CREATE TRIGGER leads_search_au AFTER UPDATE OF body ON leads BEGIN
    INSERT INTO installation_search_text (installation_id, text)
        SELECT s.installation_id, s.text FROM installation_search_source s
        JOIN installations i ON i.id = s.installation_id
        WHERE i.lead_id = new.id
    ON CONFLICT (installation_id) DO UPDATE SET text = excluded.text;
END;
CREATE TRIGGER reports_search_ai AFTER INSERT ON reports BEGIN
    INSERT INTO installation_search_text (installation_id, text)
        SELECT installation_id, text FROM installation_search_source
        WHERE installation_id = new.installation_id
    ON CONFLICT (installation_id) DO UPDATE SET text = excluded.text;
END;
CREATE TRIGGER reports_search_au AFTER UPDATE OF body ON reports BEGIN
    INSERT INTO installation_search_text (installation_id, text)
        SELECT installation_id, text FROM installation_search_source
        WHERE installation_id = new.installation_id
    ON CONFLICT (installation_id) DO UPDATE SET text = excluded.text;
END;
INSERT INTO installation_search_text (installation_id, text)
    SELECT installation_id, text FROM installation_search_source;

-- Who changed an installation's status or assignments, when and why.
-- Append-only, like report_events.
CREATE TABLE installation_history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    installation_id TEXT NOT NULL,
    at              TEXT NOT NULL,
    actor_id        TEXT,
    kind            TEXT NOT NULL,
    from_value      TEXT,
    to_value        TEXT NOT NULL,
    assignment_id   TEXT,
    team_id         TEXT,
    is_primary      INTEGER,
    reason          TEXT
) STRICT;
CREATE INDEX installation_history_installation ON installation_history (installation_id, id);
CREATE TRIGGER installation_history_no_update BEFORE UPDATE ON installation_history
BEGIN SELECT RAISE(ABORT, 'installation_history is append-only'); END;
CREATE TRIGGER installation_history_no_delete BEFORE DELETE ON installation_history
BEGIN SELECT RAISE(ABORT, 'installation_history is append-only'); END;
-- What is known of installations that existed before the history was kept:
-- their creation and their assignments (current state).
INSERT INTO installation_history (installation_id, at, actor_id, kind, to_value)
    SELECT id, coalesce(json_extract(body, '$.created_at'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
           created_by, 'created', status
    FROM installations;
INSERT INTO installation_history
        (installation_id, at, actor_id, kind, to_value, assignment_id, team_id, is_primary)
    SELECT installation_id,
           coalesce(json_extract(body, '$.assigned_at'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
           assigned_by, 'assigned',
           status, id, team_id, json_extract(body, '$.is_primary')
    FROM assignments;

-- What ops see of each device: last contact, app version, pending changes
-- (sent by the device in optional headers), and revocation.
ALTER TABLE devices ADD COLUMN last_seen_at TEXT;
ALTER TABLE devices ADD COLUMN app_version TEXT;
ALTER TABLE devices ADD COLUMN pending_changes INTEGER;
ALTER TABLE devices ADD COLUMN revoked_at TEXT;
CREATE INDEX devices_user ON devices (user_id);

-- The device last seen using a session, so revoking a device ends its
-- sessions.
ALTER TABLE sessions ADD COLUMN device_id TEXT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_device ON sessions (device_id) WHERE device_id IS NOT NULL;
