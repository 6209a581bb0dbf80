-- Barcodes and QR codes decoded from a photo attached on this device (the
-- charger's serial label): kept with the photo so the report screen can
-- offer the serial number and model for one-tap confirmation.
-- Device-local: nothing here is synced; removing the photo removes its codes.
CREATE TABLE media_codes (
    media_id TEXT    NOT NULL REFERENCES installation_media (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, -- reading order within the photo
    format   TEXT    NOT NULL CHECK (format IN ('code128', 'code39', 'qr_code', 'data_matrix')),
    text     TEXT    NOT NULL,
    gs1      INTEGER NOT NULL CHECK (gs1 IN (0, 1)),
    PRIMARY KEY (media_id, position)
) WITHOUT ROWID;

-- The label search of each photo attached on this device. The search runs
-- in the background after the import (it can take seconds): a row is queued
-- with the photo, and a restart resumes the searches still waiting.
CREATE TABLE media_label_searches (
    media_id    TEXT    PRIMARY KEY REFERENCES installation_media (id) ON DELETE CASCADE,
    queued_at   TEXT    NOT NULL,
    -- The quick look (first pass) found nothing: the rest of the search is
    -- due. Every waiting photo gets its quick look before any gets the rest.
    quick_done  INTEGER NOT NULL DEFAULT 0 CHECK (quick_done IN (0, 1)),
    searched_at TEXT, -- NULL: still waiting
    -- Every pass ran within the time cap (0: the cap cut the search short).
    complete    INTEGER CHECK (complete IN (0, 1))
) WITHOUT ROWID;
CREATE INDEX media_label_searches_waiting ON media_label_searches (queued_at)
    WHERE searched_at IS NULL;
