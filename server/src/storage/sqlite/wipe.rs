//! Remote wipe orders: given by ops, read on every authenticated request of
//! the device's sessions, confirmed by the device (see
//! `fieldbook_protocol::wipe` for why a confirmation cannot be forged).

use fieldbook_protocol::{WipeKind, WipeOrder};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::{parse_timestamp, timestamp, SqliteDb, SqliteTx};
use crate::storage::{StorageError, WipeConfirmed, WipeReads, WipeWrites};

fn order_from(
    kind: String,
    ordered_at: String,
    confirmation: Option<String>,
) -> Result<WipeOrder, StorageError> {
    Ok(WipeOrder {
        kind: WipeKind::parse(&kind)
            .ok_or_else(|| StorageError::Corrupt(format!("unknown wipe kind {kind:?}")))?,
        ordered_at: parse_timestamp(&ordered_at)?,
        confirmation,
    })
}

impl WipeReads for SqliteDb<'_> {
    fn wipe_order_for_session(
        &self,
        session_token_hash: &str,
    ) -> Result<Option<WipeOrder>, StorageError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT d.wipe_kind, d.wipe_ordered_at, d.wipe_confirmation \
                 FROM sessions s JOIN devices d ON d.device_id = s.wipe_device_id \
                 WHERE s.token_hash = ?1 AND d.wipe_kind IS NOT NULL \
                   AND d.wipe_confirmed_at IS NULL",
            )?
            .query_row([session_token_hash], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(kind, at, secret)| order_from(kind, at, secret))
            .transpose()
    }

    fn wipe_order_for_device(&self, device_id: Uuid) -> Result<Option<WipeOrder>, StorageError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT wipe_kind, wipe_ordered_at FROM devices \
                 WHERE device_id = ?1 AND wipe_kind IS NOT NULL AND wipe_confirmed_at IS NULL",
            )?
            .query_row([device_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(kind, at)| order_from(kind, at, None)).transpose()
    }
}

impl WipeWrites for SqliteTx<'_> {
    fn order_wipe(
        &mut self,
        device_id: Uuid,
        kind: WipeKind,
        confirmation: &str,
    ) -> Result<Option<WipeOrder>, StorageError> {
        let now = timestamp(self.now);
        let device = device_id.to_string();
        let current: Option<(Option<String>, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT wipe_kind, wipe_confirmed_at FROM devices WHERE device_id = ?1",
            )?
            .query_row([&device], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((current_kind, confirmed)) = current else {
            return Ok(None);
        };
        let kind = match current_kind.as_deref().and_then(WipeKind::parse) {
            Some(WipeKind::Lost) => WipeKind::Lost,
            _ => kind,
        };
        if confirmed.is_none() {
            self.tx.execute(
                "UPDATE devices SET wipe_kind = ?1, \
                   wipe_ordered_at = coalesce(wipe_ordered_at, ?2), \
                   wipe_confirmation = coalesce(wipe_confirmation, ?3) \
                 WHERE device_id = ?4",
                params![kind.as_str(), now, confirmation, device],
            )?;
            self.tx.execute(
                "UPDATE sessions SET wipe_device_id = ?1 \
                 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![device],
            )?;
        }
        if kind == WipeKind::Lost {
            self.tx.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?1) WHERE device_id = ?2",
                params![now, device],
            )?;
        }
        let (kind, ordered_at) = self
            .tx
            .prepare_cached("SELECT wipe_kind, wipe_ordered_at FROM devices WHERE device_id = ?1")?
            .query_row([&device], |r| Ok((r.get(0)?, r.get(1)?)))?;
        order_from(kind, ordered_at, None).map(Some)
    }

    fn confirm_wipe(
        &mut self,
        device_id: Uuid,
        confirmation: &str,
    ) -> Result<WipeConfirmed, StorageError> {
        let now = timestamp(self.now);
        let device = device_id.to_string();
        let row: Option<(Option<String>, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT wipe_confirmation, wipe_confirmed_at FROM devices WHERE device_id = ?1",
            )?
            .query_row([&device], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((Some(secret), confirmed_at)) = row else {
            return Ok(WipeConfirmed::Refused);
        };
        // Compared as hashes: the time a comparison takes says nothing
        // about how much of the secret was right.
        if crate::auth::token_hash(&secret) != crate::auth::token_hash(confirmation) {
            return Ok(WipeConfirmed::Refused);
        }
        if let Some(at) = confirmed_at {
            return Ok(WipeConfirmed::Recorded(parse_timestamp(&at)?));
        }
        self.tx.execute(
            "UPDATE devices SET wipe_confirmed_at = ?1, revoked_at = coalesce(revoked_at, ?1) \
             WHERE device_id = ?2",
            params![now, device],
        )?;
        self.tx.execute(
            "UPDATE sessions SET revoked_at = ?1 \
             WHERE (device_id = ?2 OR wipe_device_id = ?2) AND revoked_at IS NULL",
            params![now, device],
        )?;
        Ok(WipeConfirmed::Recorded(self.now))
    }
}
