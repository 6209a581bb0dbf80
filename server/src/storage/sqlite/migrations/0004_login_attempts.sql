-- Login attempts replace login_failures. An attempt is counted when it
-- starts, before the password is checked, in the same transaction as the
-- check of the lock: a burst of parallel guesses cannot all pass a check
-- made before any of them was recorded.
--
-- Counted per account and source address (a stranger who guesses locks out
-- only their own address), and per account over all addresses (source '*'),
-- the slower backstop against guesses spread over many addresses. Keyed by
-- the username as typed, so unknown names are throttled exactly like real
-- ones (no account enumeration through the throttle).
DROP TABLE login_failures;

CREATE TABLE login_attempts (
    username     TEXT NOT NULL,
    source       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT,
    PRIMARY KEY (username, source)
) STRICT;

CREATE INDEX login_attempts_by_window ON login_attempts (window_start);
