-- Report templates (issue 12): every published version of every template.
-- A version never changes once published; publishing a changed template adds
-- the next version. The built-in default template's version 1 is not stored
-- (both the server and the app have it compiled in).
CREATE TABLE report_templates (
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    body         TEXT    NOT NULL,
    published_at TEXT    NOT NULL,
    published_by TEXT    REFERENCES users (id),
    seq          INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (id, version)
) STRICT;
