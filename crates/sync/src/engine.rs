//! The engine: sign-in / sign-out, one sync cycle (push, pull, blob
//! uploads), and the background loop that runs it on start, after local
//! changes (debounced), on request and when connectivity returns, never two
//! at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use fieldbook_store::Session;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use uuid::Uuid;

use crate::app_lock::AppLock;
use crate::blobs::{BlobProgress, BlobUploader};
use crate::client::{ApiClient, DeviceReport, LazyHttpClient};
use crate::credentials::{CredentialStore, FileCredentialStore};
use crate::error::SyncError;
use crate::near_window;
use crate::pull;
use crate::push::{self, SequenceOffsets};
use crate::retention;
use crate::settings::{normalise_server_url, Settings, SettingsFile};
use crate::status::{
    ConnectionState, SyncErrorInfo, SyncPhase, SyncProgress, SyncStatus, SyncSummary,
};
use crate::wipe::{erase_everything, send_confirmation, WipeRecord, WipeRecordFile};
use crate::{lock_store, with_store, SharedStore};

/// How the engine behaves; [`SyncOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Where the settings (server URL) and the token file live.
    pub data_dir: PathBuf,
    pub credentials: Arc<dyn CredentialStore>,
    /// The data folder's keys, when its store is encrypted: remote wipe
    /// renews them (see [`crate::wipe::erase_everything`]).
    pub secrets: Option<Arc<fieldbook_secrets::Secrets>>,
    /// Wait after [`SyncEngine::notify_local_change`] before syncing, so a
    /// burst of edits goes out in one push.
    pub debounce: Duration,
    /// Cap of the connectivity probe's exponential backoff.
    pub max_backoff: Duration,
    /// Deadline of one JSON request (blob uploads stream without one).
    pub http_timeout: Duration,
    /// A sync also runs this long after the last one, to pick up what ops
    /// changed even when the technician changes nothing.
    pub poll_interval: Duration,
    /// The one host plain `http://` may go to besides loopback (a server
    /// on a private network; see [`crate::transport`]).
    pub allowed_http_host: Option<String>,
}

impl SyncOptions {
    /// Defaults: 2 s debounce, backoff capped at 3 min, 30 s requests, a
    /// pull every 5 min, the token in a 0600 file in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            credentials: Arc::new(FileCredentialStore::new(&data_dir)),
            secrets: None,
            data_dir,
            debounce: Duration::from_secs(2),
            max_backoff: Duration::from_secs(180),
            http_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(300),
            allowed_http_host: None,
        }
    }
}

/// First retry delay after a failure; doubled per failure up to the cap.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// Exponential backoff with jitter: each delay is drawn from the upper half
/// of the current step, so many devices coming back after an outage do not
/// hit the server in lockstep.
#[derive(Debug, Clone)]
struct Backoff {
    step: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Self {
            step: INITIAL_BACKOFF.min(max),
            max,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let jitter = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }

    fn reset(&mut self) {
        self.step = INITIAL_BACKOFF.min(self.max);
    }
}

/// How long the loop waits after a failed sync: the backoff's next delay,
/// but never less than a busy server's `Retry-After` (a `503 busy` pull, a
/// conflict), plus up to half of it again so the devices it turned away do
/// not all come back in the same second. Capped by the backoff's cap.
fn retry_delay(error: &SyncError, backoff: &mut Backoff) -> Duration {
    let delay = backoff.next_delay();
    match error {
        SyncError::Server {
            retry_after: Some(wait),
            ..
        } => {
            let jitter = rand::thread_rng().gen_range(0..=wait.as_millis() as u64 / 2);
            delay
                .max(*wait + Duration::from_millis(jitter))
                .min(backoff.max)
        }
        _ => delay,
    }
}

/// What the loop has been asked to do.
#[derive(Debug, Default)]
struct Schedule {
    /// "Sync now": skips the debounce and the backoff.
    requested: bool,
    /// When the debounce after the first unsynced local change ends. Later
    /// changes do not push it back, so steady typing still syncs.
    local_change_due: Option<Instant>,
}

