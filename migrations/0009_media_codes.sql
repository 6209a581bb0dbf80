-- Barcodes and QR codes decoded from a photo when it was attached on this
-- device (the charger's serial label): kept with the photo so the report
-- screen can offer the serial number and model for one-tap confirmation.
-- Device-local: nothing here is synced; removing the photo removes its codes.
CREATE TABLE media_codes (
    media_id TEXT    NOT NULL REFERENCES installation_media (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, -- reading order within the photo
    format   TEXT    NOT NULL CHECK (format IN ('code128', 'code39', 'qr_code', 'data_matrix')),
    text     TEXT    NOT NULL,
    gs1      INTEGER NOT NULL CHECK (gs1 IN (0, 1)),
    PRIMARY KEY (media_id, position)
) WITHOUT ROWID;
