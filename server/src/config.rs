//! Server settings. Production defaults live here; tests lower the password
//! hashing cost only through [`PasswordHashing::insecure_fast_for_tests`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::blobs::{S3Settings, UploadQuota};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordHashing {
    /// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
    pub const OWASP: PasswordHashing = PasswordHashing {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Far too weak for real passwords: only for test servers, where hundreds
    /// of logins would otherwise dominate the run time.
    pub fn insecure_fast_for_tests() -> PasswordHashing {
        PasswordHashing {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self::OWASP
    }
}

const MAX_BLOB_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// The database (`--database-url`); `None`: SQLite in `data_dir`.
    pub database_url: Option<crate::storage::DatabaseUrl>,
    pub password_hashing: PasswordHashing,
    /// How long a login token stays valid.
    pub session_ttl: Duration,
    /// Failed logins for one account from one source address, within
    /// `login_lockout`, before that address is locked out of that account.
    pub max_failed_logins: u32,
    /// How long the lock lasts.
    pub login_lockout: Duration,
    /// Failed logins for one account from all addresses together, within
    /// [`Self::login_backstop_window`], before the account is locked for
    /// everyone: the slower backstop against guesses spread over many
    /// addresses (`max_failed_logins` counts per account *and* address).
    pub max_failed_logins_per_account: u32,
    /// The window of [`Self::max_failed_logins_per_account`].
    pub login_backstop_window: Duration,
    /// Password verifications run at once (each holds an argon2 buffer of
    /// `password_hashing.memory_kib`); more logins wait their turn.
    pub password_workers: usize,
    /// Deadline for a JSON request (not for blob uploads, which stream).
    pub request_timeout: Duration,
    /// Largest push body (a batch with signed reports fits); other JSON
    /// routes accept [`crate::app::SMALL_JSON_BODY_LIMIT`].
    pub json_body_limit: usize,
    /// Largest blob (a long site video).
    pub max_blob_bytes: u64,
    /// Unfinished tus uploads one user may hold at once.
    pub max_unfinished_uploads_per_user: usize,
    /// Sum of the declared lengths of one user's unfinished uploads.
    pub max_reserved_upload_bytes_per_user: u64,
    /// How often to look for blobs that arrived after their records.
    pub blob_arrival_poll: Duration,
    /// A pull page stops taking records once their JSON passes this size.
    pub pull_page_bytes: usize,
    /// Closed and cancelled installations last changed more than this many
    /// days ago are no longer pulled, and devices remove their copies once
    /// nothing about them is unsent. Still readable by id.
    pub retention_days: u32,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The address people and devices use (`https://fieldbook.example.com`),
    /// when a reverse proxy sits in front of the server.
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Nobody else's:
    /// the header is free text any client can send.
    pub trusted_proxies: Vec<IpNet>,
    /// Blobs and uploads in an S3-compatible store (`--blob-store s3://…`)
    /// instead of `<data_dir>/blobs`.
    pub blob_store: Option<S3Settings>,
    /// Pulls (and near-window reads) this instance runs at once; one more
    /// is answered `503 busy` with `Retry-After` (`--max-concurrent-pulls`,
    /// see docs/scaling.md).
    pub max_concurrent_pulls: usize,
    /// The most pulls that may wait for a slot when all are taken
    /// (`--pull-queue`; fewer wait when pulls are slow, see
    /// [`crate::pull::PullSlots`]);
    /// `None`: [`crate::pull::PULL_QUEUE_PER_SLOT`] per slot. 0 sheds a
    /// pull over the limit at once.
    pub pull_queue: Option<usize>,
    /// How long a queued pull waits for a slot before it is answered `503
    /// busy` after all.
    pub pull_queue_wait: Duration,
    /// Test hook, 0 in production: each pull first repeats its storage read
    /// for this many milliseconds, so a test can hold pulls in flight.
    pub pull_test_stall_ms: Arc<AtomicU64>,
}

/// A PEM certificate chain (leaf first) and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Default of [`ServerConfig::retention_days`].
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

impl ServerConfig {
    /// Production defaults for a data dir.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            database_url: None,
            password_hashing: PasswordHashing::OWASP,
            // Devices work offline for days; a field laptop logs in rarely.
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            max_failed_logins: 5,
            login_lockout: Duration::from_secs(15 * 60),
            max_failed_logins_per_account: 50,
            login_backstop_window: Duration::from_secs(60 * 60),
            password_workers: crate::password::PasswordPool::workers_for_this_machine(),
            request_timeout: Duration::from_secs(30),
            json_body_limit: 16 * 1024 * 1024,
            max_blob_bytes: MAX_BLOB_BYTES,
            max_unfinished_uploads_per_user: UploadQuota::default_for(MAX_BLOB_BYTES)
                .max_unfinished,
            max_reserved_upload_bytes_per_user: UploadQuota::default_for(MAX_BLOB_BYTES)
                .max_reserved_bytes,
            blob_arrival_poll: Duration::from_secs(2),
            pull_page_bytes: fieldbook_protocol::PULL_PAGE_BYTES,
            retention_days: DEFAULT_RETENTION_DAYS,
            tls: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            blob_store: None,
            max_concurrent_pulls: crate::pull::default_max_concurrent_pulls(),
            pull_queue: None,
            pull_queue_wait: crate::pull::DEFAULT_PULL_QUEUE_WAIT,
            pull_test_stall_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Pulls that may wait for a slot ([`Self::pull_queue`] resolved).
    pub fn pull_queue_len(&self) -> usize {
        self.pull_queue
            .unwrap_or(crate::pull::PULL_QUEUE_PER_SLOT * self.max_concurrent_pulls)
    }

    /// Where the database is: `database_url`, or SQLite in the data dir.
    pub fn database(&self) -> crate::storage::DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::storage::DatabaseUrl::Sqlite(self.data_dir.clone()))
    }

    /// Whether browsers reach the server over HTTPS (its own TLS, or a TLS
    /// proxy in front of it), so cookies must be `Secure`.
    pub fn serves_https(&self) -> bool {
        self.tls.is_some()
            || self.public_url.as_deref().is_some_and(|url| {
                url.get(..8)
                    .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
            })
    }

    /// Whether `peer` is one of the configured reverse proxies.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_with_own_tls_or_an_https_public_url() {
        let mut config = ServerConfig::new("/tmp/x".into());
        assert!(!config.serves_https());
        config.public_url = Some("http://fieldbook.example.com".into());
        assert!(!config.serves_https());
        config.public_url = Some("HTTPS://fieldbook.example.com".into());
        assert!(config.serves_https());
        config.public_url = None;
        config.tls = Some(TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        });
        assert!(config.serves_https());
    }

    #[test]
    fn trusted_proxies_match_by_network_and_mapped_ipv4() {
        let mut config = ServerConfig::new("/tmp/x".into());
        config.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        assert!(config.is_trusted_proxy("10.1.2.3".parse().unwrap()));
        assert!(config.is_trusted_proxy("::ffff:10.1.2.3".parse().unwrap()));
        assert!(config.is_trusted_proxy("::1".parse().unwrap()));
        assert!(!config.is_trusted_proxy("11.0.0.1".parse().unwrap()));
        assert!(!config.is_trusted_proxy("127.0.0.1".parse().unwrap()));
    }
}
