//! App updates from the fleet's own server: ask whether a newer build is
//! published for this device's target, download it in the background
//! (resumable with `Range`, paused while the technician's work uploads),
//! verify its minisign signature against the public key the app was built
//! with, and say when installing is safe. Installing itself is the app's
//! (tauri-plugin-updater), which verifies the bytes once more.
//!
//! The rules live here, the UI asks: [`may_download`] (never while the
//! technician's work is uploading or waiting to) and [`install_readiness`]
//! (only when nothing unsent would be at risk).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use fieldbook_protocol::UpdateManifest;
use reqwest::StatusCode;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::client::{transport_error, LazyHttpClient};
use crate::error::SyncError;
use crate::status::{ConnectionState, SyncErrorInfo, SyncPhase, SyncStatus};
use crate::SyncEngine;

/// This build's update target, `{os}-{arch}-{bundle}` (tauri-plugin-updater's
/// naming), e.g. `linux-x86_64-deb`.
pub fn update_target(bundle: &str) -> String {
    format!(
        "{}-{}-{bundle}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Asks the server for an update newer than `current_version`; `None` on
/// 204 (nothing newer published).
pub async fn check_for_update(
    http: &reqwest::Client,
    server_url: &str,
    target: &str,
    current_version: &str,
) -> Result<Option<UpdateManifest>, SyncError> {
    let url = format!(
        "{}/api/v1/updates/{target}/{current_version}",
        server_url.trim_end_matches('/')
    );
    let response = http.get(&url).send().await.map_err(transport_error)?;
    match response.status() {
        StatusCode::NO_CONTENT => Ok(None),
        status if status.is_success() => Ok(Some(response.json().await.map_err(transport_error)?)),
        status => Err(SyncError::Server {
            status: status.as_u16(),
            message: response.text().await.unwrap_or_default(),
            retry_after: None,
        }),
    }
}

/// Checks `bytes` against the minisign `signature` (base64 of the signature
/// file, as `cargo tauri signer sign` writes it) with `public_key` (base64
/// of the public key file, as in `tauri.conf.json`), and that the signed
/// trusted comment names `version`: the same checks tauri-plugin-updater
/// makes with `requireSignedVersion`.
pub fn verify_update(
    bytes: &[u8],
    signature: &str,
    public_key: &str,
    version: &str,
) -> Result<(), SyncError> {
    let rejected = |why: String| SyncError::UpdateRejected(why);
    let decode = |what: &str, b64: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| rejected(format!("its {what} is not base64 text")))
    };
    let public_key = minisign_verify::PublicKey::decode(&decode("public key", public_key)?)
        .map_err(|e| rejected(format!("the app's public key is unusable ({e})")))?;
    let signature = minisign_verify::Signature::decode(&decode("signature", signature)?)
        .map_err(|e| rejected(format!("its signature is unreadable ({e})")))?;
    public_key
        .verify(bytes, &signature, true)
        .map_err(|e| rejected(format!("its signature does not match ({e})")))?;
    // Only trusted once the signature (which covers it) checked out.
    let signed_version = signature
        .trusted_comment()
        .split('\t')
        .find_map(|field| field.strip_prefix("version:"))
        .ok_or_else(|| rejected("its signature names no version".into()))?;
    let same = match (
        semver::Version::parse(signed_version.trim_start_matches('v')),
        semver::Version::parse(version.trim_start_matches('v')),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => signed_version == version,
    };
    if !same {
        return Err(rejected(format!(
            "it was signed as version {signed_version}, not {version}"
        )));
    }
    Ok(())
}

/// How a [`download_update`] call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadOutcome {
    /// Complete and verified, at this path.
    Verified(PathBuf),
    /// Stopped because `may_continue` said so; the part file is kept and
    /// the next call resumes from its end.
    Paused { bytes_done: u64 },
}

/// Where the download of `manifest` goes in `dir`.
fn artifact_paths(dir: &Path, manifest: &UpdateManifest) -> (PathBuf, PathBuf) {
    let name = format!("fieldbook-{}.update", manifest.version);
    (dir.join(&name), dir.join(format!("{name}.part")))
}

