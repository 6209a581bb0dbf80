//! The sync engine's integration harness: devices (a store and an engine
//! in their own temp dir) against the test kit's real server, and waits on
//! the engine's status.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{Installation, ReportDraft, Sha256Hex};
use fieldbook_store::{SignatureInput, Store};
use fieldbook_sync::{SharedStore, SyncEngine, SyncOptions, SyncStatus};
use tempfile::TempDir;
use uuid::Uuid;

#[allow(unused_imports)] // each test binary uses a different subset
pub use fieldbook_testkit::{write_jpeg, TestServer, PASSWORD};

// ---- devices ----------------------------------------------------------------

/// A technician's computer: a store and an engine in their own data dir.
pub struct Device {
    pub engine: SyncEngine,
    pub store: SharedStore,
    pub dir: TempDir,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Fast loop settings for tests: syncs 150 ms after a change, probes at
/// most every 400 ms while offline.
pub fn test_options(data_dir: &Path) -> SyncOptions {
    let mut options = SyncOptions::new(data_dir);
    options.debounce = Duration::from_millis(150);
    options.max_backoff = Duration::from_millis(400);
    options.http_timeout = Duration::from_secs(10);
    options
}

impl Device {
    /// A fresh device (nobody signed in).
    pub fn new() -> Device {
        let dir = tempfile::tempdir().expect("device temp dir");
        Self::open_in(dir, test_options)
    }

    /// A device with adjusted options.
    pub fn with_options(adjust: impl FnOnce(&mut SyncOptions)) -> Device {
        let dir = tempfile::tempdir().expect("device temp dir");
        Self::open_in(dir, |path| {
            let mut options = test_options(path);
            adjust(&mut options);
            options
        })
    }

    fn open_in(dir: TempDir, options: impl FnOnce(&Path) -> SyncOptions) -> Device {
        let store = Store::open(dir.path()).expect("open store");
        let store: SharedStore = Arc::new(Mutex::new(store));
        let engine =
            SyncEngine::new(Arc::clone(&store), options(dir.path())).expect("create engine");
        Device { engine, store, dir }
    }

    /// A fresh device signed in as `username` (and synced once).
    pub async fn signed_in(server: &TestServer, username: &str) -> Device {
        let device = Device::signed_in_at(&server.base_url(), username).await;
        device.engine.sync_once().await.expect("first sync");
        device
    }

    /// A fresh device signed in as `username` at `url`, not yet synced.
    pub async fn signed_in_at(url: &str, username: &str) -> Device {
        let device = Device::new();
        device
            .engine
            .sign_in(url, username, PASSWORD)
            .await
            .expect("sign in");
        device
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs `f` on the store (lock, act, unlock).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store.lock().unwrap())
    }

    pub fn installation(&self, id: Uuid) -> Installation {
        self.with_store(|s| s.get_installation(id).expect("installation on the device"))
            .installation
    }

    pub fn has_installation(&self, id: Uuid) -> bool {
        self.with_store(|s| s.get_installation(id).is_ok())
    }

    pub fn device_id(&self) -> Uuid {
        self.with_store(|s| s.device_id())
    }

    /// The token the engine saved (to revoke it from "elsewhere").
    pub fn saved_token(&self) -> Option<String> {
        std::fs::read_to_string(
            self.dir
                .path()
                .join(fieldbook_sync::credentials::TOKEN_FILE),
        )
        .ok()
    }

    // ---- technician actions (each followed by notify_local_change) --------

    pub fn start_job(&self, id: Uuid) {
        self.with_store(|s| s.start_installation(id, &StartRequest::default()))
            .expect("start job");
        self.engine.notify_local_change();
    }

    pub fn finish_job(&self, id: Uuid) {
        self.with_store(|s| s.finish_installation(id))
            .expect("finish job");
        self.engine.notify_local_change();
    }

