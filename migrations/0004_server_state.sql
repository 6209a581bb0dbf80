-- What the server last said about the fields technician mutations change.
-- Local rows show the server's state with the pending mutations re-applied
-- on top; when a mutation is refused (or acknowledged), the device rebuilds
-- that view from here. Without it, a refused move would stay on screen for
-- good: a refusal changes nothing on the server, so no pull brings the row
-- back. NULL: not known (the row had unsent changes when this was added);
-- the next pull of the row fills it.
ALTER TABLE installations ADD COLUMN server_status TEXT;
ALTER TABLE installations ADD COLUMN server_material_ready INTEGER;
ALTER TABLE installations ADD COLUMN server_customer_confirmed INTEGER;
ALTER TABLE installations ADD COLUMN server_demo_completed INTEGER;
ALTER TABLE installations ADD COLUMN server_updated_at TEXT;
ALTER TABLE installations ADD COLUMN server_status_reason TEXT;
ALTER TABLE installation_assignments ADD COLUMN server_status TEXT;
ALTER TABLE installation_assignments ADD COLUMN server_decline_reason TEXT;
ALTER TABLE installation_assignments ADD COLUMN server_responded_at TEXT;

UPDATE installations
SET server_status = status, server_material_ready = material_ready,
    server_customer_confirmed = customer_confirmed, server_demo_completed = demo_completed,
    server_updated_at = updated_at, server_status_reason = status_reason
WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.installation_id = installations.id);

UPDATE installation_assignments
SET server_status = status, server_decline_reason = decline_reason,
    server_responded_at = responded_at
WHERE NOT EXISTS (SELECT 1 FROM outbox o
                  WHERE o.installation_id = installation_assignments.installation_id
                    AND o.kind IN ('assignment.respond', 'report.submit'));
