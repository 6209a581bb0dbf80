//! Password hashing: argon2id PHC strings, verified in a bounded pool.
//!
//! One argon2id verification with the production parameters needs 19 MiB.
//! Logins arrive before any authentication, so an unbounded number of them
//! hashing at once lets a stranger exhaust the server's memory (40 parallel
//! logins once took it from 190 MiB to 930 MiB). [`PasswordPool`] runs at
//! most `workers` verifications at a time, each in a memory buffer the pool
//! allocated once and reuses, so the memory for hashing is fixed at
//! `workers` buffers however many logins wait.

use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordHashing;

/// Largest password accepted (argon2 would hash anything; a megabyte
/// "password" is only a way to burn CPU).
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Most parallel verifications whatever the machine: a login is not worth
/// more cores, and every worker holds one hashing buffer.
const MAX_WORKERS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes")]
    BadLength,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn argon2(params: PasswordHashing) -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a new password (PHC string with its parameters and salt).
pub fn hash_password(password: &str, params: PasswordHashing) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::BadLength);
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Checks a password against a stored PHC hash (its own parameters apply),
/// hashing in `memory` (grown to the hash's block count if needed).
pub fn verify_password(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut computed,
        &mut memory[..blocks],
    );
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(&computed).is_ok_and(|computed| computed == expected)
}

/// Runs password verifications, at most `workers` at a time.
#[derive(Debug)]
pub struct PasswordPool {
    permits: Semaphore,
    /// One hashing buffer per running verification, kept for the next one.
    buffers: Mutex<Vec<Vec<Block>>>,
    /// Verified against when the username is unknown, so that answer takes
    /// the same work as a wrong password. Made once at start-up.
    decoy: String,
    workers: usize,
}

impl PasswordPool {
    /// Workers for this machine: one per core, at most [`MAX_WORKERS`].
    pub fn workers_for_this_machine() -> usize {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_WORKERS)
    }

    /// A pool of `workers` whose decoy hash uses `params` (the parameters new
    /// passwords get, so an unknown user costs what a real one does).
    pub fn new(params: PasswordHashing, workers: usize) -> Result<PasswordPool, PasswordError> {
        let workers = workers.max(1);
        Ok(PasswordPool {
            permits: Semaphore::new(workers),
            buffers: Mutex::new(Vec::with_capacity(workers)),
            decoy: hash_password("decoy-password-never-matches", params)?,
            workers,
        })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether `password` matches `phc`; with `None` (unknown username) the
    /// same work is done against the decoy and the answer is false.
    pub async fn verify(self: &Arc<Self>, password: String, phc: Option<String>) -> bool {
        // Waiting here costs a small future, not 19 MiB. The semaphore is
        // never closed, so acquiring only fails if it were.
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let pool = Arc::clone(self);
        let span = tracing::Span::current();
        let verified = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut memory = pool
                .buffers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_default();
            let ok = match &phc {
                Some(phc) => verify_password(&password, phc, &mut memory),
                None => {
                    verify_password(&password, &pool.decoy, &mut memory);
                    false
                }
            };
            pool.buffers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(memory);
            ok
        })
        .await;
        verified.unwrap_or_else(|e| {
            tracing::error!(error = %e, "password verification task failed");
            false
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_hashes_use_owasp_argon2id_parameters() {
        let phc = hash_password("a long enough password", PasswordHashing::default()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let mut memory = Vec::new();
        assert!(verify_password("a long enough password", &phc, &mut memory));
        assert!(!verify_password(
            "a long enough passworD",
            &phc,
            &mut memory
        ));
        // The buffer was sized once for m = 19 MiB and is reused.
        assert_eq!(memory.len(), 19 * 1024);
    }

    #[test]
    fn verification_agrees_with_the_argon2_crate() {
        use argon2::password_hash::PasswordVerifier;
        let fast = PasswordHashing::insecure_fast_for_tests();
        let phc = hash_password("another password", fast).unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default()
            .verify_password(b"another password", &parsed)
            .is_ok());
        let mut memory = Vec::new();
        assert!(verify_password("another password", &phc, &mut memory));
        assert!(!verify_password("another passwore", &phc, &mut memory));
        assert!(!verify_password(
            "another password",
            "not a phc",
            &mut memory
        ));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        let fast = PasswordHashing::insecure_fast_for_tests();
        assert!(matches!(
            hash_password("short", fast),
            Err(PasswordError::BadLength)
        ));
        assert!(matches!(
            hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1), fast),
            Err(PasswordError::BadLength)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_never_runs_more_than_its_workers_and_reuses_their_buffers() {
        let fast = PasswordHashing::insecure_fast_for_tests();
        let pool = Arc::new(PasswordPool::new(fast, 2).unwrap());
        let phc = hash_password("the password", fast).unwrap();
        let checks = (0..50).map(|i| {
            let pool = Arc::clone(&pool);
            let phc = phc.clone();
            tokio::spawn(async move {
                let password = if i == 7 { "the password" } else { "wrong one!" };
                pool.verify(password.into(), Some(phc)).await
            })
        });
        let mut matched = 0;
        for check in checks.collect::<Vec<_>>() {
            matched += usize::from(check.await.unwrap());
        }
        assert_eq!(matched, 1);
        assert!(!pool.verify("the password".into(), None).await);
        // At most one buffer per worker was ever made.
        assert!(pool.buffers.lock().unwrap().len() <= 2);
    }
}
