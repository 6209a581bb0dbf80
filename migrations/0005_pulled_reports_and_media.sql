-- Reports and media now also arrive from the server (submitted or attached
-- on a team-mate's device), so a row no longer implies a local file.
--
-- *_on_device: the bytes are in this device's media store. Rows created here
-- always have them; a pulled row has them only if the same content is
-- already here (content-addressed). The UI shows "on server" otherwise, and
-- nothing queues such a row for upload.
-- *_on_server: the server said it has the bytes (NULL: not told yet; rows
-- created here learn it from the next pull of the row).
ALTER TABLE installation_media ADD COLUMN file_on_device INTEGER NOT NULL DEFAULT 1;
ALTER TABLE installation_media ADD COLUMN file_on_server INTEGER;
ALTER TABLE installation_reports ADD COLUMN signature_on_device INTEGER NOT NULL DEFAULT 1;
ALTER TABLE installation_reports ADD COLUMN signature_on_server INTEGER;

-- The server keeps one report per installation. When another device's
-- report won, this device's draft (or its own not-accepted report, turned
-- back into a draft) is kept, read-only, and names the report that won, so
-- the technician sees what they typed and dismisses it themselves. NULL:
-- an ordinary draft.
ALTER TABLE report_drafts ADD COLUMN superseded_by_report TEXT;
ALTER TABLE report_drafts ADD COLUMN superseded_at TEXT;

-- Pull pages come in change order, so a report or photo can arrive a page
-- before its installation (e.g. the installation changed after the report
-- was submitted). Their tables reference installations, so such rows wait
-- here (serde JSON of the store's ServerReport / ServerMedia) and are placed
-- by the page that brings the installation.
CREATE TABLE pulled_awaiting_installation (
    entity          TEXT    NOT NULL CHECK (entity IN ('report', 'media')),
    id              TEXT    NOT NULL,
    installation_id TEXT    NOT NULL,
    server_version  INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    PRIMARY KEY (entity, id)
) WITHOUT ROWID;
CREATE INDEX pulled_awaiting_installation_installation
    ON pulled_awaiting_installation (installation_id);
