//! An exact decimal number for test results and their limits.
//!
//! Why not `f64`: a certificate must print exactly what the meter showed
//! ("0.350 Ω", not "0.35" or "0.34999999"), and a limit check must not flip
//! on a rounding error. Why not a general decimal library: Fieldbook never
//! does arithmetic on these values, it only parses what was typed, compares
//! it with a template's limits and prints the typed text again. That needs a
//! parser and an ordering, about sixty lines, so no dependency is added.
//! On the wire a decimal is always a JSON string.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most digits a value may have (integer and fraction together); keeps the
/// scaled comparison inside `i128` and is far beyond any meter's display.
pub const MAX_DECIMAL_DIGITS: usize = 18;

/// A decimal number kept as the exact text it was written as
/// (`-?digits[.digits]`), comparable by value.
#[derive(Debug, Clone)]
pub struct ExactDecimal {
    text: String,
    /// The value times `10^scale`.
    mantissa: i128,
    scale: u32,
}

/// Why a text is not an [`ExactDecimal`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("Type a number such as 0.35 (digits, at most one decimal point, no units)")]
    NotANumber,
    #[error("A number may have at most {MAX_DECIMAL_DIGITS} digits")]
    TooManyDigits,
}

impl ExactDecimal {
    /// The text as it was written (surrounding spaces removed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Digits after the decimal point.
    pub fn decimals(&self) -> u32 {
        self.scale
    }

    fn scaled_to(&self, scale: u32) -> i128 {
        // Both sides have at most MAX_DECIMAL_DIGITS digits, so this cannot
        // overflow an i128 (10^36 < 1.7 × 10^38).
        self.mantissa * 10i128.pow(scale - self.scale)
    }
}

impl FromStr for ExactDecimal {
    type Err = DecimalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match unsigned.split_once('.') {
            Some((i, f)) => (i, f),
            None => (unsigned, ""),
        };
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || !digits(int)
            || !digits(frac)
            || (unsigned.contains('.') && frac.is_empty())
        {
            return Err(DecimalError::NotANumber);
        }
        if int.len() + frac.len() > MAX_DECIMAL_DIGITS {
            return Err(DecimalError::TooManyDigits);
        }
        let magnitude: i128 = format!("{int}{frac}")
            .parse()
            .map_err(|_| DecimalError::NotANumber)?;
        let mantissa = if text.starts_with('-') {
            -magnitude
        } else {
            magnitude
        };
        Ok(Self {
            text: text.to_owned(),
            mantissa,
            scale: frac.len() as u32,
        })
    }
}

impl Ord for ExactDecimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.max(other.scale);
        self.scaled_to(scale).cmp(&other.scaled_to(scale))
    }
}

impl PartialOrd for ExactDecimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal by value: `0.5` equals `0.50` (the texts still differ).
impl PartialEq for ExactDecimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ExactDecimal {}

impl fmt::Display for ExactDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ExactDecimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ExactDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> ExactDecimal {
        s.parse().unwrap()
    }

    #[test]
    fn keeps_the_text_exactly_as_typed() {
        assert_eq!(d("0.350").to_string(), "0.350");
        assert_eq!(d(" 12 ").as_str(), "12");
        assert_eq!(d("-0.1").decimals(), 1);
        // The value f64 cannot hold exactly stays exact.
        assert_eq!(d("0.1000000000000001").as_str(), "0.1000000000000001");
    }

    #[test]
    fn compares_by_value_across_scales() {
        assert_eq!(d("0.5"), d("0.50"));
        assert!(d("0.35") < d("0.4"));
        assert!(d("1.37") > d("1.369999999"));
        assert!(d("-2") < d("-1.5"));
        assert!(d("200") > d("199.99"));
        assert!(d("0.1000000000000001") > d("0.1"));
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for bad in [
            "", " ", ".5", "5.", "1e3", "+1", "1,5", "0.35Ω", "NaN", "inf", "1.2.3", "--1", "- 1",
        ] {
            assert_eq!(
                bad.parse::<ExactDecimal>().unwrap_err(),
                DecimalError::NotANumber,
                "{bad:?}"
            );
        }
        assert_eq!(
            "1234567890.123456789".parse::<ExactDecimal>().unwrap_err(),
            DecimalError::TooManyDigits
        );
        // The largest allowed still compares without overflow.
        assert!(d("999999999999999999") > d("0.00000000000000001"));
    }

    #[test]
    fn travels_as_a_json_string() {
        let json = serde_json::to_string(&d("0.050")).unwrap();
        assert_eq!(json, "\"0.050\"");
        let back: ExactDecimal = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "0.050");
        assert!(serde_json::from_str::<ExactDecimal>("0.05").is_err());
        assert!(serde_json::from_str::<ExactDecimal>("\"x\"").is_err());
    }
}