struct Inner {
    store: SharedStore,
    options: SyncOptions,
    http: LazyHttpClient,
    settings_file: SettingsFile,
    settings: Mutex<Settings>,
    token: Mutex<Option<String>>,
    status: watch::Sender<SyncStatus>,
    /// Held for the whole of a sync: never two at once.
    in_flight: tokio::sync::Mutex<()>,
    schedule: Mutex<Schedule>,
    wake: Notify,
    loop_started: AtomicBool,
    /// Raised by a local change: a running blob upload stops at the next
    /// chunk so the change is pushed without waiting for a long video.
    blob_yield: Arc<AtomicBool>,
    /// Kept across syncs (per server) with its settings and yield flag.
    uploader: Mutex<Option<(String, BlobUploader)>>,
    /// The record of a remote wipe, kept until the next sign-in.
    wipe_file: WipeRecordFile,
    /// The idle lock; its verifier is set at sign-in.
    app_lock: Arc<AppLock>,
}

/// The sync engine of one data dir. Cheap to clone (an `Arc` inside);
/// shares the store with the app's commands.
#[derive(Clone)]
pub struct SyncEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("data_dir", &self.inner.options.data_dir)
            .field("server_url", &self.server_url())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().expect("sync engine lock poisoned")
}

impl SyncEngine {
    /// Reads the saved server URL and token; does no network I/O.
    pub fn new(store: SharedStore, options: SyncOptions) -> Result<SyncEngine, SyncError> {
        let settings_file = SettingsFile::new(&options.data_dir);
        let settings = settings_file.load()?;
        let wipe_file = WipeRecordFile::new(&options.data_dir);
        let wipe = wipe_file.load()?;
        let app_lock = Arc::new(AppLock::open(&options.data_dir)?);
        let token = options.credentials.load()?;
        let http = LazyHttpClient::new(options.http_timeout);
        let (status, _) = watch::channel(SyncStatus::default());
        let engine = SyncEngine {
            inner: Arc::new(Inner {
                store,
                options,
                http,
                settings_file,
                settings: Mutex::new(settings),
                token: Mutex::new(token),
                status,
                in_flight: tokio::sync::Mutex::new(()),
                schedule: Mutex::new(Schedule::default()),
                wake: Notify::new(),
                loop_started: AtomicBool::new(false),
                blob_yield: Arc::new(AtomicBool::new(false)),
                uploader: Mutex::new(None),
                wipe_file,
                app_lock,
            }),
        };
        if let Some(mut record) = wipe {
            if !record.erased {
                // The power went out halfway through a wipe: finish it.
                tracing::warn!("finishing a remote wipe that was interrupted");
                engine.erase_everything()?;
                *lock(&engine.inner.token) = None;
                record.erased = true;
                record.wiped_at = Some(Utc::now());
                engine.inner.wipe_file.save(&record)?;
            }
            engine
                .inner
                .status
                .send_modify(|s| s.wiped = Some(record.notice()));
        }
        engine.refresh_counts()?;
        Ok(engine)
    }

