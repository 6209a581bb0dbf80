-- Whether a record's blob had reached the server when the record was last
-- versioned. The blob watcher flips it (with a new version) when the bytes
-- land, so devices that pulled the record while it was "awaiting blob" pull
-- it again.
ALTER TABLE media ADD COLUMN blob_present INTEGER NOT NULL DEFAULT 0;
CREATE INDEX media_awaiting_blob ON media (id) WHERE blob_present = 0;

-- 1 when the report has no signature image.
ALTER TABLE reports ADD COLUMN signature_sha256 TEXT;
ALTER TABLE reports ADD COLUMN signature_blob_present INTEGER NOT NULL DEFAULT 1;
CREATE INDEX reports_awaiting_signature ON reports (id) WHERE signature_blob_present = 0;
