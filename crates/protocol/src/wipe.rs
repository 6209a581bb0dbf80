//! Remote wipe: Central Ops order a device to erase what it holds (a laptop
//! retired from service, or lost), the server tells the device in its
//! answers, and the device confirms before it erases.
//!
//! How the order reaches the device:
//! - `lost`: every authenticated request of the device is answered `410`
//!   with [`crate::ErrorCode::WipeOrdered`] and the order in
//!   [`crate::ErrorBody::wipe`]; nothing else is served or accepted.
//! - `retired`: push and blob uploads keep working so everything still
//!   unsent reaches the server; each pull page carries the order in
//!   [`crate::PullPage::wipe`]. The device wipes once nothing is unsent.
//!
//! Why a confirmation cannot be forged: the order carries a random
//! `confirmation` secret only in answers to the sessions the device itself
//! was using when ops gave the order (the server marks them then). Another
//! device, even of the same person, signing in later or naming the device in
//! its headers gets the order without the secret, and the confirmation route
//! accepts nothing but that secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Route (under [`crate::API_PREFIX`]) where a device confirms its wipe:
/// `POST`, no bearer token (the device may have erased it already), a
/// [`WipeConfirmation`] body; `204` when it matched.
pub const WIPE_CONFIRMATION_PATH: &str = "/devices/wipe-confirmation";

/// Why a device must erase itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum WipeKind {
    /// Taken out of service: first send everything still unsent, then wipe.
    Retired,
    /// Lost or stolen: wipe at first contact, send nothing.
    Lost,
}

impl WipeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WipeKind::Retired => "retired",
            WipeKind::Lost => "lost",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<WipeKind> {
        match text {
            "retired" => Some(WipeKind::Retired),
            "lost" => Some(WipeKind::Lost),
            _ => None,
        }
    }
}

/// The order a device receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WipeOrder {
    /// Retired or lost.
    pub kind: WipeKind,
    /// When ops gave the order.
    pub ordered_at: DateTime<Utc>,
    /// The secret to send back in [`WipeConfirmation`]: present only in
    /// answers to the device's own sessions (see the module comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<String>,
}

/// Body of `POST /api/v1/devices/wipe-confirmation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WipeConfirmation {
    /// The device that erased itself.
    pub device_id: Uuid,
    /// [`WipeOrder::confirmation`] as received.
    pub confirmation: String,
}

/// Body of `POST /api/v1/ops/devices/{device_id}/wipe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OrderWipeRequest {
    /// Retired (send everything, then wipe) or lost (wipe at once).
    pub kind: WipeKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_wire_names() {
        for kind in [WipeKind::Retired, WipeKind::Lost] {
            assert_eq!(WipeKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().into())
            );
        }
        assert_eq!(WipeKind::parse("stolen"), None);
    }

    #[test]
    fn an_order_without_its_secret_omits_it() {
        let order = WipeOrder {
            kind: WipeKind::Lost,
            ordered_at: Utc::now(),
            confirmation: None,
        };
        let json = serde_json::to_value(&order).unwrap();
        assert!(json.get("confirmation").is_none(), "{json}");
        let back: WipeOrder = serde_json::from_value(json).unwrap();
        assert_eq!(back, order);
    }
}
