//! The login throttle's counters (table `login_attempts`, see its migration).
//!
//! An attempt is reserved before its password is checked, in the same write
//! transaction that checks the lock: the single writer makes check and count
//! one step, so parallel guesses are counted one after the other.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};

use super::{parse_timestamp, timestamp, SqliteTx};
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

impl LoginAttemptWrites for SqliteTx<'_> {
    fn reserve_login_attempt(
        &mut self,
        username: &str,
        source: &str,
        limits: &LoginLimits,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
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
        self.tx.execute(
            "DELETE FROM login_attempts WHERE username = ?1 AND source = ?2",
            params![username, source],
        )?;
        self.tx.execute(
            "UPDATE login_attempts SET attempts = MAX(attempts - 1, 0) \
             WHERE username = ?1 AND source = ?2",
            params![username, ALL_SOURCES],
        )?;
        self.tx.execute(
            "INSERT INTO login_known_sources (username, source, last_success_at) \
             VALUES (?1, ?2, ?3) \
             ON CONFLICT (username, source) DO UPDATE SET last_success_at = excluded.last_success_at",
            params![username, source, timestamp(self.now)],
        )?;
        Ok(())
    }
}

impl SqliteTx<'_> {
    /// Whether `username` signed in from `source` within the last
    /// [`KNOWN_SOURCE_FOR_DAYS`] days.
    fn known_login_source(&self, username: &str, source: &str) -> Result<bool, StorageError> {
        let since = timestamp(self.now - Duration::days(KNOWN_SOURCE_FOR_DAYS));
        Ok(self
            .tx
            .prepare_cached(
                "SELECT 1 FROM login_known_sources \
                 WHERE username = ?1 AND source = ?2 AND last_success_at >= ?3",
            )?
            .query_row(params![username, source, since], |_| Ok(()))
            .optional()?
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
            .tx
            .prepare_cached(
                "SELECT attempts, window_start, locked_until FROM login_attempts \
                 WHERE username = ?1 AND source = ?2",
            )?
            .query_row(params![username, source], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
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
        self.tx
            .prepare_cached(
                "INSERT INTO login_attempts (username, source, attempts, window_start, locked_until) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (username, source) DO UPDATE SET attempts = excluded.attempts, \
                   window_start = excluded.window_start, locked_until = excluded.locked_until",
            )?
            .execute(params![
                username,
                source,
                i64::from(counter.attempts),
                timestamp(counter.window_start),
                counter.locked_until.map(timestamp),
            ])?;
        Ok(())
    }

    /// Drops counters whose window and lock have both ended (they mean the
    /// same as no row), so guesses at ever new usernames do not pile up.
    fn forget_old_login_attempts(&mut self, limits: &LoginLimits) -> Result<(), StorageError> {
        let longest = |a: Duration, b: Duration| a.max(b);
        // A lock starts with its window, so window + lockout covers both.
        let kept_for = longest(limits.per_source.window, limits.per_account.window)
            + longest(limits.per_source.lockout, limits.per_account.lockout);
        self.tx
            .prepare_cached("DELETE FROM login_attempts WHERE window_start < ?1")?
            .execute([timestamp(self.now - kept_for)])?;
        self.tx
            .prepare_cached("DELETE FROM login_known_sources WHERE last_success_at < ?1")?
            .execute([timestamp(self.now - Duration::days(KNOWN_SOURCE_FOR_DAYS))])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;

    fn limits() -> LoginLimits {
        LoginLimits {
            per_source: LoginLimit {
                max_attempts: 3,
                window: Duration::minutes(15),
                lockout: Duration::minutes(15),
            },
            per_account: LoginLimit {
                max_attempts: 5,
                window: Duration::hours(1),
                lockout: Duration::minutes(15),
            },
        }
    }

    fn reserve(storage: &Storage, source: &str) -> Option<DateTime<Utc>> {
        storage
            .write(|tx| tx.reserve_login_attempt("tina", source, &limits()))
            .unwrap()
    }

    #[test]
    fn attempts_are_counted_before_the_check_per_source_with_an_account_backstop() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        // Three attempts in flight use up the address's allowance.
        for _ in 0..3 {
            assert_eq!(reserve(&storage, "10.0.0.1"), None);
        }
        assert!(reserve(&storage, "10.0.0.1").is_some());
        // Another address is not affected by the first one's lock...
        assert_eq!(reserve(&storage, "10.0.0.2"), None);
        // ...and a success gives its attempt back to the account.
        storage
            .write(|tx| tx.release_login_attempt("tina", "10.0.0.2"))
            .unwrap();
        // Once it signed in, its attempts no longer feed the backstop.
        assert_eq!(reserve(&storage, "10.0.0.2"), None);
        // 3 attempts count against the account; two more reach 5, then the
        // backstop locks every address that never signed in.
        assert_eq!(reserve(&storage, "10.0.0.3"), None);
        assert_eq!(reserve(&storage, "10.0.0.6"), None);
        assert!(reserve(&storage, "10.0.0.4").is_some());
        assert!(reserve(&storage, "10.0.0.5").is_some());
    }

    #[test]
    fn the_backstop_does_not_lock_out_an_address_that_signed_in_before() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        // Tina signs in from her laptop's address.
        assert_eq!(reserve(&storage, "10.0.0.1"), None);
        storage
            .write(|tx| tx.release_login_attempt("tina", "10.0.0.1"))
            .unwrap();
        // Strangers spread guesses over many addresses until the backstop locks.
        for n in 0..5 {
            assert_eq!(reserve(&storage, &format!("192.0.2.{n}")), None);
        }
        assert!(reserve(&storage, "192.0.2.99").is_some(), "backstop locked");
        // Her own address still gets in, up to its own limit.
        for _ in 0..3 {
            assert_eq!(reserve(&storage, "10.0.0.1"), None);
        }
        assert!(reserve(&storage, "10.0.0.1").is_some(), "per-address limit");
    }

    #[test]
    fn ended_windows_start_afresh_and_old_rows_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        for _ in 0..2 {
            reserve(&storage, "10.0.0.1");
        }
        let long_ago = timestamp(Utc::now() - Duration::days(1));
        // The rows as they are stored, through a connection of the test's own.
        let raw = rusqlite::Connection::open(crate::storage::database_path(dir.path())).unwrap();
        let count = || -> i64 {
            raw.query_row("SELECT COUNT(*) FROM login_attempts", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(), 2);
        raw.execute("UPDATE login_attempts SET window_start = ?1", [&long_ago])
            .unwrap();
        // The next attempt (any user) clears both old rows first.
        storage
            .write(|tx| tx.reserve_login_attempt("tom", "10.0.0.9", &limits()))
            .unwrap();
        assert_eq!(count(), 2, "only tom's two rows remain");
        for _ in 0..3 {
            assert_eq!(reserve(&storage, "10.0.0.1"), None);
        }
    }
}
