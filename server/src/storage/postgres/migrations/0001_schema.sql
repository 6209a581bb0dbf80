-- The server's PostgreSQL schema: the SQLite schema as its migrations
-- 0001..0010 left it (server/src/storage/sqlite/migrations/), with the
-- same tables, columns and meanings, so both backends' statements read
-- alike. Text columns use the "C" collation: they sort and compare
-- byte-wise, as on SQLite (keyset pages, timestamps as RFC 3339 text).
-- Every row change takes the next value of the gap-safe change sequence
-- (change_seq, see storage/postgres/change_seq.rs) into its `seq` column.

CREATE SEQUENCE change_seq AS bigint CACHE 1;
CREATE TABLE change_seq_leases (
    xid   xid8   PRIMARY KEY,
    floor bigint NOT NULL
);

CREATE TABLE users (
    id            text COLLATE "C" PRIMARY KEY,
    username      text COLLATE "C" NOT NULL UNIQUE,
    role          text COLLATE "C" NOT NULL,
    password_hash text COLLATE "C" NOT NULL,
    body          text COLLATE "C" NOT NULL,
    seq           bigint NOT NULL UNIQUE
);

CREATE TABLE teams (
    id   text COLLATE "C" PRIMARY KEY,
    name text COLLATE "C" NOT NULL UNIQUE,
    seq  bigint NOT NULL UNIQUE
);

CREATE TABLE team_members (
    team_id text COLLATE "C" NOT NULL REFERENCES teams (id),
    user_id text COLLATE "C" NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE leads (
    id   text COLLATE "C" PRIMARY KEY,
    body text COLLATE "C" NOT NULL,
    seq  bigint NOT NULL UNIQUE
);

CREATE TABLE surveys (
    id      text COLLATE "C" PRIMARY KEY,
    lead_id text COLLATE "C" NOT NULL REFERENCES leads (id),
    body    text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL UNIQUE
);

-- The console's filters are computed from the stored record (stored
-- generated columns; SQLite's are virtual).
CREATE TABLE installations (
    id                 text COLLATE "C" PRIMARY KEY,
    installation_id    text COLLATE "C" NOT NULL UNIQUE,
    survey_id          text COLLATE "C" NOT NULL UNIQUE REFERENCES surveys (id),
    lead_id            text COLLATE "C" NOT NULL REFERENCES leads (id),
    status             text COLLATE "C" NOT NULL,
    scheduled_date     text COLLATE "C" NOT NULL,
    created_by         text COLLATE "C" NOT NULL REFERENCES users (id),
    body               text COLLATE "C" NOT NULL,
    seq                bigint NOT NULL UNIQUE,
    material_ready     bigint GENERATED ALWAYS AS
        (CASE WHEN body::jsonb -> 'material_ready' = 'true'::jsonb THEN 1 ELSE 0 END) STORED,
    customer_confirmed bigint GENERATED ALWAYS AS
        (CASE WHEN body::jsonb -> 'customer_confirmed' = 'true'::jsonb THEN 1 ELSE 0 END) STORED,
    demo_completed     bigint GENERATED ALWAYS AS
        (CASE WHEN body::jsonb -> 'demo_completed' = 'true'::jsonb THEN 1 ELSE 0 END) STORED,
    needs_review       bigint GENERATED ALWAYS AS
        (CASE WHEN coalesce(body::jsonb -> 'ops_review_note', 'null'::jsonb) <> 'null'::jsonb
              THEN 1 ELSE 0 END) STORED,
    updated_at         text COLLATE "C" GENERATED ALWAYS AS (body::jsonb ->> 'updated_at') STORED
);
CREATE INDEX installations_status ON installations (status);
CREATE INDEX installations_scheduled_date ON installations (scheduled_date);
CREATE INDEX installations_lead ON installations (lead_id);
CREATE INDEX installations_created_by ON installations (created_by);
CREATE INDEX installations_date_id ON installations (scheduled_date, id);
CREATE INDEX installations_updated_id ON installations (updated_at, id);
CREATE INDEX installations_status_date ON installations (status, scheduled_date, id);
CREATE INDEX installations_needs_review ON installations (id) WHERE needs_review = 1;

-- INS-YYYY-NNNNNN: last number handed out per year.
CREATE TABLE installation_id_counters (
    year bigint PRIMARY KEY,
    last bigint NOT NULL
);

CREATE TABLE assignments (
    id              text COLLATE "C" PRIMARY KEY,
    installation_id text COLLATE "C" NOT NULL REFERENCES installations (id),
    team_id         text COLLATE "C" NOT NULL REFERENCES teams (id),
    status          text COLLATE "C" NOT NULL,
    body            text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL UNIQUE,
    assigned_by     text COLLATE "C"
);
CREATE INDEX assignments_installation ON assignments (installation_id, status);
CREATE INDEX assignments_team ON assignments (team_id, status);
CREATE INDEX assignments_assigned_by ON assignments (assigned_by);

CREATE TABLE reports (
    id                     text COLLATE "C" PRIMARY KEY,
    installation_id        text COLLATE "C" NOT NULL UNIQUE REFERENCES installations (id),
    body                   text COLLATE "C" NOT NULL,
    received_at            text COLLATE "C" NOT NULL,
    seq                    bigint NOT NULL UNIQUE,
    signature_sha256       text COLLATE "C",
    signature_blob_present bigint NOT NULL DEFAULT 1,
    submitted_by           text COLLATE "C",
    sent_back_at           text COLLATE "C"
);
CREATE INDEX reports_awaiting_signature ON reports (id) WHERE signature_blob_present = 0;
CREATE INDEX reports_submitted_by ON reports (submitted_by);
CREATE INDEX reports_received ON reports (received_at);

-- Append-only, like installation_history: the trigger refuses updates and deletes.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TABLE report_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event           text COLLATE "C" NOT NULL,
    report_id       text COLLATE "C" NOT NULL,
    installation_id text COLLATE "C" NOT NULL,
    received_at     text COLLATE "C" NOT NULL,
    device_id       text COLLATE "C" NOT NULL,
    user_id         text COLLATE "C" NOT NULL,
    mutation_id     text COLLATE "C" NOT NULL,
    content_hash    text COLLATE "C" NOT NULL,
    note            text COLLATE "C",
    earlier_body    text COLLATE "C"
);
CREATE INDEX report_events_installation ON report_events (installation_id);
CREATE TRIGGER report_events_append_only BEFORE UPDATE OR DELETE ON report_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE media (
    id              text COLLATE "C" PRIMARY KEY,
    installation_id text COLLATE "C" NOT NULL REFERENCES installations (id),
    sha256          text COLLATE "C" NOT NULL,
    body            text COLLATE "C" NOT NULL,
    received_at     text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL UNIQUE,
    blob_present    bigint NOT NULL DEFAULT 0,
    uploaded_by     text COLLATE "C"
);
CREATE INDEX media_installation ON media (installation_id);
CREATE INDEX media_awaiting_blob ON media (id) WHERE blob_present = 0;
CREATE INDEX media_uploaded_by ON media (uploaded_by);