/// Downloads the artifact into `dir`, resuming a part file left by an
/// earlier call (`Range`), checking `may_continue` between chunks, then
/// verifies it. A file that fails verification is deleted and refused.
pub async fn download_update(
    http: &reqwest::Client,
    manifest: &UpdateManifest,
    public_key: &str,
    dir: &Path,
    mut may_continue: impl FnMut() -> bool,
    mut on_progress: impl FnMut(u64, u64),
) -> Result<DownloadOutcome, SyncError> {
    let (done_path, part_path) = artifact_paths(dir, manifest);
    let io = |context: String| move |e: std::io::Error| SyncError::io(context, e);
    if done_path.is_file() {
        return verified(&done_path, manifest, public_key);
    }
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let mut offset = std::fs::metadata(&part_path).map(|m| m.len()).unwrap_or(0);
    if offset > manifest.size {
        offset = 0;
    }
    let mut request = http.get(&manifest.url);
    if offset > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
    }
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        // The part file is not a prefix of what the server has: start over.
        let _ = std::fs::remove_file(&part_path);
        return Ok(DownloadOutcome::Paused { bytes_done: 0 });
    }
    if !status.is_success() {
        return Err(SyncError::Server {
            status: status.as_u16(),
            message: format!("the update download answered HTTP {status}"),
            retry_after: None,
        });
    }
    // 200 to a range request: the server sends it all again.
    if status != StatusCode::PARTIAL_CONTENT {
        offset = 0;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(offset == 0)
        .append(offset > 0)
        .open(&part_path)
        .map_err(io(format!("cannot write {}", part_path.display())))?;
    let mut done = offset;
    on_progress(done, manifest.size);
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        file.write_all(&chunk)
            .map_err(io(format!("cannot write {}", part_path.display())))?;
        done += chunk.len() as u64;
        on_progress(done, manifest.size);
        if done > manifest.size {
            break;
        }
        if done < manifest.size && !may_continue() {
            file.sync_all()
                .map_err(io(format!("cannot write {}", part_path.display())))?;
            return Ok(DownloadOutcome::Paused { bytes_done: done });
        }
    }
    file.sync_all()
        .map_err(io(format!("cannot write {}", part_path.display())))?;
    drop(file);
    if done != manifest.size {
        let _ = std::fs::remove_file(&part_path);
        return Err(SyncError::UpdateRejected(format!(
            "the download has {done} bytes, the server announced {}",
            manifest.size
        )));
    }
    std::fs::rename(&part_path, &done_path)
        .map_err(io(format!("cannot write {}", done_path.display())))?;
    verified(&done_path, manifest, public_key)
}

fn verified(
    path: &Path,
    manifest: &UpdateManifest,
    public_key: &str,
) -> Result<DownloadOutcome, SyncError> {
    let bytes = std::fs::read(path)
        .map_err(|e| SyncError::io(format!("cannot read {}", path.display()), e))?;
    match verify_update(&bytes, &manifest.signature, public_key, &manifest.version) {
        Ok(()) => Ok(DownloadOutcome::Verified(path.to_path_buf())),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// Whether a background download may use the network now: the server is
/// reachable and none of the technician's work is being sent or waits to
/// be (their uploads come first).
pub fn may_download(status: &SyncStatus) -> bool {
    status.connection == ConnectionState::Online
        && status.phase == SyncPhase::Idle
        && status.pending_blobs == 0
        && status.pending_mutations == 0
}

/// Whether installing (which quits and restarts Fieldbook) is safe now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InstallReadiness {
    Ready,
    /// Not now; `reason` says what to do first.
    Wait {
        reason: String,
    },
}

/// The rule: install only when every change and file has reached the
/// server, nothing the server refused is waiting for the technician, and no
/// sync is running. Drafts are saved on the device as they are typed and
/// survive the restart.
pub fn install_readiness(status: &SyncStatus) -> InstallReadiness {
    let wait = |reason: String| InstallReadiness::Wait { reason };
    if status.phase != SyncPhase::Idle {
        return wait("a sync is running; install when it has finished".into());
    }
    let unsent = status.pending_mutations + status.pending_blobs;
    if unsent > 0 {
        return wait(format!(
            "{unsent} change(s) or file(s) have not reached the server yet; sync first so nothing waits on this computer during the update"
        ));
    }
    if status.needs_attention > 0 {
        return wait(format!(
            "{} change(s) the server refused need your attention first (Sync panel)",
            status.needs_attention
        ));
    }
    InstallReadiness::Ready
}

/// Where the update stands, for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpdateStatus {
    pub current_version: String,
    /// The newer version the server offers, once checked.
    pub available_version: Option<String>,
    pub notes: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_done: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub bytes_total: u64,
    /// Downloaded and verified: installing is possible.
    pub downloaded: bool,
    /// Waiting for the technician's uploads before downloading on.
    pub paused: bool,
    pub last_error: Option<SyncErrorInfo>,
}

/// How the background updater is set up.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// The running build's version.
    pub current_version: String,
    /// See [`update_target`].
    pub target: String,
    /// The update signing key's public half (base64, as in `tauri.conf.json`).
    pub public_key: String,
    /// Where downloads go (in the data dir).
    pub dir: PathBuf,
    /// How often to ask the server while online.
    pub check_interval: Duration,
    /// How long a paused download waits before looking again.
    pub pause_poll: Duration,
}

/// A downloaded, verified update waiting to be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyUpdate {
    pub manifest: UpdateManifest,
    pub path: PathBuf,
}

/// The background updater: checks when online, downloads when the
/// technician's work is not uploading, and keeps the verified file.
#[derive(Debug, Clone)]
pub struct Updater {
    inner: Arc<UpdaterInner>,
}

