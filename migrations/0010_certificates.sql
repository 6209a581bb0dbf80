-- The completion certificate (PDF) made on this device after the report was
-- submitted: the file is a content-addressed blob in the media store.
-- Device-local for now: it is not synced.
CREATE TABLE certificates (
    installation_id     TEXT    PRIMARY KEY REFERENCES installations (id) ON DELETE CASCADE,
    file_sha256         TEXT    NOT NULL,
    file_size           INTEGER NOT NULL,
    -- The report content hash the certificate prints (and its QR code carries).
    report_content_hash TEXT    NOT NULL,
    created_at          TEXT    NOT NULL
) WITHOUT ROWID;