    /// The store this engine syncs.
    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    /// Logs in, records the session in the store (a different user than
    /// before gets a new device id; refused while the previous user's work
    /// is unsent) and remembers the server URL and token. Then asks the loop
    /// for a sync.
    pub async fn sign_in(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
    ) -> Result<Session, SyncError> {
        let url = self.checked_server_url(server_url)?;
        // A wipe not yet confirmed: this is the next contact.
        self.confirm_pending_wipe().await;
        let client = self.api_client(url.clone())?;
        let login = client.login(username.trim(), password).await?;
        let team_ids: Vec<Uuid> = login.teams.iter().map(|t| t.id).collect();
        let signed_in = {
            let mut store = lock_store(&self.inner.store);
            store.side().sign_in(&login.user, &team_ids)
        };
        let session = match signed_in {
            Ok(session) => session,
            Err(e) => {
                // The token we just got must not linger on the server.
                let _ = client.logout(&login.token).await;
                return Err(e.into());
            }
        };
        self.inner.options.credentials.save(&login.token)?;
        // The password that just worked unlocks the idle lock offline.
        let app_lock = Arc::clone(&self.inner.app_lock);
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || app_lock.remember_password(&password))
            .await
            .map_err(|e| SyncError::Protocol(format!("hashing the password stopped: {e}")))??;
        {
            let mut settings = lock(&self.inner.settings);
            let mut updated = settings.clone();
            updated.server_url = Some(url);
            self.inner.settings_file.save(&updated)?;
            *settings = updated;
        }
        *lock(&self.inner.token) = Some(login.token);
        // Someone signed in again after a wipe: its message has been seen.
        if self.status().wiped.is_some() {
            self.inner.wipe_file.remove()?;
        }
        self.inner.status.send_modify(|s| {
            s.signed_in = true;
            s.needs_sign_in = false;
            s.wiped = None;
            if s.last_error
                .as_ref()
                .is_some_and(|e| e.code == "unauthorized")
            {
                s.last_error = None;
            }
        });
        self.refresh_counts()?;
        self.request_sync();
        Ok(session)
    }

    /// Signs out: refused with `unsynced_work` while mutations or files
    /// wait to be sent, unless `force` (they stay on this computer for the
    /// next sign-in of the same user). Revokes the token on the server if it
    /// can be reached, forgets it here and clears the store's session.
    pub async fn sign_out(&self, force: bool) -> Result<(), SyncError> {
        let (pending_mutations, pending_blobs) = {
            let mut lock = lock_store(&self.inner.store);
            let store = lock.side();
            let counts = store.outbox_counts()?;
            let blobs = store.blobs_pending_upload(usize::MAX)?.len() as u64;
            (counts.pending + counts.needs_attention, blobs)
        };
        if !force && (pending_mutations > 0 || pending_blobs > 0) {
            return Err(SyncError::UnsyncedWork {
                pending_mutations,
                pending_blobs,
            });
        }
        let token = lock(&self.inner.token).take();
        if let (Some(token), Some(url), Ok(http)) =
            (token, self.server_url(), self.inner.http.get())
        {
            let client = ApiClient::new(http.clone(), url);
            // Best effort: offline, the token simply expires on the server.
            let _ = tokio::time::timeout(Duration::from_secs(5), client.logout(&token)).await;
        }
        self.inner.options.credentials.clear()?;
        self.inner.app_lock.forget()?;
        with_store(&self.inner.store, |s| s.sign_out())?;
        self.inner.status.send_modify(|s| {
            s.signed_in = false;
            s.needs_sign_in = false;
            s.last_error = None;
            s.next_attempt_at = None;
        });
        Ok(())
    }

    /// A typed server address, normalised and checked against the
    /// transport rules (no plain http:// off this computer).
    fn checked_server_url(&self, server_url: &str) -> Result<String, SyncError> {
        let url = normalise_server_url(server_url)?;
        let parsed = reqwest::Url::parse(&url).map_err(|e| SyncError::InvalidServerUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        crate::transport::check_transport(
            &parsed,
            self.inner.options.allowed_http_host.as_deref(),
        )?;
        Ok(url)
    }

    /// A client of the server at `url` on the engine's HTTP client (built
    /// at its first use; a failure to build it fails this request).
    fn api_client(&self, url: String) -> Result<ApiClient, SyncError> {
        Ok(ApiClient::new(self.inner.http.get()?.clone(), url))
    }

    /// The server this device syncs with, once someone signed in.
    pub fn server_url(&self) -> Option<String> {
        lock(&self.inner.settings).server_url.clone()
    }

    /// Starts the background loop on the current tokio runtime. Idempotent.
    pub fn start(&self) {
        if self.inner.loop_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move { engine.run_loop().await });
    }

    /// A local change was recorded: the status's pending counts are re-read
    /// at once (the header shows them the moment the change is saved, not
    /// at the next sync), and the loop syncs after the debounce.
    pub fn notify_local_change(&self) {
        self.inner.blob_yield.store(true, Ordering::Release);
        self.recount_pending();
        {
            let mut schedule = lock(&self.inner.schedule);
            if schedule.local_change_due.is_none() {
                schedule.local_change_due = Some(Instant::now() + self.inner.options.debounce);
            }
        }
        self.inner.wake.notify_one();
    }

    /// "Sync now": the loop syncs at once, skipping the debounce and the
    /// backoff. Does not wait for the sync.
    pub fn request_sync(&self) {
        lock(&self.inner.schedule).requested = true;
        self.inner.wake.notify_one();
    }

    /// Asks the server for the signed-in user's jobs matching `text`,
    /// including those no longer on this device (retention). Fails with
    /// `offline` when the server cannot be reached.
    pub async fn search_server(
        &self,
        text: &str,
    ) -> Result<fieldbook_protocol::InstallationSearchResults, SyncError> {
        let (client, token, _) = self.connection()?;
        client.search_installations(&token, text).await
    }

    /// The status snapshot now.
    pub fn status(&self) -> SyncStatus {
        self.inner.status.borrow().clone()
    }

    /// Every change of the status, as it happens.
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// One full cycle: push the outbox, pull every page, upload files. Waits
    /// for a sync already running to end first (never two at once).
    pub async fn sync_once(&self) -> Result<SyncSummary, SyncError> {
        let _in_flight = self.inner.in_flight.lock().await;
        self.inner.status.send_modify(|s| {
            s.last_attempt_at = Some(Utc::now());
        });
        let started = std::time::Instant::now();
        let span = tracing::info_span!("sync_cycle");
        let result = tracing::Instrument::instrument(self.cycle(), span.clone()).await;
        let _entered = span.enter();
        log_cycle(&result, started.elapsed());
        let finished_at = Utc::now();
        if result.is_ok() {
            // Kept in the store so a restart offline still says when the
            // data was last fresh; a failed write only loses that, not data.
            let written = lock_store(&self.inner.store)
                .side()
                .record_sync_success(finished_at);
            if let Err(e) = written {
                tracing::warn!(error = %e, "could not record the sync's time");
            }
        }
        let counts = self.refresh_counts();
        self.inner.status.send_modify(|s| {
            s.phase = SyncPhase::Idle;
            s.progress = None;
            s.first_sync = false;
            match &result {
                Ok((_, warning)) => {
                    s.connection = ConnectionState::Online;
                    s.last_success_at = Some(finished_at);
                    s.last_error = warning.clone();
                }
                Err(e) => {
                    s.last_error = Some(e.info());
                    match e {
                        SyncError::Offline { .. } => s.connection = ConnectionState::Offline,
                        SyncError::Unauthorized => {
                            s.connection = ConnectionState::Online;
                            s.needs_sign_in = true;
                        }
                        // The server answered: it is reachable.
                        SyncError::Server { .. }
                        | SyncError::RateLimited { .. }
                        | SyncError::Refused { .. }
                        | SyncError::ForeignDevice
                        | SyncError::Protocol(_) => s.connection = ConnectionState::Online,
                        _ => {}
                    }
                }
            }
        });
        counts?;
        result.map(|(summary, _)| summary)
    }

    fn set_phase(&self, phase: SyncPhase, progress: SyncProgress) {
        self.inner.status.send_modify(|s| {
            s.phase = phase;
            s.progress = Some(progress);
        });
    }

    /// Server, token and user of the current session.
    fn connection(&self) -> Result<(ApiClient, String, Uuid), SyncError> {
        let saved = self.server_url().ok_or(SyncError::NotSignedIn)?;
        // Saved by an earlier version, or before the setting changed.
        let url = self.checked_server_url(&saved)?;
        let (session, device) = {
            let mut lock = lock_store(&self.inner.store);
            let store = lock.side();
            let session = store.session()?.ok_or(SyncError::NotSignedIn)?;
            let device = DeviceReport {
                device_id: store.device_id(),
                pending_changes: store.outbox_counts()?.pending,
            };
            (session, device)
        };
        let token = lock(&self.inner.token)
            .clone()
            .ok_or(SyncError::Unauthorized)?;
        Ok((
            self.api_client(url)?.with_device(device),
            token,
            session.user.id,
        ))
    }

    /// The summary, and what to show in the status line although the cycle
    /// went through (a file that cannot be uploaded).
    async fn cycle(&self) -> Result<(SyncSummary, Option<SyncErrorInfo>), SyncError> {
        let (client, token, user_id) = self.connection()?;
        let result = self.cycle_with(&client, &token, user_id).await;
        if let Err(SyncError::WipeOrdered(order)) = result {
            self.carry_out_wipe(order, client.base()).await?;
            return Ok((SyncSummary::default(), None));
        }
        if let Err(SyncError::Unauthorized) = result {
            // The token is dead: forget it so a restart also asks for the
            // password (unless a sign-in replaced it meanwhile). The outbox
            // and the session stay.
            let mut current = lock(&self.inner.token);
            if current.as_deref() == Some(token.as_str()) {
                *current = None;
                drop(current);
                self.inner.options.credentials.clear()?;
            }
        }
        result
    }

    async fn cycle_with(
        &self,
        client: &ApiClient,
        token: &str,
        user_id: Uuid,
    ) -> Result<(SyncSummary, Option<SyncErrorInfo>), SyncError> {
        let mut summary = SyncSummary::default();
        // Everything recorded so far goes out with this push.
        self.inner.blob_yield.store(false, Ordering::Release);

        self.set_phase(SyncPhase::Pushing, SyncProgress::default());
        let offsets = SequenceOffsets {
            settings: &self.inner.settings,
            file: &self.inner.settings_file,
        };
        let status = &self.inner.status;
        let pushed = push::push_all(
            client,
            token,
            &self.inner.store,
            &offsets,
            &|done, total| {
                status.send_modify(|s| {
                    s.progress = Some(SyncProgress {
                        items_done: done,
                        items_total: Some(total),
                        ..SyncProgress::default()
                    });
                });
            },
        )
        .await?;
        summary.pushed = pushed.applied;
        summary.refused = pushed.refused;
        summary.held = pushed.held;

        self.set_phase(SyncPhase::Pulling, SyncProgress::default());
        let first_sync =
            !pushed.server_lost_history && near_window::is_first_sync(&self.inner.store, user_id)?;
        // A first sync: the coming days' jobs at once, so the technician can
        // work while everything else arrives. The full pull runs alongside
        // and neither waits for the other (see near_window).
        let near_records = AtomicU64::new(0);
        let (window_applied, applied_ahead) = tokio::sync::oneshot::channel();
        let near = async {
            if !first_sync {
                return;
            }
            status.send_modify(|s| s.first_sync = true);
            let today = chrono::Local::now().date_naive();
            match near_window::pull_near_window(client, token, &self.inner.store, user_id, today)
                .await
            {
                Ok(Some(applied)) => {
                    let records = applied.len() as u64;
                    near_records.store(records, Ordering::Relaxed);
                    status.send_modify(|s| {
                        s.pulled_at = Some(Utc::now());
                        s.progress = Some(SyncProgress {
                            items_done: records,
                            ..SyncProgress::default()
                        });
                    });
                    // The full pull's later pages leave these out.
                    let _ = window_applied.send(applied);
                }
                Ok(None) => {}
                // The full pull brings the same jobs (or fails the same way).
                Err(err) => {
                    tracing::warn!(%err, "could not fetch the near window; pulling everything")
                }
            }
        };
        let progress = |records| {
            status.send_modify(|s| {
                s.progress = Some(SyncProgress {
                    items_done: near_records.load(Ordering::Relaxed) + records,
                    ..SyncProgress::default()
                });
            });
        };
        let full = pull::pull_all(
            client,
            token,
            &self.inner.store,
            user_id,
            pushed.server_lost_history,
            first_sync.then_some(applied_ahead),
            &progress,
        );
        let ((), pulled) = tokio::join!(near, full);
        let pulled = pulled?;
        summary.pulled_records = pulled.records;
        if pulled.restarted_from_zero {
            tracing::info!(
                pages = pulled.pages,
                removed = pulled.removed,
                kept = pulled.kept,
                "pulled everything again from zero (the server had lost history)"
            );
        }
        let retired = match pulled.retention_days {
            Some(days) => retention::remove_retired(&self.inner.store, days).await?,
            None => 0,
        };
        if pulled.records > 0 || pulled.removed > 0 || retired > 0 {
            status.send_modify(|s| s.pulled_at = Some(Utc::now()));
        }

        // Files last: a long video must not hold back reports and status
        // changes, which are on the server by now.
        self.set_phase(SyncPhase::Uploading, SyncProgress::default());
        let uploader = self.uploader(client, token);
        let uploaded = uploader
            .upload_pending(&self.inner.store, &|p: BlobProgress| {
                status.send_modify(|s| {
                    s.pending_blob_bytes = p.bytes_total.saturating_sub(p.bytes_done);
                    s.progress = Some(SyncProgress {
                        items_done: p.blobs_done,
                        items_total: Some(p.blobs_total),
                        bytes_done: p.bytes_done,
                        bytes_total: p.bytes_total,
                    });
                });
            })
            .await?;
        summary.uploaded_blobs = uploaded.uploaded_blobs;
        summary.uploaded_bytes = uploaded.uploaded_bytes;
        if let Some(order) = pulled.wipe {
            // Retired: wipe once everything this device holds reached the
            // server (reports, changes and files); until then keep sending.
            let (counts, blobs) = {
                let mut lock = lock_store(&self.inner.store);
                let store = lock.side();
                (
                    store.outbox_counts()?,
                    store.blobs_pending_upload(usize::MAX)?.len(),
                )
            };
            if counts.pending == 0 && blobs == 0 {
                return Err(SyncError::WipeOrdered(order));
            }
            tracing::info!(
                pending = counts.pending,
                files = blobs,
                "retired by Central Ops; wiping once everything is sent"
            );
        }
        let warning = uploaded.failed.first().map(|f| SyncErrorInfo {
            code: f.code.clone(),
            message: f.message.clone(),
        });
        Ok((summary, warning))
    }

    /// Erases this device as ordered, then confirms to `server_url` (or at
    /// the next contact when that fails). See [`crate::wipe`].
    async fn carry_out_wipe(
        &self,
        order: fieldbook_protocol::WipeOrder,
        server_url: &str,
    ) -> Result<(), SyncError> {
        tracing::warn!(
            kind = order.kind.as_str(),
            "Central Ops ordered this device wiped; erasing"
        );
        let device_id = lock_store(&self.inner.store).side().device_id();
        let mut record = WipeRecord::new(&order, device_id, server_url);
        self.inner.wipe_file.save(&record)?;
        *lock(&self.inner.token) = None;
        lock(&self.inner.uploader).take();
        self.erase_everything()?;
        record.erased = true;
        record.wiped_at = Some(Utc::now());
        self.inner.wipe_file.save(&record)?;
        self.inner.status.send_modify(|s| {
            s.wiped = Some(record.notice());
            s.signed_in = false;
            s.needs_sign_in = false;
        });
        self.confirm_pending_wipe().await;
        Ok(())
    }

    /// [`erase_everything`] of this engine's store, token and lock.
    fn erase_everything(&self) -> Result<(), SyncError> {
        erase_everything(
            &self.inner.store,
            self.inner.options.credentials.as_ref(),
            &self.inner.app_lock,
            self.inner.options.secrets.as_deref(),
        )
    }

    /// The idle lock of this data dir.
    pub fn app_lock(&self) -> &Arc<AppLock> {
        &self.inner.app_lock
    }

    /// Tells the server a wipe happened, if it was not told yet. Best
    /// effort: offline, it is tried again at the next start or sign-in.
    async fn confirm_pending_wipe(&self) {
        let Ok(Some(mut record)) = self.inner.wipe_file.load() else {
            return;
        };
        if !record.erased || record.confirmation.is_none() {
            return;
        }
        let sent = match self.inner.http.get() {
            Ok(http) => {
                tokio::time::timeout(Duration::from_secs(10), send_confirmation(http, &record))
                    .await
            }
            Err(err) => Ok(Err(err)),
        };
        match sent {
            Ok(Ok(accepted)) => {
                if accepted {
                    record.confirmed_at = Some(Utc::now());
                    tracing::info!("the server recorded the wipe");
                } else {
                    tracing::warn!(
                        "the server refused the wipe confirmation; not sending it again"
                    );
                }
                record.confirmation = None;
                if let Err(err) = self.inner.wipe_file.save(&record) {
                    tracing::warn!(%err, "could not note the wipe confirmation");
                }
                self.inner
                    .status
                    .send_modify(|s| s.wiped = Some(record.notice()));
            }
            Ok(Err(err)) => {
                tracing::info!(%err, "wipe confirmation not sent; trying at the next contact")
            }
            Err(_) => tracing::info!("wipe confirmation timed out; trying at the next contact"),
        }
    }

    /// The blob uploader for this server with the current token.
    fn uploader(&self, client: &ApiClient, token: &str) -> BlobUploader {
        let mut cached = lock(&self.inner.uploader);
        match cached.as_ref() {
            Some((url, uploader)) if url == client.base() => uploader.with_token(token.to_owned()),
            _ => {
                let uploader =
                    BlobUploader::new(client.http().clone(), client.base(), token.to_owned())
                        .yield_to(Arc::clone(&self.inner.blob_yield));
                *cached = Some((client.base().to_owned(), uploader.clone()));
                uploader
            }
        }
    }

    /// Re-reads the pending counts off the caller's thread when there is a
    /// runtime (the store lock may be held by a page being applied), else
    /// right here.
    fn recount_pending(&self) {
        let engine = self.clone();
        let recount = move || {
            if let Err(err) = engine.refresh_counts() {
                tracing::warn!(%err, "could not re-count the pending changes");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(recount)),
            Err(_) => recount(),
        }
    }

    /// Re-reads the counts the status shows from the store.
    fn refresh_counts(&self) -> Result<(), SyncError> {
        let (counts, blobs, session, last_synced_at) = {
            let mut lock = lock_store(&self.inner.store);
            let store = lock.side();
            (
                store.outbox_counts()?,
                store.blobs_pending_upload(usize::MAX)?,
                store.session()?,
                store.last_synced_at()?,
            )
        };
        let has_token = lock(&self.inner.token).is_some();
        self.inner.status.send_if_modified(|s| {
            let before = s.clone();
            s.pending_mutations = counts.pending;
            s.needs_attention = counts.needs_attention;
            s.pending_blobs = blobs.len() as u64;
            s.pending_blob_bytes = blobs
                .iter()
                .map(|b| b.blob.size.saturating_sub(b.upload_offset))
                .sum();
            s.signed_in = session.is_some();
            s.last_success_at = last_synced_at;
            s.needs_sign_in = session.is_some() && !has_token;
            *s != before
        });
        Ok(())
    }

    /// What the loop does when its time comes: `requested` syncs at once;
    /// otherwise, while the server was unreachable, a cheap health probe
    /// goes first.
    async fn due_sync(&self, requested: bool) -> Result<SyncSummary, SyncError> {
        let offline = self.status().connection == ConnectionState::Offline;
        if offline && !requested {
            let url = self.server_url().ok_or(SyncError::NotSignedIn)?;
            let client = self.api_client(url)?;
            if let Err(e) = client.health().await {
                self.inner.status.send_modify(|s| {
                    s.last_attempt_at = Some(Utc::now());
                    s.last_error = Some(e.info());
                });
                return Err(e);
            }
            self.inner
                .status
                .send_modify(|s| s.connection = ConnectionState::Online);
        }
        self.sync_once().await
    }

    async fn run_loop(self) {
        self.confirm_pending_wipe().await;
        let options = &self.inner.options;
        let mut backoff = Backoff::new(options.max_backoff);
        // Sync on start.
        let mut retry_at: Option<Instant> = Some(Instant::now());
        let mut poll_at = Instant::now() + options.poll_interval;
        loop {
            let _ = self.refresh_counts();
            let can_sync = {
                let s = self.inner.status.borrow();
                s.signed_in && !s.needs_sign_in
            };
            let (requested, local_due) = {
                let schedule = lock(&self.inner.schedule);
                (schedule.requested, schedule.local_change_due)
            };
            let deadline = if requested {
                Some(Instant::now())
            } else if !can_sync {
                None
            } else {
                // While failing, local changes wait for the backoff too:
                // the next attempt probes first.
                match retry_at {
                    Some(retry) => Some(retry),
                    None => Some(local_due.map_or(poll_at, |due| due.min(poll_at))),
                }
            };
            self.publish_next_attempt(deadline);
            match deadline {
                Some(deadline) if deadline > Instant::now() => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = self.inner.wake.notified() => continue,
                    }
                }
                Some(_) => {}
                None => {
                    self.inner.wake.notified().await;
                    continue;
                }
            }
            let requested = {
                let mut schedule = lock(&self.inner.schedule);
                let requested = schedule.requested;
                schedule.requested = false;
                if schedule
                    .local_change_due
                    .is_some_and(|due| due <= Instant::now())
                    || requested
                {
                    schedule.local_change_due = None;
                }
                requested
            };
            if requested {
                backoff.reset();
            }
            self.publish_next_attempt(None);
            let result = self.due_sync(requested).await;
            poll_at = Instant::now() + options.poll_interval;
            retry_at = match result {
                Ok(_) => {
                    backoff.reset();
                    None
                }
                Err(SyncError::Unauthorized) | Err(SyncError::NotSignedIn) => None,
                Err(SyncError::RateLimited {
                    retry_after: Some(wait),
                    ..
                }) => Some(Instant::now() + wait),
                Err(e) => {
                    let delay = retry_delay(&e, &mut backoff);
                    tracing::info!(error = %e, ?delay, "sync failed; retrying later");
                    Some(Instant::now() + delay)
                }
            };
            if let Some(retry) = retry_at {
                // Whatever was due is covered by the retry.
                let mut schedule = lock(&self.inner.schedule);
                if schedule.local_change_due.is_some_and(|due| due <= retry) {
                    schedule.local_change_due = None;
                }
            }
        }
    }

    fn publish_next_attempt(&self, deadline: Option<Instant>) {
        let at = deadline.map(|d| {
            let wait = d.saturating_duration_since(Instant::now());
            Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()
        });
        self.inner.status.send_if_modified(|s| {
            let changed =
                s.next_attempt_at.map(|t| t.timestamp_millis()) != at.map(|t| t.timestamp_millis());
            if changed {
                s.next_attempt_at = at;
            }
            changed
        });
    }
}

