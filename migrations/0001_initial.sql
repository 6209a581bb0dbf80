-- Fieldbook desktop store, initial schema.
--
-- Conventions: ids are hyphenated UUID text; timestamps are RFC 3339 UTC text
-- with nanoseconds (fixed width, so they sort as text); dates are YYYY-MM-DD;
-- booleans are 0/1. Server-owned rows carry `server_version`, the server's
-- change sequence the row was read at (the base version of a mutation).
--
-- Server-owned rows reference each other without FOREIGN KEY constraints: a
-- pull page may carry an installation before the lead it points to (rows come
-- in change-sequence order), so enforcing those would break first sync.
-- Rows created on this device (drafts, reports, media) do reference their
-- installation and go with it.

-- This device: its id (generated once) and the last outbox sequence it used.
CREATE TABLE device (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    device_id     TEXT    NOT NULL,
    last_sequence INTEGER NOT NULL DEFAULT 0
);

-- The signed-in technician, so actions know submitted_by / uploaded_by.
CREATE TABLE session (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    user_id      TEXT NOT NULL,
    username     TEXT NOT NULL,
    full_name    TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('ops', 'technician')),
    team_ids     TEXT NOT NULL, -- JSON array of team UUIDs
    signed_in_at TEXT NOT NULL
);

-- Read-only snapshots of the referenced models.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT    NOT NULL,
    full_name      TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('ops', 'technician')),
    server_version INTEGER NOT NULL
);

