//! The idle lock: after a while without input, or on the technician's
//! shortcut, the app shows a lock screen that the technician's password
//! unlocks offline. Sync keeps running underneath.
//!
//! The rules live here, the UI only asks:
//! - the password is checked against an argon2id verifier stored at
//!   sign-in (a PHC string with its own salt; never the password);
//! - five wrong tries in a row and only a full sign-in with the server
//!   unlocks (the verifier is forgotten);
//! - while the customer signs, the app is in "customer signing": a restart
//!   or reload in that state opens locked, so killing the window is no way
//!   past the signature pad;
//! - a lock survives a restart (the state is in `app-lock.json`, 0600).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

use crate::error::SyncError;
use crate::files;

/// File name of the lock state in the data dir.
pub const APP_LOCK_FILE: &str = "app-lock.json";

/// Wrong passwords in a row before only a full sign-in unlocks.
pub const MAX_FAILED_UNLOCKS: u32 = 5;

/// Minutes without input before the app locks, unless set otherwise.
pub const DEFAULT_IDLE_LOCK_MINUTES: u32 = 10;

/// The idle times a technician may choose (minutes).
pub const IDLE_LOCK_CHOICES: [u32; 5] = [2, 5, 10, 15, 30];

/// What the UI shows and asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LockStatus {
    pub locked: bool,
    /// The customer holds the laptop: only the signature pad is shown.
    pub customer_signing: bool,
    /// Too many wrong passwords: only signing in with the server unlocks.
    pub must_sign_in: bool,
    /// Wrong passwords in a row so far.
    pub failed_unlocks: u32,
    pub idle_lock_minutes: u32,
    /// A password verifier exists (someone signed in on this version).
    pub can_unlock_offline: bool,
}

/// What an unlock attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum UnlockOutcome {
    Unlocked,
    WrongPassword,
    /// This was the fifth wrong password (or one came after it).
    MustSignIn,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
struct LockState {
    #[serde(default)]
    locked: bool,
    #[serde(default)]
    customer_signing: bool,
    #[serde(default)]
    failed_unlocks: u32,
    /// argon2id PHC string of the signed-in technician's password.
    #[serde(default)]
    verifier: Option<String>,
    #[serde(default)]
    idle_lock_minutes: Option<u32>,
}

/// The lock of one data dir. Cheap operations except [`AppLock::unlock`]
/// and [`AppLock::remember_password`], which hash (run them off the UI thread).
#[derive(Debug)]
pub struct AppLock {
    path: PathBuf,
    state: Mutex<LockState>,
}

