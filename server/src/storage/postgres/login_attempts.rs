//! The login throttle's counters (table `login_attempts`, see its migration).
//!
//! An attempt is reserved before its password is checked, in the same write
//! transaction that checks the lock. SQLite's single writer makes check and
//! count one step; here a transaction advisory lock per username does, so
//! parallel guesses through any instance are counted one after the other.

use chrono::{DateTime, Duration, Utc};

use super::{parse_timestamp, timestamp, PgTx};
use crate::storage::{LoginAttemptWrites, LoginLimit, LoginLimits, StorageError};

/// The `source` of the per-account backstop row.
const ALL_SOURCES: &str = "*";

/// How long an address that signed in stays exempt from the per-account
/// backstop after its last successful login.
const KNOWN_SOURCE_FOR_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy)]
struct Counter {
    attempts: u32,
    window_start: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

impl LoginAttemptWrites for PgTx<'_> {
    fn reserve_login_attempt(
        &mut self,
        username: &str,
        source: &str,
        limits: &LoginLimits,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        self.db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&username],
        )?;
        self.forget_old_login_attempts(limits)?;
        let now = self.now;
        let mut counters = Vec::with_capacity(2);
        let mut locked_until: Option<DateTime<Utc>> = None;
        // An address this account signed in from is held to its own limit
        // only: strangers' guesses, which feed the backstop, cannot lock it.
        let mut keys = vec![(source, limits.per_source)];
        if !self.known_login_source(username, source)? {
            keys.push((ALL_SOURCES, limits.per_account));
        }
        for (source, limit) in keys {
            let counter = self.login_counter(username, source, &limit)?;
            let lock = match counter.locked_until {
                Some(until) => Some(until),
                None if counter.attempts >= limit.max_attempts => {
                    let until = now + limit.lockout;
                    let locked = Counter {
                        attempts: 0,
                        window_start: now,
                        locked_until: Some(until),
                    };
                    self.save_login_counter(username, source, &locked)?;
                    Some(until)
                }
                None => None,
            };
            locked_until = locked_until.max(lock);
            counters.push((source, counter));
        }
        if locked_until.is_some() {
            return Ok(locked_until);
        }
        for (source, mut counter) in counters {
            counter.attempts += 1;
            self.save_login_counter(username, source, &counter)?;
        }
        Ok(None)
    }

    fn release_login_attempt(&mut self, username: &str, source: &str) -> Result<(), StorageError> {
        self.db.execute(
            "DELETE FROM login_attempts WHERE username = $1 AND source = $2",
            &[&username, &source],
        )?;
        self.db.execute(
            "UPDATE login_attempts SET attempts = GREATEST(attempts - 1, 0) \
             WHERE username = $1 AND source = $2",
            &[&username, &ALL_SOURCES],
        )?;
        self.db.execute(
            "INSERT INTO login_known_sources (username, source, last_success_at) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (username, source) DO UPDATE SET last_success_at = excluded.last_success_at",
            &[&username, &source, &timestamp(self.now)],
        )?;
        Ok(())
    }
}

impl PgTx<'_> {
    /// Whether `username` signed in from `source` within the last
    /// [`KNOWN_SOURCE_FOR_DAYS`] days.
    fn known_login_source(&self, username: &str, source: &str) -> Result<bool, StorageError> {
        let since = timestamp(self.now - Duration::days(KNOWN_SOURCE_FOR_DAYS));
        Ok(self
            .db
            .row(
                "SELECT 1 FROM login_known_sources \
                 WHERE username = $1 AND source = $2 AND last_success_at >= $3",
                &[&username, &source, &since],
            )?
            .is_some())
    }

    /// The counter as it stands now: an ended lock or window starts afresh.
    fn login_counter(
        &self,
        username: &str,
        source: &str,
        limit: &LoginLimit,
    ) -> Result<Counter, StorageError> {
        let fresh = Counter {
            attempts: 0,
            window_start: self.now,
            locked_until: None,
        };
        let row: Option<(i64, String, Option<String>)> = self
            .db
            .row(
                "SELECT attempts, window_start, locked_until FROM login_attempts \
                 WHERE username = $1 AND source = $2",
                &[&username, &source],
            )?
            .map(|r| Ok::<_, StorageError>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()?;
        let Some((attempts, window_start, locked_until)) = row else {
            return Ok(fresh);
        };
        let window_start = parse_timestamp(&window_start)?;
        let locked_until = locked_until.map(|s| parse_timestamp(&s)).transpose()?;
        Ok(match locked_until {
            Some(until) if until > self.now => Counter {
                attempts: 0,
                window_start,
                locked_until: Some(until),
            },
            Some(_) => fresh,
            None if window_start + limit.window <= self.now => fresh,
            None => Counter {
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                window_start,
                locked_until: None,
            },
        })
    }

    fn save_login_counter(
        &mut self,
        username: &str,
        source: &str,
        counter: &Counter,
    ) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT INTO login_attempts (username, source, attempts, window_start, locked_until) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (username, source) DO UPDATE SET attempts = excluded.attempts, \
               window_start = excluded.window_start, locked_until = excluded.locked_until",
            &[
                &username,
                &source,
                &i64::from(counter.attempts),
                &timestamp(counter.window_start),
                &counter.locked_until.map(timestamp),
            ],
        )?;
        Ok(())
    }

    /// Drops counters whose window and lock have both ended (they mean the
    /// same as no row), so guesses at ever new usernames do not pile up.
    fn forget_old_login_attempts(&mut self, limits: &LoginLimits) -> Result<(), StorageError> {
        let longest = |a: Duration, b: Duration| a.max(b);
        // A lock starts with its window, so window + lockout covers both.
        let kept_for = longest(limits.per_source.window, limits.per_account.window)
            + longest(limits.per_source.lockout, limits.per_account.lockout);
        self.db.execute(
            "DELETE FROM login_attempts WHERE window_start < $1",
            &[&timestamp(self.now - kept_for)],
        )?;
        self.db.execute(
            "DELETE FROM login_known_sources WHERE last_success_at < $1",
            &[&timestamp(self.now - Duration::days(KNOWN_SOURCE_FOR_DAYS))],
        )?;
        Ok(())
    }
}