CREATE TABLE tombstones (
    seq             bigint PRIMARY KEY,
    entity          text COLLATE "C" NOT NULL,
    entity_id       text COLLATE "C" NOT NULL,
    reason          text COLLATE "C" NOT NULL,
    team_id         text COLLATE "C",
    user_id         text COLLATE "C",
    installation_id text COLLATE "C"
);

CREATE TABLE sessions (
    token_hash     text COLLATE "C" PRIMARY KEY,
    user_id        text COLLATE "C" NOT NULL REFERENCES users (id),
    created_at     text COLLATE "C" NOT NULL,
    expires_at     text COLLATE "C" NOT NULL,
    revoked_at     text COLLATE "C",
    device_id      text COLLATE "C",
    wipe_device_id text COLLATE "C"
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_device ON sessions (device_id) WHERE device_id IS NOT NULL;
CREATE INDEX sessions_wipe_device ON sessions (wipe_device_id) WHERE wipe_device_id IS NOT NULL;

CREATE TABLE login_attempts (
    username     text COLLATE "C" NOT NULL,
    source       text COLLATE "C" NOT NULL,
    attempts     bigint NOT NULL,
    window_start text COLLATE "C" NOT NULL,
    locked_until text COLLATE "C",
    PRIMARY KEY (username, source)
);
CREATE INDEX login_attempts_by_window ON login_attempts (window_start);

CREATE TABLE login_known_sources (
    username        text COLLATE "C" NOT NULL,
    source          text COLLATE "C" NOT NULL,
    last_success_at text COLLATE "C" NOT NULL,
    PRIMARY KEY (username, source)
);
CREATE INDEX login_known_sources_by_last_success ON login_known_sources (last_success_at);

CREATE TABLE devices (
    device_id         text COLLATE "C" PRIMARY KEY,
    user_id           text COLLATE "C" NOT NULL REFERENCES users (id),
    last_seq          bigint NOT NULL,
    first_seen        text COLLATE "C" NOT NULL,
    last_seen_at      text COLLATE "C",
    app_version       text COLLATE "C",
    pending_changes   bigint,
    revoked_at        text COLLATE "C",
    wipe_kind         text COLLATE "C",
    wipe_ordered_at   text COLLATE "C",
    wipe_confirmation text COLLATE "C",
    wipe_confirmed_at text COLLATE "C"
);
CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE mutations (
    mutation_id  text COLLATE "C" PRIMARY KEY,
    device_id    text COLLATE "C" NOT NULL,
    device_seq   bigint NOT NULL,
    user_id      text COLLATE "C" NOT NULL,
    kind         text COLLATE "C" NOT NULL,
    base_version bigint,
    result       text COLLATE "C" NOT NULL,
    received_at  text COLLATE "C" NOT NULL
);

-- Free-text search: the same text per installation as SQLite's FTS5 index
-- (INS id, customer, address, postcode, charger serial), matched word by
-- word as prefixes with a text search query (storage/postgres/ops_list.rs).
CREATE VIEW installation_search_source AS
SELECT i.id AS installation_id,
       i.installation_id
         || ' ' || coalesce(l.body::jsonb ->> 'customer_name', '')
         || ' ' || coalesce(l.body::jsonb ->> 'address_line1', '')
         || ' ' || coalesce(l.body::jsonb ->> 'address_line2', '')
         || ' ' || coalesce(l.body::jsonb ->> 'city', '')
         || ' ' || coalesce(l.body::jsonb ->> 'postcode', '')
         || ' ' || coalesce(r.body::jsonb ->> 'charger_serial_number', '') AS text
FROM installations i
JOIN leads l ON l.id = i.lead_id
LEFT JOIN reports r ON r.installation_id = i.id;

CREATE TABLE installation_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    installation_id text COLLATE "C" NOT NULL,
    at              text COLLATE "C" NOT NULL,
    actor_id        text COLLATE "C",
    kind            text COLLATE "C" NOT NULL,
    from_value      text COLLATE "C",
    to_value        text COLLATE "C" NOT NULL,
    assignment_id   text COLLATE "C",
    team_id         text COLLATE "C",
    is_primary      bigint,
    reason          text COLLATE "C"
);
CREATE INDEX installation_history_installation ON installation_history (installation_id, id);
CREATE TRIGGER installation_history_append_only BEFORE UPDATE OR DELETE ON installation_history
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE held_work (
    id                text COLLATE "C" PRIMARY KEY,
    installation_id   text COLLATE "C" NOT NULL REFERENCES installations (id),
    submitted_by      text COLLATE "C" NOT NULL REFERENCES users (id),
    device_id         text COLLATE "C" NOT NULL,
    because           text COLLATE "C" NOT NULL,
    status            text COLLATE "C" NOT NULL,
    first_received_at text COLLATE "C" NOT NULL,
    last_received_at  text COLLATE "C" NOT NULL,
    decided_by        text COLLATE "C" REFERENCES users (id),
    decided_at        text COLLATE "C",
    decision_reason   text COLLATE "C",
    seq               bigint NOT NULL UNIQUE
);
CREATE INDEX held_work_installation ON held_work (installation_id);
CREATE INDEX held_work_status ON held_work (status);
CREATE INDEX held_work_submitted_by ON held_work (submitted_by, seq);
CREATE UNIQUE INDEX held_work_one_open ON held_work (installation_id, submitted_by)
    WHERE status = 'waiting';

