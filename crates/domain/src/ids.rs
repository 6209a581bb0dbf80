//! Identifier types with a checked format.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The human-readable installation id, `INS-YYYY-NNNNNN`: year of creation and a
/// zero-padded sequence per year. Assigned by the server only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallationId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("installation id `{0}` is not of the form INS-YYYY-NNNNNN (for example INS-2026-000042)")]
pub struct InstallationIdError(pub String);

impl InstallationId {
    /// Builds the id for the `sequence`-th installation created in `year`.
    pub fn new(year: i32, sequence: u32) -> Result<Self, InstallationIdError> {
        if !(1000..=9999).contains(&year) || sequence == 0 || sequence > 999_999 {
            return Err(InstallationIdError(format!("INS-{year}-{sequence}")));
        }
        Ok(Self(format!("INS-{year:04}-{sequence:06}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn year(&self) -> i32 {
        self.0[4..8].parse().expect("validated on construction")
    }

    pub fn sequence(&self) -> u32 {
        self.0[9..].parse().expect("validated on construction")
    }
}

impl FromStr for InstallationId {
    type Err = InstallationIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let well_formed = bytes.len() == 15
            && s.starts_with("INS-")
            && bytes[8] == b'-'
            && bytes[4..8].iter().all(u8::is_ascii_digit)
            && bytes[9..].iter().all(u8::is_ascii_digit)
            && &s[9..] != "000000";
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InstallationIdError(s.to_owned()))
        }
    }
}

impl TryFrom<String> for InstallationId {
    type Error = InstallationIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<InstallationId> for String {
    fn from(value: InstallationId) -> Self {
        value.0
    }
}

impl fmt::Display for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lowercase hex SHA-256 digest: how blobs (photos, videos, signatures) and
/// report contents are named.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sha256Hex(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a SHA-256 digest (64 lowercase hex characters)")]
pub struct Sha256HexError(pub String);

impl Sha256Hex {
    /// Digest of `bytes`.
    pub fn digest(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(hex::encode(sha2::Sha256::digest(bytes)))
    }

    /// Wraps a finished hasher's output.
    pub fn from_bytes(digest: [u8; 32]) -> Self {
        Self(hex::encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Raw 32 bytes (for base64 in the tus `Upload-Checksum` header).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.0, &mut out).expect("validated on construction");
        out
    }
}

impl FromStr for Sha256Hex {
    type Err = Sha256HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Sha256HexError(s.to_owned()))
        }
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = Sha256HexError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Sha256Hex> for String {
    fn from(value: Sha256Hex) -> Self {
        value.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installation_id_round_trips() {
        let id = InstallationId::new(2026, 42).unwrap();
        assert_eq!(id.as_str(), "INS-2026-000042");
        assert_eq!(id.year(), 2026);
        assert_eq!(id.sequence(), 42);
        assert_eq!("INS-2026-000042".parse::<InstallationId>().unwrap(), id);
        assert!(id.as_str().len() <= 20);
    }

    #[test]
    fn installation_id_rejects_malformed() {
        for bad in [
            "",
            "INS-2026-42",
            "ins-2026-000042",
            "INS-26-000042",
            "INS-2026-0000421",
            "INS-2026_000042",
            "INS-2026-00004a",
            "INS-2026-000000",
            "INS-2026-000042 ",
        ] {
            assert!(bad.parse::<InstallationId>().is_err(), "{bad:?} accepted");
        }
        assert!(InstallationId::new(2026, 0).is_err());
        assert!(InstallationId::new(2026, 1_000_000).is_err());
    }

    #[test]
    fn installation_id_deserialize_validates() {
        assert!(serde_json::from_str::<InstallationId>("\"INS-2026-000001\"").is_ok());
        assert!(serde_json::from_str::<InstallationId>("\"nope\"").is_err());
    }

    #[test]
    fn sha256_hex() {
        let d = Sha256Hex::digest(b"abc");
        assert_eq!(
            d.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256Hex::from_bytes(d.to_bytes()), d);
        assert!("ABC".parse::<Sha256Hex>().is_err());
        assert!(d.as_str().to_uppercase().parse::<Sha256Hex>().is_err());
    }
}