CREATE TABLE teams (
    id             TEXT PRIMARY KEY,
    name           TEXT    NOT NULL,
    server_version INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id  TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL,
    position INTEGER NOT NULL, -- keeps member_ids in the server's order
    PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE leads (
    id              TEXT PRIMARY KEY,
    customer_name   TEXT    NOT NULL,
    phone           TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    address_line1   TEXT    NOT NULL,
    address_line2   TEXT    NOT NULL,
    city            TEXT    NOT NULL,
    postcode        TEXT    NOT NULL,
    latitude        REAL,
    longitude       REAL,
    installer_notes TEXT    NOT NULL,
    server_version  INTEGER NOT NULL
);

CREATE TABLE surveys (
    id                        TEXT PRIMARY KEY,
    lead_id                   TEXT    NOT NULL,
    approved_at               TEXT    NOT NULL,
    surveyor_notes            TEXT    NOT NULL,
    recommended_charger_model TEXT    NOT NULL,
    main_fuse_amps            INTEGER NOT NULL,
    supply_capacity_kva       REAL    NOT NULL,
    cable_run_length_m        REAL    NOT NULL,
    photos_count              INTEGER NOT NULL,
    server_version            INTEGER NOT NULL
);
CREATE INDEX surveys_lead ON surveys (lead_id);

CREATE TABLE installations (
    id                  TEXT PRIMARY KEY,
    installation_id     TEXT    NOT NULL UNIQUE CHECK (length(installation_id) <= 20),
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
            WHEN 'evening' THEN 3 ELSE 4 END) VIRTUAL
);
-- status first (the spec's status index), then the list order, so "all
-- confirmed jobs by date" reads the first page straight off the index.
CREATE INDEX installations_status
    ON installations (status, scheduled_date, slot_order, installation_id);
CREATE INDEX installations_scheduled ON installations (scheduled_date, slot_order, installation_id);
CREATE INDEX installations_lead ON installations (lead_id);
CREATE INDEX installations_created_by ON installations (created_by);

-- Lower-cased customer name, address, postcode and installation id of each
-- installation (keyed by its rowid), maintained by the store's upserts. The
-- store scans an in-memory copy of this narrow table for text search (see
-- crates/store/src/search.rs): no FTS trigger slowing first sync.
CREATE TABLE installation_search (
    installation_rowid INTEGER PRIMARY KEY,
    search_text        TEXT NOT NULL
);
CREATE TRIGGER installation_search_delete AFTER DELETE ON installations
BEGIN
    DELETE FROM installation_search WHERE installation_rowid = old.rowid;
END;

CREATE TABLE installation_assignments (
    id              TEXT PRIMARY KEY,
    installation_id TEXT    NOT NULL,
    team_id         TEXT    NOT NULL,
    assigned_by     TEXT    NOT NULL,
    is_primary      INTEGER NOT NULL DEFAULT 1,
    assigned_at     TEXT    NOT NULL,
    status          TEXT    NOT NULL
        CHECK (status IN ('assigned', 'accepted', 'declined', 'completed', 'withdrawn')),
    decline_reason  TEXT,
    responded_at    TEXT,
    server_version  INTEGER NOT NULL
);
-- Also serves the list's "which assignment to show" pick without a sort.
CREATE INDEX installation_assignments_installation
    ON installation_assignments (installation_id, is_primary DESC, assigned_at DESC);
CREATE INDEX installation_assignments_team ON installation_assignments (team_id);

-- The report being written on this device (local only, autosaved).
CREATE TABLE report_drafts (
    installation_id         TEXT PRIMARY KEY REFERENCES installations (id) ON DELETE CASCADE,
    charger_serial_number   TEXT    NOT NULL,
    charger_model           TEXT    NOT NULL,
    installation_successful INTEGER, -- NULL until answered
    demo_given              INTEGER NOT NULL,
    issues_encountered      TEXT    NOT NULL,
    general_notes           TEXT    NOT NULL,
    start_override_reason   TEXT,
    -- customer_signature, all NULL until signed
    signature_sha256        TEXT,
    signature_size          INTEGER,
    signature_mime          TEXT,
    signature_strokes       TEXT, -- JSON array of strokes
    signer_name             TEXT,
    signed_at               TEXT,
    signature_content_hash  TEXT,
    updated_at              TEXT    NOT NULL
);

-- Submitted reports: read-only once here.
CREATE TABLE installation_reports (
    id                      TEXT PRIMARY KEY,
    installation_id         TEXT    NOT NULL UNIQUE REFERENCES installations (id) ON DELETE CASCADE,
    submitted_by            TEXT    NOT NULL,
    charger_serial_number   TEXT    NOT NULL CHECK (length(charger_serial_number) <= 50),
    charger_model           TEXT    NOT NULL CHECK (length(charger_model) <= 100),
    installation_successful INTEGER NOT NULL,
    demo_given              INTEGER NOT NULL DEFAULT 0,
    signature_sha256        TEXT,
    signature_size          INTEGER,
    signature_mime          TEXT,
    signature_strokes       TEXT,
    signer_name             TEXT,
    signed_at               TEXT,
    signature_content_hash  TEXT,
    issues_encountered      TEXT    NOT NULL DEFAULT '',
    general_notes           TEXT    NOT NULL DEFAULT '',
    submitted_at            TEXT    NOT NULL,
    start_override_reason   TEXT,
    content_hash            TEXT    NOT NULL,
    server_version          INTEGER -- NULL until the server acknowledged it
);

CREATE TABLE installation_media (
    id              TEXT PRIMARY KEY,
    installation_id TEXT    NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
    media_type      TEXT    NOT NULL CHECK (media_type IN ('photo', 'video')),
    file_sha256     TEXT    NOT NULL,
    file_size       INTEGER NOT NULL,
    file_mime       TEXT    NOT NULL,
    caption         TEXT    NOT NULL DEFAULT '' CHECK (length(caption) <= 255),
    uploaded_by     TEXT    NOT NULL,
    uploaded_at     TEXT    NOT NULL,
    width           INTEGER,
    height          INTEGER,
    server_version  INTEGER -- NULL until the server acknowledged it
);
CREATE INDEX installation_media_installation ON installation_media (installation_id, uploaded_at);

-- Pull cursor per sync scope.
CREATE TABLE sync_state (
    scope      TEXT PRIMARY KEY,
    cursor     INTEGER NOT NULL,
    updated_at TEXT    NOT NULL
);

-- Named mutations waiting to be pushed, in per-device sequence order.
CREATE TABLE outbox (
    mutation_id     TEXT PRIMARY KEY,
    device_id       TEXT    NOT NULL,
    sequence        INTEGER NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    installation_id TEXT, -- which installation it touches, for badges and tombstones
    payload         TEXT    NOT NULL, -- serde JSON of fieldbook_domain::Mutation
    base_version    INTEGER,
    created_at      TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'needs_attention')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX outbox_state_sequence ON outbox (state, sequence);
CREATE INDEX outbox_installation ON outbox (installation_id);

-- Content-addressed files waiting for (or done with) upload.
CREATE TABLE blobs (
    sha256        TEXT PRIMARY KEY,
    size          INTEGER NOT NULL,
    mime          TEXT    NOT NULL,
    local_path    TEXT    NOT NULL,
    upload_state  TEXT    NOT NULL DEFAULT 'pending'
        CHECK (upload_state IN ('pending', 'uploaded')),
    upload_url    TEXT,
    upload_offset INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    uploaded_at   TEXT
);
CREATE INDEX blobs_upload_state ON blobs (upload_state, created_at);