-- `arrival` keeps arrival order (SQLite's rowid).
CREATE TABLE held_mutations (
    mutation_id  text COLLATE "C" PRIMARY KEY,
    held_work_id text COLLATE "C" NOT NULL REFERENCES held_work (id),
    kind         text COLLATE "C" NOT NULL,
    payload      text COLLATE "C" NOT NULL,
    received_at  text COLLATE "C" NOT NULL,
    media_id     text COLLATE "C",
    arrival      bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX held_mutations_work ON held_mutations (held_work_id);
CREATE INDEX held_mutations_media ON held_mutations (media_id) WHERE media_id IS NOT NULL;

CREATE TABLE report_templates (
    id           text COLLATE "C" NOT NULL,
    version      bigint NOT NULL CHECK (version >= 1),
    body         text COLLATE "C" NOT NULL,
    published_at text COLLATE "C" NOT NULL,
    published_by text COLLATE "C" REFERENCES users (id),
    seq          bigint NOT NULL UNIQUE,
    PRIMARY KEY (id, version)
);

CREATE TABLE report_certificates (
    installation_id     text COLLATE "C" PRIMARY KEY REFERENCES installations (id),
    report_id           text COLLATE "C" NOT NULL,
    report_content_hash text COLLATE "C" NOT NULL,
    sha256              text COLLATE "C" NOT NULL,
    size                bigint NOT NULL CHECK (size >= 0),
    made_at             text COLLATE "C" NOT NULL, -- device time
    received_at         text COLLATE "C" NOT NULL,
    uploaded_by         text COLLATE "C" NOT NULL REFERENCES users (id)
);
CREATE INDEX report_certificates_sha256 ON report_certificates (sha256);
