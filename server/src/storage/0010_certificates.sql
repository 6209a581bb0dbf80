-- Completion certificates (issue 12): the PDF a technician's device made for
-- a submitted report, announced with `report.certificate`; its bytes arrive
-- on the blob upload path. One per installation: the certificate of the
-- report as it stands (a corrected report's certificate replaces the earlier
-- one; a second device's copy of the same report's certificate does not).
CREATE TABLE report_certificates (
    installation_id     TEXT    PRIMARY KEY REFERENCES installations (id),
    report_id           TEXT    NOT NULL,
    report_content_hash TEXT    NOT NULL,
    sha256              TEXT    NOT NULL,
    size                INTEGER NOT NULL CHECK (size >= 0),
    made_at             TEXT    NOT NULL, -- device time
    received_at         TEXT    NOT NULL,
    uploaded_by         TEXT    NOT NULL REFERENCES users (id)
) STRICT;
CREATE INDEX report_certificates_sha256 ON report_certificates (sha256);
