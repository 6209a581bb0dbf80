//! Remote wipe orders: given by ops, read on every authenticated request of
//! the device's sessions, confirmed by the device (see
//! `fieldbook_protocol::wipe` for why a confirmation cannot be forged).

use fieldbook_protocol::{WipeKind, WipeOrder};
use uuid::Uuid;

use super::{parse_timestamp, timestamp, PgDb, PgTx};
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

impl WipeReads for PgDb<'_> {
    fn wipe_order_for_session(
        &self,
        session_token_hash: &str,
    ) -> Result<Option<WipeOrder>, StorageError> {
        self.row(
            "SELECT d.wipe_kind, d.wipe_ordered_at, d.wipe_confirmation \
             FROM sessions s JOIN devices d ON d.device_id = s.wipe_device_id \
             WHERE s.token_hash = $1 AND d.wipe_kind IS NOT NULL \
               AND d.wipe_confirmed_at IS NULL",
            &[&session_token_hash],
        )?
        .map(|r| order_from(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
        .transpose()
    }

    fn wipe_order_for_device(&self, device_id: Uuid) -> Result<Option<WipeOrder>, StorageError> {
        self.row(
            "SELECT wipe_kind, wipe_ordered_at FROM devices \
             WHERE device_id = $1 AND wipe_kind IS NOT NULL AND wipe_confirmed_at IS NULL",
            &[&device_id.to_string()],
        )?
        .map(|r| order_from(r.try_get(0)?, r.try_get(1)?, None))
        .transpose()
    }
}

impl WipeWrites for PgTx<'_> {
    fn order_wipe(
        &mut self,
        device_id: Uuid,
        kind: WipeKind,
        confirmation: &str,
    ) -> Result<Option<WipeOrder>, StorageError> {
        let now = timestamp(self.now);
        let device = device_id.to_string();
        let current: Option<(Option<String>, Option<String>)> = self
            .db
            .row(
                "SELECT wipe_kind, wipe_confirmed_at FROM devices WHERE device_id = $1 FOR UPDATE",
                &[&device],
            )?
            .map(|r| Ok::<_, StorageError>((r.try_get(0)?, r.try_get(1)?)))
            .transpose()?;
        let Some((current_kind, confirmed)) = current else {
            return Ok(None);
        };
        let kind = match current_kind.as_deref().and_then(WipeKind::parse) {
            Some(WipeKind::Lost) => WipeKind::Lost,
            _ => kind,
        };
        if confirmed.is_none() {
            self.db.execute(
                "UPDATE devices SET wipe_kind = $1, \
                   wipe_ordered_at = coalesce(wipe_ordered_at, $2), \
                   wipe_confirmation = coalesce(wipe_confirmation, $3) \
                 WHERE device_id = $4",
                &[&kind.as_str(), &now, &confirmation, &device],
            )?;
            self.db.execute(
                "UPDATE sessions SET wipe_device_id = $1 \
                 WHERE device_id = $1 AND revoked_at IS NULL",
                &[&device],
            )?;
        }
        if kind == WipeKind::Lost {
            self.db.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, $1) WHERE device_id = $2",
                &[&now, &device],
            )?;
        }
        let row = self.db.one(
            "SELECT wipe_kind, wipe_ordered_at FROM devices WHERE device_id = $1",
            &[&device],
        )?;
        order_from(row.try_get(0)?, row.try_get(1)?, None).map(Some)
    }

    fn confirm_wipe(
        &mut self,
        device_id: Uuid,
        confirmation: &str,
    ) -> Result<WipeConfirmed, StorageError> {
        let now = timestamp(self.now);
        let device = device_id.to_string();
        let row: Option<(Option<String>, Option<String>)> = self
            .db
            .row(
                "SELECT wipe_confirmation, wipe_confirmed_at FROM devices \
                 WHERE device_id = $1 FOR UPDATE",
                &[&device],
            )?
            .map(|r| Ok::<_, StorageError>((r.try_get(0)?, r.try_get(1)?)))
            .transpose()?;
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
        self.db.execute(
            "UPDATE devices SET wipe_confirmed_at = $1, revoked_at = coalesce(revoked_at, $1) \
             WHERE device_id = $2",
            &[&now, &device],
        )?;
        self.db.execute(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE (device_id = $2 OR wipe_device_id = $2) AND revoked_at IS NULL",
            &[&now, &device],
        )?;
        Ok(WipeConfirmed::Recorded(self.now))
    }
}
