//! People as ops see them: users, teams, devices (last contact, app version,
//! pending changes, revocation) and open sessions.

use chrono::{DateTime, Utc};
use fieldbook_domain::{Team, User};
use fieldbook_protocol::{DeviceInfo, SessionSummary};
use uuid::Uuid;

use super::StorageError;

/// What a device told the server about itself on a pull or push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceContact {
    pub device_id: Uuid,
    pub user_id: Uuid,
    pub app_version: Option<String>,
    pub pending_changes: Option<u64>,
}

/// An open session and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: Uuid,
    pub summary: SessionSummary,
}

/// A device row as stored.
pub type DeviceRecord = DeviceInfo;

pub trait PeopleReads {
    /// Every user, by full name.
    fn all_users(&self) -> Result<Vec<User>, StorageError>;

    /// Every team by name, with how many active installations (not closed
    /// or cancelled) each has a non-withdrawn assignment to.
    fn all_teams(&self) -> Result<Vec<(Team, u64)>, StorageError>;

    /// Every device, most recently seen first.
    fn all_devices(&self) -> Result<Vec<DeviceRecord>, StorageError>;

    /// One device.
    fn device_record(&self, device_id: Uuid) -> Result<Option<DeviceRecord>, StorageError>;

    /// Whether ops revoked this device.
    fn device_revoked(&self, device_id: Uuid) -> Result<bool, StorageError>;

    /// Sessions neither revoked nor expired at `now`, newest first.
    fn open_sessions(&self, now: DateTime<Utc>) -> Result<Vec<SessionRecord>, StorageError>;
}

/// How stale a device's "last seen" may get before a contact that changes
/// nothing else writes it again.
pub const CONTACT_TIME_STEP: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

pub trait PeopleWrites {
    /// Notes a device's pull or push: when (to the minute: a contact that
    /// changes nothing else writes nothing within a minute of the last
    /// one), its app version and pending changes, and which session it used. A device id that belongs to
    /// another user is left alone (push refuses it with its own answer).
    fn record_device_contact(
        &mut self,
        contact: &DeviceContact,
        session_token_hash: &str,
    ) -> Result<(), StorageError>;

    /// Records that the session `session_token_hash` is used by `device_id`,
    /// if that device is `user_id`'s (a push names its device in every
    /// mutation, also without the device header).
    fn link_session_to_device(
        &mut self,
        session_token_hash: &str,
        device_id: Uuid,
        user_id: Uuid,
    ) -> Result<(), StorageError>;

    /// Revokes a device and every open session it was seen using. False if
    /// no such device.
    fn revoke_device(&mut self, device_id: Uuid) -> Result<bool, StorageError>;

    /// Revokes a session by its id (the token's hash). False if there is no
    /// such open session.
    fn revoke_session_by_id(&mut self, session_id: &str) -> Result<bool, StorageError>;
}
