-- Media encrypted at rest: a row here records that every file in the media
-- folder is stored encrypted (the folder started encrypted, or the
-- conversion of the files an older version left plain finished). Without
-- it, the next encrypted start reads the head of every media file once and
-- encrypts the plain ones; with it, a start reads none, so its cost does
-- not grow with the number of photos. Opening the folder without the media
-- key (tools, tests) deletes the row: files written then are plain.
CREATE TABLE media_encrypted (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    recorded_at TEXT    NOT NULL
);
