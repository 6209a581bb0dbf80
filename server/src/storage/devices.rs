//! Devices and the answers to the mutations they pushed (push idempotency).

use fieldbook_protocol::MutationOutcome;
use uuid::Uuid;

use super::StorageError;

/// A mutation's stored answer.
#[derive(Debug, Clone)]
pub struct StoredMutation {
    pub device_id: Uuid,
    pub user_id: Uuid,
    pub outcome: MutationOutcome,
}

/// A mutation's answer as it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct MutationRecord<'a> {
    pub mutation_id: Uuid,
    pub device_id: Uuid,
    pub device_seq: u64,
    pub user_id: Uuid,
    pub kind: &'a str,
    pub base_version: Option<u64>,
    pub outcome: &'a MutationOutcome,
}

/// Who owns a device id and how far its sequence got.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRow {
    pub user_id: Uuid,
    pub last_seq: u64,
}

pub trait DeviceReads {
    /// Who owns a device id and how far its push sequence got; `None` for
    /// a device never seen.
    fn device(&self, device_id: Uuid) -> Result<Option<DeviceRow>, StorageError>;

    /// A mutation's stored answer, for push idempotency: a replayed
    /// mutation gets the same answer again.
    fn stored_mutation(&self, mutation_id: Uuid) -> Result<Option<StoredMutation>, StorageError>;
}

pub trait DeviceWrites {
    /// Binds a device id seen for the first time to its user (sequence 0).
    fn bind_device(&mut self, device_id: Uuid, user_id: Uuid) -> Result<(), StorageError>;

    /// Stores a mutation's answer and advances its device's sequence.
    fn record_mutation(&mut self, m: &MutationRecord<'_>) -> Result<(), StorageError>;
}
