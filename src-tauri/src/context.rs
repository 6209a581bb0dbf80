//! What every command works with: the store shared with the sync engine, the
//! media files, and the per-installation queue that orders report autosaves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fieldbook_media::MediaStore;
use fieldbook_secrets::{KeyBackend, Secrets};
use fieldbook_store::Store;
use fieldbook_sync::{KeyringCredentialStore, SharedStore, SyncEngine, SyncError, SyncOptions};
use uuid::Uuid;

use crate::error::{CommandError, CommandResult};
use crate::label_reading::{LabelReader, LABEL_SEARCH_BUDGET};

/// Settings read once at start (environment variables of the app contract).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchSettings {
    /// `FIELDBOOK_SERVER_URL`: pre-filled on the sign-in screen.
    pub default_server_url: Option<String>,
    /// `FIELDBOOK_TEST_HOOKS=1`: the UI exposes its test-only helpers.
    pub test_hooks: bool,
    /// Where the log files go (set up before the store opens); `None` when
    /// the app runs without a log file.
    pub log_dir: Option<PathBuf>,
    /// `FIELDBOOK_ALLOW_HTTP_HOST`: the one server on a private network
    /// that plain http:// may reach (the sign-in screen warns).
    pub allowed_http_host: Option<String>,
}

impl LaunchSettings {
    pub fn from_env() -> Self {
        Self {
            default_server_url: std::env::var("FIELDBOOK_SERVER_URL")
                .ok()
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty()),
            test_hooks: std::env::var("FIELDBOOK_TEST_HOOKS").is_ok_and(|v| v == "1"),
            log_dir: None,
            allowed_http_host: std::env::var("FIELDBOOK_ALLOW_HTTP_HOST")
                .ok()
                .map(|host| host.trim().to_owned())
                .filter(|host| !host.is_empty()),
        }
    }
}

/// Cheap to clone; one per app (managed Tauri state) or per test.
#[derive(Debug, Clone)]
pub struct AppContext {
    /// Behind a std mutex, shared with the sync engine. Never held across an
    /// `.await`: every use runs on a blocking thread and lets go.
    store: SharedStore,
    sync: SyncEngine,
    /// A copy of the store's media paths, so the `media://` protocol serves
    /// files without waiting for the store's lock.
    media: MediaStore,
    data_dir: PathBuf,
    database_path: PathBuf,
    launch: LaunchSettings,
    drafts: DraftQueue,
    /// The background updater of an installed build (see `crate::updates`).
    updater: Option<fieldbook_sync::updates::Updater>,
    /// The data folder's keys and the token; `None` for a store opened
    /// unencrypted (tests and tools, through [`AppContext::new`]).
    secrets: Option<Arc<Secrets>>,
    /// Searches attached photos for the serial label, after their import.
    labels: LabelReader,
}

impl AppContext {
    /// Wraps the opened store and creates its sync engine with the default
    /// options (token and server URL in the data dir). No network I/O.
    pub fn new(store: Store, launch: LaunchSettings) -> Result<Self, SyncError> {
        let data_dir = store.data_dir().to_path_buf();
        let mut options = SyncOptions::new(&data_dir);
        options.allowed_http_host = launch.allowed_http_host.clone();
        Self::with_sync_options(store, launch, options)
    }

    /// The app's way in: the data folder's keys from the OS keyring (or the
    /// key file in `key_file_dir` where no keyring answers; created on first
    /// start), the store's database and media files encrypted with their
    /// keys (an older unencrypted folder is converted first), and the token
    /// kept with the keys.
    pub fn open_encrypted(
        data_dir: &Path,
        key_file_dir: &Path,
        launch: LaunchSettings,
    ) -> Result<Self, SyncError> {
        let secrets = Arc::new(Secrets::open(data_dir, key_file_dir)?);
        let store = Store::open_with_keys(data_dir, &fieldbook_sync::wipe::store_keys(&secrets)?)?;
        let mut options = SyncOptions::new(data_dir);
        options.credentials = Arc::new(KeyringCredentialStore::new(Arc::clone(&secrets), data_dir));
        options.secrets = Some(Arc::clone(&secrets));
        options.allowed_http_host = launch.allowed_http_host.clone();
        let mut ctx = Self::with_sync_options(store, launch, options)?;
        ctx.secrets = Some(secrets);
        Ok(ctx)
    }

    pub fn with_sync_options(
        store: Store,
        launch: LaunchSettings,
        options: SyncOptions,
    ) -> Result<Self, SyncError> {
        let media = store.media_store().clone();
        let data_dir = store.data_dir().to_path_buf();
        let database_path = store.database_path();
        let store: SharedStore = Arc::new(Mutex::new(store));
        let sync = SyncEngine::new(Arc::clone(&store), options)?;
        let labels = LabelReader::start(&store, LABEL_SEARCH_BUDGET);
        Ok(Self {
            store,
            sync,
            media,
            data_dir,
            database_path,
            launch,
            drafts: DraftQueue::default(),
            updater: None,
            secrets: None,
            labels,
        })
    }

    pub fn sync(&self) -> &SyncEngine {
        &self.sync
    }

    pub fn shared_store(&self) -> &SharedStore {
        &self.store
    }

    pub fn media(&self) -> &MediaStore {
        &self.media
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn database_path(&self) -> &Path {
        &self.database_path
    }

    pub fn launch(&self) -> &LaunchSettings {
        &self.launch
    }

    pub fn labels(&self) -> &LabelReader {
        &self.labels
    }

    pub fn drafts(&self) -> &DraftQueue {
        &self.drafts
    }

    /// Adds the background updater (installed builds with an update key).
    pub fn with_updater(mut self, updater: fieldbook_sync::updates::Updater) -> Self {
        self.updater = Some(updater);
        self
    }

    /// The data folder's keys and token (remote wipe forgets them all).
    pub fn secrets(&self) -> Option<&Arc<Secrets>> {
        self.secrets.as_ref()
    }

    /// Where the keys are kept; `None` when the store is not encrypted.
    pub fn key_backend(&self) -> Option<KeyBackend> {
        self.secrets.as_ref().map(|s| s.backend())
    }

    pub fn updater(&self) -> Option<&fieldbook_sync::updates::Updater> {
        self.updater.as_ref()
    }

    /// Runs `f` with the store on a blocking thread: SQLite calls and file
    /// imports must not stall the async runtime (nor the UI thread).
    pub async fn with_store<T, F>(&self, f: F) -> CommandResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> fieldbook_store::Result<T> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().map_err(|_| {
                CommandError::internal(
                    "an earlier action crashed while using the local database; restart Fieldbook",
                )
            })?;
            f(&mut store).map_err(CommandError::from)
        })
        .await
        .map_err(|e| CommandError::internal(format!("the action stopped unexpectedly: {e}")))?
    }

    /// A change of shared data (one that queued an outbox entry) was made:
    /// the sync engine pushes it after its debounce.
    pub fn local_change(&self) {
        self.sync.notify_local_change();
    }
}

/// Orders the report actions of each installation: autosaves, signing and
/// submitting run one at a time per installation, in the order they were
/// called (tokio's mutex is fair), so the last autosave wins and a submit
/// sees every autosave queued before it.
#[derive(Debug, Clone, Default)]
pub struct DraftQueue {
    per_installation: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

impl DraftQueue {
    /// Waits for the installation's earlier report actions, then holds its
    /// turn until the guard is dropped.
    pub async fn turn(&self, installation_id: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let slot = {
            let mut map = self
                .per_installation
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(map.entry(installation_id).or_default())
        };
        slot.lock_owned().await
    }
}
