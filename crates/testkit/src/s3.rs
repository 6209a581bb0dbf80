//! A throwaway S3-compatible server for one test binary: moto's standalone
//! server (PyPI `moto[server]`) on a free 127.0.0.1 port, killed on drop.
//!
//! Why moto: it implements the parts of S3 the blob store relies on
//! (conditional `If-None-Match: *` puts, multipart uploads, listing by
//! prefix and delimiter) and is installable from PyPI without Docker; s3rver
//! (npm) has no conditional puts. What it does not prove: moto keeps objects
//! in one process's memory, so it says nothing about a real store's
//! durability, consistency under load, eventual listing, or throughput.
//!
//! `moto_server` is taken from `PATH`, else from a virtualenv under
//! `~/.cache/fieldbook-test-tools/moto` that is created (`pip install
//! 'moto[server]'`) the first time it is needed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldbook_server::blobs::S3Settings;

/// Set to `s3` to run blob tests against [`ThrowawayS3`]; unset: the data dir.
pub const TEST_BLOB_STORE_ENV: &str = "FIELDBOOK_TEST_BLOB_STORE";

/// Credentials moto accepts (it checks signatures are present, not the keys).
const ACCESS_KEY_ID: &str = "fieldbook-test";
const SECRET_ACCESS_KEY: &str = "fieldbook-test-secret";

/// A running moto server.
#[derive(Debug)]
pub struct ThrowawayS3 {
    child: Child,
    addr: SocketAddr,
}

/// Why there is no S3 server: moto is not installed and could not be
/// (tests skip with this message), or it is there and failed (tests fail).
#[derive(Debug)]
pub enum S3Unavailable {
    NotInstallable(String),
    Failed(String),
}

impl ThrowawayS3 {
    pub fn start() -> Result<ThrowawayS3, S3Unavailable> {
        let program = moto_server()?;
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| S3Unavailable::Failed(format!("finding a free port: {e}")))?
                .port();
            let child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    S3Unavailable::Failed(format!("starting {}: {e}", program.display()))
                })?;
            // The server shared by a test binary lives in a static, which is
            // never dropped: a watchdog stops moto when this process ends.
            let watchdog = format!(
                "while kill -0 {} 2>/dev/null; do sleep 1; done; kill {} 2>/dev/null",
                std::process::id(),
                child.id()
            );
            let _ = Command::new("sh")
                .args(["-c", &watchdog])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut server = ThrowawayS3 {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            match server.wait_until_up(Duration::from_secs(30)) {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(S3Unavailable::Failed(format!(
            "moto_server did not start 5 times; last: {last_error}"
        )))
    }

    /// The server, started once per test binary, when
    /// `FIELDBOOK_TEST_BLOB_STORE=s3`; `None` otherwise. Panics if moto is
    /// installed but fails, and prints why when it cannot be installed.
    pub fn for_this_run() -> Option<&'static ThrowawayS3> {
        static SERVER: std::sync::OnceLock<Option<ThrowawayS3>> = std::sync::OnceLock::new();
        SERVER
            .get_or_init(|| {
                if std::env::var(TEST_BLOB_STORE_ENV).as_deref() != Ok("s3") {
                    return None;
                }
                match ThrowawayS3::start() {
                    Ok(server) => Some(server),
                    Err(S3Unavailable::NotInstallable(why)) => {
                        eprintln!("SKIPPED the S3 blob store (tests use the data dir): {why}");
                        None
                    }
                    Err(S3Unavailable::Failed(why)) => panic!("throwaway S3 server: {why}"),
                }
            })
            .as_ref()
    }

    /// A new, empty bucket and the settings that reach it.
    pub fn new_bucket(&self) -> S3Settings {
        let name = format!("fieldbook-{}", uuid::Uuid::new_v4().simple());
        let status = http_status(self.addr, "PUT", &format!("/{name}"))
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e}"));
        assert_eq!(status, 200, "creating bucket {name}");
        S3Settings {
            url: format!("s3://{name}"),
            endpoint: Some(format!("http://{}", self.addr)),
            region: Some("us-east-1".into()),
            access_key_id: Some(ACCESS_KEY_ID.into()),
            secret_access_key: Some(SECRET_ACCESS_KEY.into()),
            allow_http: true,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn wait_until_up(&mut self, within: Duration) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto_server exited with {status}"));
            }
            if http_status(self.addr, "GET", "/").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(format!("no answer on {} within {within:?}", self.addr))
    }
}