fn argon2id() -> Argon2<'static> {
    // OWASP's argon2id minimum (19 MiB, 2 passes): about 30 ms here, slow
    // enough that a copied verifier is costly to guess offline.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl AppLock {
    /// Reads the lock state. Interrupted customer signing opens locked.
    pub fn open(data_dir: &Path) -> Result<AppLock, SyncError> {
        let path = data_dir.join(APP_LOCK_FILE);
        let mut state: LockState = match files::read_if_exists(&path)? {
            None => LockState::default(),
            // A damaged file locks rather than opens.
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or(LockState {
                locked: true,
                ..LockState::default()
            }),
        };
        if state.customer_signing {
            state.customer_signing = false;
            state.locked = true;
        }
        let lock = AppLock {
            path,
            state: Mutex::new(state),
        };
        lock.save(&lock.state())?;
        Ok(lock)
    }

    fn state(&self) -> LockState {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn save(&self, state: &LockState) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec_pretty(state).expect("lock state serialises");
        files::write_atomically(&self.path, &bytes, 0o600)
    }

    /// Changes the state and writes it before anyone sees the change.
    fn update<T>(&self, change: impl FnOnce(&mut LockState) -> T) -> Result<T, SyncError> {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = guard.clone();
        let out = change(&mut next);
        if next != *guard {
            self.save(&next)?;
            *guard = next;
        }
        Ok(out)
    }

    pub fn status(&self) -> LockStatus {
        let s = self.state();
        LockStatus {
            locked: s.locked,
            customer_signing: s.customer_signing,
            must_sign_in: s.locked && s.verifier.is_none(),
            failed_unlocks: s.failed_unlocks,
            idle_lock_minutes: s.idle_lock_minutes.unwrap_or(DEFAULT_IDLE_LOCK_MINUTES),
            can_unlock_offline: s.verifier.is_some(),
        }
    }

    /// Locks (idle time reached, or the shortcut). Nothing to lock when
    /// nobody ever signed in on this version: no password to unlock with.
    pub fn lock(&self) -> Result<LockStatus, SyncError> {
        self.update(|s| {
            if s.verifier.is_some() {
                s.locked = true;
            }
        })?;
        Ok(self.status())
    }

    /// Checks `password` against the verifier; five wrong in a row forget
    /// the verifier so only a full sign-in unlocks.
    pub fn unlock(&self, password: &str) -> Result<UnlockOutcome, SyncError> {
        let state = self.state();
        if !state.locked {
            return Ok(UnlockOutcome::Unlocked);
        }
        let Some(verifier) = state.verifier else {
            return Ok(UnlockOutcome::MustSignIn);
        };
        let matches = PasswordHash::new(&verifier)
            .map(|hash| {
                argon2id()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false);
        self.update(|s| {
            if matches {
                s.locked = false;
                s.failed_unlocks = 0;
                UnlockOutcome::Unlocked
            } else {
                s.failed_unlocks += 1;
                if s.failed_unlocks >= MAX_FAILED_UNLOCKS {
                    s.verifier = None;
                    UnlockOutcome::MustSignIn
                } else {
                    UnlockOutcome::WrongPassword
                }
            }
        })
    }

    /// At sign-in: stores a new verifier of the password that just worked
    /// with the server, and unlocks.
    pub fn remember_password(&self, password: &str) -> Result<(), SyncError> {
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon2id()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| SyncError::Protocol(format!("cannot hash the password: {e}")))?
            .to_string();
        self.update(|s| {
            s.verifier = Some(phc);
            s.locked = false;
            s.failed_unlocks = 0;
            s.customer_signing = false;
        })
    }

    /// At sign-out and wipe: no one's password unlocks any more.
    pub fn forget(&self) -> Result<(), SyncError> {
        self.update(|s| {
            let minutes = s.idle_lock_minutes;
            *s = LockState {
                idle_lock_minutes: minutes,
                ..LockState::default()
            };
        })
    }

    /// The customer takes the laptop to sign (`true`) or hands it back.
    pub fn set_customer_signing(&self, signing: bool) -> Result<LockStatus, SyncError> {
        self.update(|s| s.customer_signing = signing)?;
        Ok(self.status())
    }

    /// The idle time before locking; one of [`IDLE_LOCK_CHOICES`].
    pub fn set_idle_lock_minutes(&self, minutes: u32) -> Result<LockStatus, SyncError> {
        if !IDLE_LOCK_CHOICES.contains(&minutes) {
            return Err(SyncError::Protocol(format!(
                "{minutes} minutes is not an idle lock time Fieldbook offers ({IDLE_LOCK_CHOICES:?})"
            )));
        }
        self.update(|s| s.idle_lock_minutes = Some(minutes))?;
        Ok(self.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_unlocks_offline_and_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let lock = AppLock::open(dir.path()).unwrap();
        // Nobody signed in: nothing to lock with.
        assert!(!lock.lock().unwrap().locked);
        lock.remember_password("correct horse battery").unwrap();
        let stored = std::fs::read_to_string(dir.path().join(APP_LOCK_FILE)).unwrap();
        assert!(!stored.contains("correct horse"), "{stored}");
        assert!(stored.contains("$argon2id$"), "{stored}");
        assert!(lock.lock().unwrap().locked);
        assert_eq!(lock.unlock("wrong").unwrap(), UnlockOutcome::WrongPassword);
        assert_eq!(lock.status().failed_unlocks, 1);
        assert_eq!(
            lock.unlock("correct horse battery").unwrap(),
            UnlockOutcome::Unlocked
        );
        let status = lock.status();
        assert!(!status.locked);
        assert_eq!(status.failed_unlocks, 0);
    }

    #[test]
    fn five_wrong_passwords_in_a_row_need_a_full_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let lock = AppLock::open(dir.path()).unwrap();
        lock.remember_password("correct horse battery").unwrap();
        lock.lock().unwrap();
        for _ in 1..MAX_FAILED_UNLOCKS {
            assert_eq!(lock.unlock("nope").unwrap(), UnlockOutcome::WrongPassword);
        }
        assert_eq!(lock.unlock("nope").unwrap(), UnlockOutcome::MustSignIn);
        // Even the right password no longer unlocks offline, also after a restart.
        assert_eq!(
            lock.unlock("correct horse battery").unwrap(),
            UnlockOutcome::MustSignIn
        );
        let reopened = AppLock::open(dir.path()).unwrap();
        let status = reopened.status();
        assert!(status.locked && status.must_sign_in, "{status:?}");
        // A sign-in with the server unlocks and starts counting again.
        reopened.remember_password("correct horse battery").unwrap();
        assert!(!reopened.status().locked);
        assert_eq!(reopened.status().failed_unlocks, 0);
    }

    #[test]
    fn a_restart_during_customer_signing_opens_locked() {
        let dir = tempfile::tempdir().unwrap();
        let lock = AppLock::open(dir.path()).unwrap();
        lock.remember_password("correct horse battery").unwrap();
        assert!(lock.set_customer_signing(true).unwrap().customer_signing);
        drop(lock);
        let reopened = AppLock::open(dir.path()).unwrap();
        let status = reopened.status();
        assert!(status.locked, "{status:?}");
        assert!(!status.customer_signing);
        // Handing back normally does not lock.
        reopened.unlock("correct horse battery").unwrap();
        reopened.set_customer_signing(true).unwrap();
        reopened.set_customer_signing(false).unwrap();
        assert!(!AppLock::open(dir.path()).unwrap().status().locked);
    }

    #[test]
    fn the_idle_time_is_a_setting_with_a_default() {
        let dir = tempfile::tempdir().unwrap();
        let lock = AppLock::open(dir.path()).unwrap();
        assert_eq!(lock.status().idle_lock_minutes, DEFAULT_IDLE_LOCK_MINUTES);
        assert_eq!(lock.set_idle_lock_minutes(5).unwrap().idle_lock_minutes, 5);
        assert!(lock.set_idle_lock_minutes(0).is_err());
        lock.remember_password("correct horse battery").unwrap();
        lock.forget().unwrap();
        let status = AppLock::open(dir.path()).unwrap().status();
        assert_eq!(status.idle_lock_minutes, 5);
        assert!(!status.can_unlock_offline);
    }
}