    /// Fills the report, attaches `photos` real JPEGs, has the customer sign
    /// and submits; returns the photos' hashes and the signature's.
    pub fn complete_report(&self, id: Uuid, photos: u8) -> (Vec<Sha256Hex>, Sha256Hex) {
        let work = tempfile::tempdir().expect("photo dir");
        let mut hashes = Vec::new();
        for n in 0..photos {
            let path = write_jpeg(work.path(), &format!("photo-{n}.jpg"), n.wrapping_mul(37));
            let media = self
                .with_store(|s| s.attach_media(id, &path, &format!("Photo {n}")))
                .expect("attach photo");
            hashes.push(media.file.sha256);
        }
        let mut draft = ReportDraft::new(id, chrono::Utc::now());
        draft.charger_serial_number = "ZP-2026-000123".into();
        draft.charger_model = "Zappi 7kW".into();
        draft.installation_successful = Some(true);
        fieldbook_testkit::fill_default_template(&mut draft);
        draft.demo_given = true;
        draft.general_notes = "Installed on the garage wall".into();
        self.with_store(|s| s.save_report_draft(&draft))
            .expect("save draft");
        let signed = self
            .with_store(|s| s.sign_report(id, &signature("Ada Customer")))
            .expect("sign");
        let signature_sha = signed
            .customer_signature
            .expect("signature on the draft")
            .png
            .sha256;
        self.with_store(|s| s.submit_report(id))
            .expect("submit report");
        self.engine.notify_local_change();
        (hashes, signature_sha)
    }

    pub fn pending_mutations(&self) -> u64 {
        self.with_store(|s| s.outbox_counts().unwrap().pending)
    }

    pub fn needs_attention(&self) -> Vec<fieldbook_store::OutboxEntry> {
        self.with_store(|s| s.needs_attention().unwrap())
    }
}

/// Waits until the engine's status satisfies `pred`, or panics after
/// `timeout` with the last status.
pub async fn wait_for_status(
    engine: &SyncEngine,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let mut rx = engine.subscribe();
    let result = tokio::time::timeout(timeout, async {
        loop {
            {
                let status = rx.borrow_and_update().clone();
                if pred(&status) {
                    return status;
                }
            }
            if rx.changed().await.is_err() {
                panic!("status channel closed while waiting for {what}");
            }
        }
    })
    .await;
    match result {
        Ok(status) => status,
        Err(_) => panic!(
            "timed out after {timeout:?} waiting for {what}; status: {:?}",
            engine.status()
        ),
    }
}

/// Polls `check` every 25 ms until it holds, or panics after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The customer's signature as the signature pad hands it to the store.
pub fn signature(signer: &str) -> SignatureInput {
    SignatureInput {
        png: fieldbook_testkit::signature_png(),
        strokes: fieldbook_testkit::signature_strokes(),
        signer_name: signer.into(),
    }
}

// ---- a proxy that watches concurrency ---------------------------------------

/// An HTTP proxy on loopback in front of the server that holds every request
/// for `delay` and records how many were in flight at once: two syncs that
/// overlapped show up as two requests in flight.
pub struct CountingProxy {
    pub url: String,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    max_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CountingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingProxy")
            .field("url", &self.url)
            .finish()
    }
}

impl CountingProxy {
    pub async fn start(upstream: String, delay: Duration) -> CountingProxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::new();
        let (now, max) = (Arc::clone(&in_flight), Arc::clone(&max_in_flight));
        let handler = move |method: axum::http::Method,
                            uri: axum::http::Uri,
                            headers: axum::http::HeaderMap,
                            body: axum::body::Bytes| {
            let (client, upstream, now, max) =
                (client.clone(), upstream.clone(), now.clone(), max.clone());
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let mut request = client.request(method, format!("{upstream}{path}"));
                for (name, value) in &headers {
                    if name != axum::http::header::HOST {
                        request = request.header(name, value);
                    }
                }
                let answer = request.body(body).send().await;
                now.fetch_sub(1, Ordering::SeqCst);
                match answer {
                    Ok(response) => {
                        let status = response.status();
                        let headers = response.headers().clone();
                        let bytes = response.bytes().await.unwrap_or_default();
                        (status, headers, bytes)
                    }
                    Err(_) => (
                        axum::http::StatusCode::BAD_GATEWAY,
                        axum::http::HeaderMap::new(),
                        axum::body::Bytes::new(),
                    ),
                }
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy listen");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CountingProxy {
            url,
            in_flight,
            max_in_flight,
            task,
        }
    }

    /// Most requests that were in flight at the same time so far.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.max_in_flight.store(
            self.in_flight.load(std::sync::atomic::Ordering::SeqCst),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
