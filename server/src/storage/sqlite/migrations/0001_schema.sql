-- The server's SQLite schema. Every row change takes the next value of the
-- global change sequence (meta.change_seq) into its `seq` column; pull reads
-- by `seq`. Domain records are kept whole as JSON in `body`, with the columns
-- that queries filter on alongside.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('change_seq', 0);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    body          TEXT NOT NULL,
    seq           INTEGER NOT NULL UNIQUE
) STRICT;

CREATE TABLE teams (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    seq  INTEGER NOT NULL UNIQUE
) STRICT;

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
) STRICT;
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE leads (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    seq  INTEGER NOT NULL UNIQUE
) STRICT;

CREATE TABLE surveys (
    id      TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL REFERENCES leads (id),
    body    TEXT NOT NULL,
    seq     INTEGER NOT NULL UNIQUE
) STRICT;

CREATE TABLE installations (
    id              TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL UNIQUE,
    survey_id       TEXT NOT NULL UNIQUE REFERENCES surveys (id),
    lead_id         TEXT NOT NULL REFERENCES leads (id),
    status          TEXT NOT NULL,
    scheduled_date  TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (id),
    body            TEXT NOT NULL,
    seq             INTEGER NOT NULL UNIQUE
) STRICT;
CREATE INDEX installations_status ON installations (status);
CREATE INDEX installations_scheduled_date ON installations (scheduled_date);
CREATE INDEX installations_lead ON installations (lead_id);
CREATE INDEX installations_created_by ON installations (created_by);

-- INS-YYYY-NNNNNN: last number handed out per year.
CREATE TABLE installation_id_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
) STRICT;

CREATE TABLE assignments (
    id              TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL REFERENCES installations (id),
    team_id         TEXT NOT NULL REFERENCES teams (id),
    status          TEXT NOT NULL,
    body            TEXT NOT NULL,
    seq             INTEGER NOT NULL UNIQUE
) STRICT;
CREATE INDEX assignments_installation ON assignments (installation_id, status);
CREATE INDEX assignments_team ON assignments (team_id, status);

CREATE TABLE reports (
    id              TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL UNIQUE REFERENCES installations (id),
    body            TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    seq             INTEGER NOT NULL UNIQUE
) STRICT;

-- Append-only: the triggers below refuse updates and deletes.
CREATE TABLE report_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event           TEXT NOT NULL,
    report_id       TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    mutation_id     TEXT NOT NULL,
    content_hash    TEXT NOT NULL
) STRICT;
CREATE INDEX report_events_installation ON report_events (installation_id);
CREATE TRIGGER report_events_no_update BEFORE UPDATE ON report_events
BEGIN SELECT RAISE(ABORT, 'report_events is append-only'); END;
CREATE TRIGGER report_events_no_delete BEFORE DELETE ON report_events
BEGIN SELECT RAISE(ABORT, 'report_events is append-only'); END;

CREATE TABLE media (
    id              TEXT PRIMARY KEY,
    installation_id TEXT NOT NULL REFERENCES installations (id),
    sha256          TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    seq             INTEGER NOT NULL UNIQUE
) STRICT;
CREATE INDEX media_installation ON media (installation_id);

-- Records that went away: deleted for everyone (team_id NULL) or out of one
-- team's scope. installation_id is the installation the record belongs to, so
-- pull can tell whether the record is (back) in the caller's scope.
CREATE TABLE tombstones (
    seq             INTEGER PRIMARY KEY,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    team_id         TEXT,
    installation_id TEXT NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;

-- Keyed by the username as typed, so unknown names are throttled exactly like
-- real ones (no account enumeration through the throttle).
CREATE TABLE login_failures (
    username     TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until TEXT
) STRICT;

CREATE TABLE devices (
    device_id  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    last_seq   INTEGER NOT NULL,
    first_seen TEXT NOT NULL
) STRICT;

-- Every answered mutation, with its stored answer: replays get the same
-- answer and change nothing.
CREATE TABLE mutations (
    mutation_id  TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL,
    device_seq   INTEGER NOT NULL,
    user_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    base_version INTEGER,
    result       TEXT NOT NULL,
    received_at  TEXT NOT NULL
) STRICT;