#[derive(Debug)]
struct UpdaterInner {
    engine: SyncEngine,
    options: UpdateOptions,
    http: LazyHttpClient,
    status: watch::Sender<UpdateStatus>,
    ready: Mutex<Option<ReadyUpdate>>,
    wake: Notify,
}

impl Updater {
    pub fn new(engine: SyncEngine, options: UpdateOptions) -> Self {
        // Built at the first check, not as the app starts (see
        // LazyHttpClient). No overall deadline: a large download on a slow
        // link takes long.
        let http = LazyHttpClient::built_by(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .user_agent(concat!("fieldbook-updater/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| SyncError::Protocol(format!("cannot build the HTTP client: {e}")))
        });
        let (status, _) = watch::channel(UpdateStatus {
            current_version: options.current_version.clone(),
            ..UpdateStatus::default()
        });
        Self {
            inner: Arc::new(UpdaterInner {
                engine,
                options,
                http,
                status,
                ready: Mutex::new(None),
                wake: Notify::new(),
            }),
        }
    }

    pub fn status(&self) -> UpdateStatus {
        self.inner.status.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<UpdateStatus> {
        self.inner.status.subscribe()
    }

    /// The verified download, if one is waiting.
    pub fn ready_update(&self) -> Option<ReadyUpdate> {
        self.inner
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks the loop to check now.
    pub fn check_now(&self) {
        self.inner.wake.notify_one();
    }

    /// Whether installing is safe now (see [`install_readiness`]).
    pub fn install_readiness(&self) -> InstallReadiness {
        if self.ready_update().is_none() {
            return InstallReadiness::Wait {
                reason: "no update has been downloaded".into(),
            };
        }
        install_readiness(&self.inner.engine.status())
    }

    /// Checks once and, if there is an update, downloads it as far as the
    /// rules allow now. Returns the verified update when complete.
    pub async fn check_and_download(&self) -> Result<Option<ReadyUpdate>, SyncError> {
        let Some(server_url) = self.inner.engine.server_url() else {
            return Ok(None);
        };
        let options = &self.inner.options;
        let manifest = check_for_update(
            self.inner.http.get()?,
            &server_url,
            &options.target,
            &options.current_version,
        )
        .await?;
        let Some(manifest) = manifest else {
            self.inner.status.send_modify(|s| {
                s.available_version = None;
                s.notes = None;
                s.downloaded = false;
                s.last_error = None;
            });
            return Ok(None);
        };
        if let Some(ready) = self.ready_update().filter(|r| r.manifest == manifest) {
            return Ok(Some(ready));
        }
        self.inner.status.send_modify(|s| {
            s.available_version = Some(manifest.version.clone());
            s.notes = manifest.notes.clone();
            s.bytes_total = manifest.size;
            s.downloaded = false;
            s.last_error = None;
        });
        self.remove_other_downloads(&manifest);
        loop {
            if !may_download(&self.inner.engine.status()) {
                self.inner.status.send_modify(|s| s.paused = true);
                tokio::time::sleep(options.pause_poll).await;
                continue;
            }
            self.inner.status.send_modify(|s| s.paused = false);
            let engine = self.inner.engine.clone();
            let status = self.inner.status.clone();
            let outcome = download_update(
                self.inner.http.get()?,
                &manifest,
                &options.public_key,
                &options.dir,
                || may_download(&engine.status()),
                |done, _| status.send_modify(|s| s.bytes_done = done),
            )
            .await;
            match outcome {
                Ok(DownloadOutcome::Verified(path)) => {
                    let ready = ReadyUpdate { manifest, path };
                    *self.inner.ready.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(ready.clone());
                    self.inner.status.send_modify(|s| {
                        s.downloaded = true;
                        s.paused = false;
                    });
                    return Ok(Some(ready));
                }
                Ok(DownloadOutcome::Paused { .. }) => continue,
                Err(e) => {
                    self.inner
                        .status
                        .send_modify(|s| s.last_error = Some(e.info()));
                    return Err(e);
                }
            }
        }
    }

    /// Downloads of other versions are stale once a newer one is offered.
    fn remove_other_downloads(&self, manifest: &UpdateManifest) {
        let dir = &self.inner.options.dir;
        let (keep_done, keep_part) = artifact_paths(dir, manifest);
        let Ok(listing) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in listing.flatten() {
            let path = entry.path();
            if path != keep_done && path != keep_part {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Runs forever on the current tokio runtime: a check when the server
    /// is (or becomes) reachable, then every `check_interval`.
    pub fn start(&self) {
        let updater = self.clone();
        tokio::spawn(async move { updater.run().await });
    }

    async fn run(&self) {
        let mut sync = self.inner.engine.subscribe();
        loop {
            // Wait until the sync engine has reached the server.
            while sync.borrow_and_update().connection != ConnectionState::Online {
                if sync.changed().await.is_err() {
                    return;
                }
            }
            if let Err(e) = self.check_and_download().await {
                tracing::info!(code = e.code(), error = %e, "update check failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.inner.options.check_interval) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }
}
