//! The login throttle's counters.
//!
//! An attempt is reserved before its password is checked, in the same write
//! transaction that checks the lock: check and count are one step, so
//! parallel guesses are counted one after the other.

use chrono::{DateTime, Duration, Utc};

use super::StorageError;

/// How many attempts one key allows within a window, and how long it is
/// locked once they are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    pub max_attempts: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// The two limits every login attempt passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Per account and source address.
    pub per_source: LoginLimit,
    /// Per account over all addresses: the slower backstop.
    pub per_account: LoginLimit,
}

pub trait LoginAttemptWrites {
    /// Counts an attempt to log in as `username` from `source`, before its
    /// password is checked. Returns when the lock ends if the attempt may not
    /// go ahead (then nothing is counted).
    fn reserve_login_attempt(
        &mut self,
        username: &str,
        source: &str,
        limits: &LoginLimits,
    ) -> Result<Option<DateTime<Utc>>, StorageError>;

    /// A login succeeded: its address starts afresh for this account, and
    /// its attempt no longer counts against the account.
    fn release_login_attempt(&mut self, username: &str, source: &str) -> Result<(), StorageError>;
}
