//! Remote wipe on the device: what Central Ops' order makes Fieldbook do
//! (see `fieldbook_protocol::wipe` for the server's side).
//!
//! The engine erases through [`erase_everything`], the one place that knows
//! what "everything" is. A record of the wipe (`wipe-notice.json`, no
//! customer data) is written before erasing and kept until the next
//! sign-in, so that
//! - a crash or power cut halfway through erasing is finished at the next
//!   start ([`WipeRecord::erased`] is still false);
//! - the sign-in screen says why the data is gone;
//! - the confirmation is sent at the next contact when the network was gone
//!   at wipe time. The device confirms only after erasing, so a recorded
//!   confirmation means the erase really happened.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fieldbook_protocol::{WipeConfirmation, WipeKind, WipeOrder};
use fieldbook_secrets::Secrets;
use fieldbook_store::{DatabaseKey, MediaKey, StoreKeys};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app_lock::AppLock;
use crate::client::{error_from_response, transport_error};
use crate::credentials::CredentialStore;
use crate::error::SyncError;
use crate::{files, with_store, SharedStore};

/// File name of the wipe record in the data dir.
pub const WIPE_RECORD_FILE: &str = "wipe-notice.json";

/// Erases everything Fieldbook holds about its work on this computer: the
/// database (with WAL and SHM), every media file and thumbnail, the bearer
/// token and the idle lock's password verifier. The store starts again
/// empty (new device id), so the app opens on the sign-in screen.
///
/// With the data folder's `secrets` (an encrypted store) the keys are
/// renewed once the old database is deleted: the old key, and with it
/// anything of the old database the disk still holds, is gone, and the new
/// empty database gets a new key.
pub fn erase_everything(
    store: &SharedStore,
    credentials: &dyn CredentialStore,
    app_lock: &AppLock,
    secrets: Option<&Secrets>,
) -> Result<(), SyncError> {
    match secrets {
        Some(secrets) => with_store(store, |s| {
            s.erase_all_data_with_new_keys(|| {
                secrets.renew().map_err(|e| e.to_string())?;
                store_keys(secrets).map(Some).map_err(|e| e.to_string())
            })
        })?,
        None => with_store(store, |s| s.erase_all_data())?,
    }
    credentials.clear()?;
    app_lock.forget()?;
    Ok(())
}

/// The store's keys (database and media) as the data folder's secrets hold them.
pub fn store_keys(secrets: &Secrets) -> Result<StoreKeys, SyncError> {
    Ok(StoreKeys {
        database: DatabaseKey::new(*secrets.database_key()?.as_bytes()),
        media: Some(MediaKey::new(*secrets.media_key()?.as_bytes())),
    })
}

/// What the sign-in screen shows after a wipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WipeNotice {
    /// Central Ops reported the laptop lost (else retired).
    pub lost: bool,
    pub wiped_at: DateTime<Utc>,
    /// The server recorded the wipe (else it is told at the next contact).
    pub confirmed: bool,
    /// Why the data is gone and what to do, for the person.
    pub message: String,
}

/// The wipe as remembered in the data dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WipeRecord {
    pub kind: WipeKind,
    pub ordered_at: DateTime<Utc>,
    /// The device that was wiped (the store has a new id afterwards).
    pub device_id: Uuid,
    pub server_url: String,
    /// The order's secret, kept until the server took the confirmation.
    pub confirmation: Option<String>,
    /// Everything was erased (false while the erase is under way).
    pub erased: bool,
    pub wiped_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl WipeRecord {
    pub(crate) fn new(order: &WipeOrder, device_id: Uuid, server_url: &str) -> Self {
        Self {
            kind: order.kind,
            ordered_at: order.ordered_at,
            device_id,
            server_url: server_url.to_owned(),
            confirmation: order.confirmation.clone(),
            erased: false,
            wiped_at: None,
            confirmed_at: None,
        }
    }

    pub(crate) fn notice(&self) -> WipeNotice {
        let lost = self.kind == WipeKind::Lost;
        let what = if lost {
            "Central Ops reported this computer lost, so Fieldbook erased its jobs, reports, photos and sign-in from it."
        } else {
            "Central Ops retired this computer: everything on it was sent to the server, then Fieldbook erased its jobs, reports, photos and sign-in from it."
        };
        WipeNotice {
            lost,
            wiped_at: self.wiped_at.unwrap_or(self.ordered_at),
            confirmed: self.confirmed_at.is_some(),
            message: format!(
                "{what} If this is a mistake, ask Central Ops; to work on this computer again, sign in."
            ),
        }
    }
}

/// The wipe record file of one data dir.
#[derive(Debug, Clone)]
pub(crate) struct WipeRecordFile {
    path: PathBuf,
}

