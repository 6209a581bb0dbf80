//! Devices and the answers to the mutations they pushed (push idempotency).

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::{from_json, parse_uuid, to_json};
use super::{timestamp, SqliteDb, SqliteTx};
use crate::storage::{
    DeviceReads, DeviceRow, DeviceWrites, MutationRecord, StorageError, StoredMutation,
};

impl DeviceReads for SqliteDb<'_> {
    fn device(&self, device_id: Uuid) -> Result<Option<DeviceRow>, StorageError> {
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT user_id, last_seq FROM devices WHERE device_id = ?1")?
            .query_row([device_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(u, s)| {
            Ok(DeviceRow {
                user_id: parse_uuid(&u)?,
                last_seq: s as u64,
            })
        })
        .transpose()
    }

    fn stored_mutation(&self, mutation_id: Uuid) -> Result<Option<StoredMutation>, StorageError> {
        let row: Option<(String, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT device_id, user_id, result FROM mutations WHERE mutation_id = ?1",
            )?
            .query_row([mutation_id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(d, u, result)| {
            Ok(StoredMutation {
                device_id: parse_uuid(&d)?,
                user_id: parse_uuid(&u)?,
                outcome: from_json(&result)?,
            })
        })
        .transpose()
    }
}

impl DeviceWrites for SqliteTx<'_> {
    fn bind_device(&mut self, device_id: Uuid, user_id: Uuid) -> Result<(), StorageError> {
        self.tx.execute(
            "INSERT INTO devices (device_id, user_id, last_seq, first_seen) VALUES (?1, ?2, 0, ?3)",
            params![
                device_id.to_string(),
                user_id.to_string(),
                timestamp(self.now)
            ],
        )?;
        Ok(())
    }

    fn record_mutation(&mut self, m: &MutationRecord<'_>) -> Result<(), StorageError> {
        self.tx
            .prepare_cached(
                "INSERT INTO mutations (mutation_id, device_id, device_seq, user_id, kind, \
                   base_version, result, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                m.mutation_id.to_string(),
                m.device_id.to_string(),
                m.device_seq as i64,
                m.user_id.to_string(),
                m.kind,
                m.base_version.map(|v| v as i64),
                to_json(m.outcome)?,
                timestamp(self.now)
            ])?;
        self.tx
            .prepare_cached("UPDATE devices SET last_seq = ?1 WHERE device_id = ?2")?
            .execute(params![m.device_seq as i64, m.device_id.to_string()])?;
        Ok(())
    }
}
