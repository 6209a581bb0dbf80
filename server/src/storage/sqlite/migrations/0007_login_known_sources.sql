-- Addresses an account has signed in from: the per-account backstop of the
-- login throttle (login_attempts, source '*') does not lock these out, so
-- guesses spread over many strangers' addresses cannot keep a technician
-- out of the laptop they always sign in from. The per-address limit still
-- applies to them. Forgotten a while after the last success.
CREATE TABLE login_known_sources (
    username        TEXT NOT NULL,
    source          TEXT NOT NULL,
    last_success_at TEXT NOT NULL,
    PRIMARY KEY (username, source)
) STRICT;

CREATE INDEX login_known_sources_by_last_success ON login_known_sources (last_success_at);
