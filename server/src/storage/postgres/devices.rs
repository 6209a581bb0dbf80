//! Devices and the answers to the mutations they pushed (push idempotency).
//!
//! Inside a write transaction the device row is read `FOR UPDATE`: a
//! device's pushes through two instances check and advance its sequence
//! one after the other (SQLite's single writer does that by itself). The
//! replay check takes a transaction advisory lock on the mutation id first:
//! the same mutation pushed twice at once through two instances is applied
//! by one, and the other, once the first committed, finds its stored answer.

use uuid::Uuid;

use super::rows::{from_json, parse_uuid, to_json};
use super::{timestamp, PgDb, PgTx};
use crate::storage::{
    DeviceReads, DeviceRow, DeviceWrites, MutationRecord, StorageError, StoredMutation,
};

impl DeviceReads for PgDb<'_> {
    fn device(&self, device_id: Uuid) -> Result<Option<DeviceRow>, StorageError> {
        let sql = self.locking("SELECT user_id, last_seq FROM devices WHERE device_id = $1");
        self.row(&sql, &[&device_id.to_string()])?
            .map(|r| {
                Ok(DeviceRow {
                    user_id: parse_uuid(&r.try_get::<_, String>(0)?)?,
                    last_seq: r.try_get::<_, i64>(1)? as u64,
                })
            })
            .transpose()
    }

    fn stored_mutation(&self, mutation_id: Uuid) -> Result<Option<StoredMutation>, StorageError> {
        if self.in_write {
            self.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 3))",
                &[&mutation_id.to_string()],
            )?;
        }
        self.row(
            "SELECT device_id, user_id, result FROM mutations WHERE mutation_id = $1",
            &[&mutation_id.to_string()],
        )?
        .map(|r| {
            Ok(StoredMutation {
                device_id: parse_uuid(&r.try_get::<_, String>(0)?)?,
                user_id: parse_uuid(&r.try_get::<_, String>(1)?)?,
                outcome: from_json(&r.try_get::<_, String>(2)?)?,
            })
        })
        .transpose()
    }
}

impl DeviceWrites for PgTx<'_> {
    fn bind_device(&mut self, device_id: Uuid, user_id: Uuid) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT INTO devices (device_id, user_id, last_seq, first_seen) VALUES ($1, $2, 0, $3)",
            &[
                &device_id.to_string(),
                &user_id.to_string(),
                &timestamp(self.now),
            ],
        )?;
        Ok(())
    }

    fn record_mutation(&mut self, m: &MutationRecord<'_>) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT INTO mutations (mutation_id, device_id, device_seq, user_id, kind, \
               base_version, result, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &m.mutation_id.to_string(),
                &m.device_id.to_string(),
                &(m.device_seq as i64),
                &m.user_id.to_string(),
                &m.kind,
                &m.base_version.map(|v| v as i64),
                &to_json(m.outcome)?,
                &timestamp(self.now),
            ],
        )?;
        self.db.execute(
            "UPDATE devices SET last_seq = $1 WHERE device_id = $2",
            &[&(m.device_seq as i64), &m.device_id.to_string()],
        )?;
        Ok(())
    }
}