impl WipeRecordFile {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(WIPE_RECORD_FILE),
        }
    }

    pub(crate) fn load(&self) -> Result<Option<WipeRecord>, SyncError> {
        match files::read_if_exists(&self.path)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                SyncError::io(
                    format!("{} is damaged", self.path.display()),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            }),
        }
    }

    pub(crate) fn save(&self, record: &WipeRecord) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec_pretty(record).expect("wipe record serialises");
        files::write_atomically(&self.path, &bytes, 0o600)
    }

    pub(crate) fn remove(&self) -> Result<(), SyncError> {
        files::remove_if_exists(&self.path)
    }
}

/// Sends the confirmation of `record` (no token: it was erased). `Ok(true)`
/// when the server took it, `Ok(false)` when it refused it (no open order,
/// or not its secret: nothing more can be done), an error when it could not
/// be reached.
pub(crate) async fn send_confirmation(
    http: &reqwest::Client,
    record: &WipeRecord,
) -> Result<bool, SyncError> {
    let Some(confirmation) = record.confirmation.clone() else {
        return Ok(false);
    };
    let url = format!(
        "{}{}{}",
        record.server_url,
        fieldbook_protocol::API_PREFIX,
        fieldbook_protocol::WIPE_CONFIRMATION_PATH
    );
    let body = WipeConfirmation {
        device_id: record.device_id,
        confirmation,
    };
    let response = http
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(transport_error)?;
    if response.status().is_success() {
        return Ok(true);
    }
    match error_from_response(response).await {
        SyncError::Refused { .. } => Ok(false),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_survives_a_round_trip_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let file = WipeRecordFile::new(dir.path());
        assert_eq!(file.load().unwrap(), None);
        let order = WipeOrder {
            kind: WipeKind::Lost,
            ordered_at: Utc::now(),
            confirmation: Some("secret".into()),
        };
        let record = WipeRecord::new(&order, Uuid::new_v4(), "https://sync.example.com");
        file.save(&record).unwrap();
        assert_eq!(file.load().unwrap(), Some(record.clone()));
        let notice = record.notice();
        assert!(notice.lost);
        assert!(!notice.confirmed);
        assert!(notice.message.contains("lost"), "{}", notice.message);
        file.remove().unwrap();
        assert_eq!(file.load().unwrap(), None);
    }

    #[test]
    fn wiping_an_encrypted_store_renews_its_keys_and_forgets_the_token() {
        use std::sync::{Arc, Mutex};

        use fieldbook_secrets::KeyringUse;
        use fieldbook_store::Store;

        use crate::credentials::KeyringCredentialStore;

        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let secrets = Arc::new(
            Secrets::open_with(&data, &dir.path().join("keys"), KeyringUse::Never).unwrap(),
        );
        let old_keys = store_keys(&secrets).unwrap();
        let old_media_key = *secrets.media_key().unwrap().as_bytes();
        let store: SharedStore =
            Arc::new(Mutex::new(Store::open_with_keys(&data, &old_keys).unwrap()));
        let old_device = lock_store_id(&store);
        // The app's media:// protocol keeps a clone of the media store.
        let media = crate::lock_store(&store).0.media_store().clone();
        let photo = fieldbook_testkit::png_bytes(40, 30, 1);
        let old_blob = media.blob_path(&media.import_bytes(&photo).unwrap().blob.sha256);
        assert!(old_blob.is_file());
        let credentials = KeyringCredentialStore::new(Arc::clone(&secrets), &data);
        credentials.save("token-of-the-lost-laptop").unwrap();
        let app_lock = AppLock::open(&data).unwrap();

        erase_everything(&store, &credentials, &app_lock, Some(&secrets)).unwrap();
        assert_eq!(credentials.load().unwrap(), None);
        assert_ne!(lock_store_id(&store), old_device, "a new, empty store");
        assert!(!old_blob.exists(), "the media are deleted");
        assert_ne!(
            *secrets.media_key().unwrap().as_bytes(),
            old_media_key,
            "the media key is renewed"
        );
        // Media saved after the wipe are sealed with the new key, which the
        // protocol's clone uses too.
        let after = fieldbook_testkit::png_bytes(40, 30, 2);
        let sha = crate::lock_store(&store)
            .0
            .media_store()
            .import_bytes(&after)
            .unwrap()
            .blob
            .sha256;
        assert_eq!(media.read_blob(&sha).unwrap(), after);
        drop(store);

        // The old key opens nothing any more; the new one opens the new store.
        let err = Store::open_with_keys(&data, &old_keys).unwrap_err();
        assert_eq!(err.code(), "wrong_database_key", "{err}");
        let reopened = Store::open_with_keys(&data, &store_keys(&secrets).unwrap()).unwrap();
        assert_eq!(reopened.media_store().read_blob(&sha).unwrap(), after);
    }

    fn lock_store_id(store: &SharedStore) -> Uuid {
        crate::lock_store(store).0.device_id()
    }
}
