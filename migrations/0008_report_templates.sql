-- Report templates (issue 12): which photos and commissioning test results a
-- job needs, pulled from the server. Every version is kept: a draft or report
-- is checked against the version it was filled against, whatever is newest.
-- The built-in default template (version 1) is not stored: the app has it.
CREATE TABLE report_templates (
    id             TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    body           TEXT    NOT NULL, -- the ReportTemplate as JSON
    server_version INTEGER NOT NULL,
    PRIMARY KEY (id, version)
) WITHOUT ROWID;

-- The template ops chose for a job (NULL: the default template).
ALTER TABLE installations ADD COLUMN report_template_id TEXT;

-- The template a draft or report is filled against and what it holds: the
-- test results and the photo checklist, as JSON maps (NULL: no template,
-- a draft or report from before templates).
ALTER TABLE report_drafts ADD COLUMN template_id TEXT;
ALTER TABLE report_drafts ADD COLUMN template_version INTEGER;
ALTER TABLE report_drafts ADD COLUMN test_results TEXT;
ALTER TABLE report_drafts ADD COLUMN photo_slots TEXT;
ALTER TABLE installation_reports ADD COLUMN template_id TEXT;
ALTER TABLE installation_reports ADD COLUMN template_version INTEGER;
ALTER TABLE installation_reports ADD COLUMN test_results TEXT;
ALTER TABLE installation_reports ADD COLUMN photo_slots TEXT;
