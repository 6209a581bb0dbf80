//! Remote wipe orders: given by ops, read on every authenticated request of
//! the device's sessions, confirmed by the device (see
//! `fieldbook_protocol::wipe` for why a confirmation cannot be forged).

use chrono::{DateTime, Utc};
use fieldbook_protocol::{WipeKind, WipeOrder};
use uuid::Uuid;

use super::StorageError;

/// What confirming a wipe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WipeConfirmed {
    /// Recorded now (or already, by an earlier confirmation of the same order).
    Recorded(DateTime<Utc>),
    /// No open order for that device, or a secret that does not match it.
    Refused,
}

pub trait WipeReads {
    /// The unconfirmed wipe order of the device this session was bound to
    /// when ops gave it, with its confirmation secret.
    fn wipe_order_for_session(
        &self,
        session_token_hash: &str,
    ) -> Result<Option<WipeOrder>, StorageError>;

    /// The unconfirmed wipe order of a device named in a request's headers,
    /// without the secret (the request may come from another device).
    fn wipe_order_for_device(&self, device_id: Uuid) -> Result<Option<WipeOrder>, StorageError>;
}

pub trait WipeWrites {
    /// Orders `device_id` wiped. `confirmation` is the fresh secret for a
    /// new order (an existing unconfirmed order keeps its secret, so a
    /// device that already received it can still confirm; `lost` replaces
    /// `retired`, never the other way). A lost device is revoked at once (its
    /// pushes are refused); a retired one keeps pushing until it confirms.
    /// The sessions the device uses now are marked to receive the secret.
    /// `None` when there is no such device.
    fn order_wipe(
        &mut self,
        device_id: Uuid,
        kind: WipeKind,
        confirmation: &str,
    ) -> Result<Option<WipeOrder>, StorageError>;

    /// Records the device's confirmation if `confirmation` is its order's
    /// secret: the device is revoked and every session it used ends.
    fn confirm_wipe(
        &mut self,
        device_id: Uuid,
        confirmation: &str,
    ) -> Result<WipeConfirmed, StorageError>;
}
