-- Installations the server tombstoned (they left this device's scope: the
-- job was reassigned or the assignment withdrawn) while they still held work
-- the server had not received. They stay on the device so nothing typed is
-- lost, and carry the time they left so the UI can say so instead of showing
-- them as ordinary jobs. NULL: in scope.
ALTER TABLE installations ADD COLUMN left_scope_at TEXT;