/// The one line per cycle a support person reads first: what went where,
/// how long it took, and why it failed.
fn log_cycle(result: &Result<(SyncSummary, Option<SyncErrorInfo>), SyncError>, took: Duration) {
    let duration_ms = took.as_millis() as u64;
    match result {
        Ok((summary, warning)) => tracing::info!(
            pushed = summary.pushed,
            refused = summary.refused,
            held = summary.held,
            pulled_records = summary.pulled_records,
            uploaded_blobs = summary.uploaded_blobs,
            uploaded_bytes = summary.uploaded_bytes,
            warning = warning.as_ref().map(|w| w.code.as_str()),
            duration_ms,
            "sync cycle done"
        ),
        Err(e) => tracing::warn!(
            code = e.code(),
            error = %e,
            duration_ms,
            "sync cycle failed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_secs(8));
        let mut previous_step = Duration::ZERO;
        for _ in 0..10 {
            let step = backoff.step;
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} outside {step:?}"
            );
            assert!(step >= previous_step);
            assert!(step <= Duration::from_secs(8));
            previous_step = step;
        }
        assert_eq!(backoff.step, Duration::from_secs(8));
        backoff.reset();
        assert_eq!(backoff.step, INITIAL_BACKOFF);
    }

    #[test]
    fn a_busy_servers_retry_after_is_waited_with_jitter_then_backoff_grows() {
        let busy = SyncError::Server {
            status: 503,
            message: "busy".into(),
            retry_after: Some(Duration::from_secs(4)),
        };
        let mut backoff = Backoff::new(Duration::from_secs(180));
        let mut delays = Vec::new();
        for _ in 0..6 {
            let delay = retry_delay(&busy, &mut backoff);
            assert!(delay >= Duration::from_secs(4), "{delay:?}");
            delays.push(delay);
        }
        // Early retries wait the server's 4-6 s, not the backoff's 0.5-1 s.
        assert!(delays[0] <= Duration::from_secs(6), "{delays:?}");
        // Failing on, the backoff takes over: 16-32 s by the sixth attempt.
        assert!(delays[5] >= Duration::from_secs(16), "{delays:?}");

        // A 503 without Retry-After keeps the plain backoff.
        let mut backoff = Backoff::new(Duration::from_secs(180));
        let plain = SyncError::Server {
            status: 503,
            message: "timeout".into(),
            retry_after: None,
        };
        assert!(retry_delay(&plain, &mut backoff) <= INITIAL_BACKOFF);

        // The cap holds even against a long Retry-After.
        let mut backoff = Backoff::new(Duration::from_secs(2));
        assert!(retry_delay(&busy, &mut backoff) <= Duration::from_secs(2));
    }

    #[test]
    fn a_small_cap_also_caps_the_first_delay() {
        let mut backoff = Backoff::new(Duration::from_millis(200));
        assert!(backoff.next_delay() <= Duration::from_millis(200));
    }
}