impl Drop for ThrowawayS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `fieldbook-server` command-line options that reach `bucket`
/// (`serve`, `migrate-storage`).
pub fn blob_store_args(bucket: &S3Settings) -> Vec<String> {
    let setting = |value: &Option<String>, name: &str| {
        value
            .clone()
            .unwrap_or_else(|| panic!("a test bucket has a {name}"))
    };
    let mut args = vec![
        "--blob-store".to_owned(),
        bucket.url.clone(),
        "--blob-store-endpoint".into(),
        setting(&bucket.endpoint, "endpoint"),
        "--blob-store-region".into(),
        setting(&bucket.region, "region"),
        "--blob-store-access-key-id".into(),
        setting(&bucket.access_key_id, "access key id"),
        "--blob-store-secret-access-key".into(),
        setting(&bucket.secret_access_key, "secret access key"),
    ];
    if bucket.allow_http {
        args.push("--blob-store-allow-http".into());
    }
    args
}

/// The same settings as lines of a `fieldbook-server` config file.
pub fn blob_store_config(bucket: &S3Settings) -> String {
    let quoted = |value: &Option<String>| format!("{:?}", value.as_deref().unwrap_or_default());
    format!(
        "blob_store = {:?}\nblob_store_endpoint = {}\nblob_store_region = {}\n\
         blob_store_access_key_id = {}\nblob_store_secret_access_key = {}\n\
         blob_store_allow_http = {}\n",
        bucket.url,
        quoted(&bucket.endpoint),
        quoted(&bucket.region),
        quoted(&bucket.access_key_id),
        quoted(&bucket.secret_access_key),
        bucket.allow_http,
    )
}

/// A blob store for a test: a fresh bucket on this run's [`ThrowawayS3`]
/// when `FIELDBOOK_TEST_BLOB_STORE=s3`, else `None` (the data dir).
pub fn test_blob_store() -> Option<S3Settings> {
    ThrowawayS3::for_this_run().map(ThrowawayS3::new_bucket)
}

/// The status of a bodiless, unsigned request (moto lets anyone create a
/// bucket).
fn http_status(addr: SocketAddr, method: &str, path: &str) -> Result<u16, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&head)))
}

/// `moto_server` on PATH, or in the cache virtualenv (installed if missing).
fn moto_server() -> Result<PathBuf, S3Unavailable> {
    if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|p| p.is_file())
    }) {
        return Ok(found);
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        S3Unavailable::NotInstallable(
            "no HOME for the tool cache and no moto_server on PATH".into(),
        )
    })?;
    let venv = PathBuf::from(home).join(".cache/fieldbook-test-tools/moto");
    let program = venv.join("bin/moto_server");
    if program.is_file() {
        return Ok(program);
    }
    let run = |cmd: &mut Command| -> Result<(), String> {
        let out = cmd.output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).map_err(|e| {
        S3Unavailable::NotInstallable(format!(
            "moto_server is not on PATH and `python3 -m venv {}` failed: {e}",
            venv.display()
        ))
    })?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "moto[server]>=5.1"]))
        .map_err(|e| {
            S3Unavailable::NotInstallable(format!(
                "moto_server is not on PATH and `pip install 'moto[server]'` into {} failed: {e}",
                venv.display()
            ))
        })?;
    Ok(program)
}
