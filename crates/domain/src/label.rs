//! Serial number and model read from the barcodes on a charger's label.
//!
//! The media crate decodes the codes in a photo ([`LabelCode`]); this module
//! decides what a code's text says about the charger ([`read_label`]). The
//! result is only ever *offered*: the technician confirms it with one tap.
//!
//! Payloads understood, in this order:
//! 1. **GS1 element strings** (GS1-128, GS1 QR, GS1 DataMatrix, or the
//!    human-readable `(01)…(21)…` form): AI 21 is the serial number, AI 240
//!    ("additional product identification") the model.
//! 2. **key=value pairs** (also `key: value`), separated by `;`, `&`, `|` or
//!    new lines, as manufacturers print in QR codes (`SN=…;MODEL=…`),
//!    including the query string of a URL (`https://…/?sn=…&model=…`).
//!    Serial keys: `sn`, `s/n`, `serial`, `serial_no`, `serial_number`,
//!    `serialnumber`; model keys: `model`, `mdl`, `model_no`, `model_number`,
//!    `model_name`, `modelname` (case and punctuation ignored).
//! 3. **A bare token** (one word of 4–50 letters, digits and `-_/.`, with at
//!    least one digit, not a URL): the serial number, as on a plain Code 128
//!    serial label.
//!
//! A value the report would refuse (too long, several lines) is not offered.

use serde::{Deserialize, Serialize};

use crate::validation;

/// A barcode symbology the label reader decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum CodeFormat {
    Code128,
    Code39,
    QrCode,
    DataMatrix,
}

impl CodeFormat {
    pub const ALL: &'static [CodeFormat] = &[
        CodeFormat::Code128,
        CodeFormat::Code39,
        CodeFormat::QrCode,
        CodeFormat::DataMatrix,
    ];

    /// The database / wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeFormat::Code128 => "code128",
            CodeFormat::Code39 => "code39",
            CodeFormat::QrCode => "qr_code",
            CodeFormat::DataMatrix => "data_matrix",
        }
    }

    pub fn parse(s: &str) -> Option<CodeFormat> {
        CodeFormat::ALL.iter().copied().find(|f| f.as_str() == s)
    }

    /// How the technician knows it.
    pub fn label(self) -> &'static str {
        match self {
            CodeFormat::Code128 => "Code 128 barcode",
            CodeFormat::Code39 => "Code 39 barcode",
            CodeFormat::QrCode => "QR code",
            CodeFormat::DataMatrix => "Data Matrix code",
        }
    }
}

/// One code decoded from a photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LabelCode {
    pub format: CodeFormat,
    /// The decoded text; GS1 field separators are kept as U+001D.
    pub text: String,
    /// The symbol announced GS1 data (FNC1 first / GS1 symbology identifier).
    pub gs1: bool,
}

/// What a code says about the charger. At least one of the two is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LabelReading {
    pub serial_number: Option<String>,
    pub model: Option<String>,
}

/// GS1's group separator (FNC1 inside a GS1 element string).
const GS: char = '\u{1d}';

/// Reads the serial number and model from one code, if it carries either.
pub fn read_label(code: &LabelCode) -> Option<LabelReading> {
    let text = code
        .text
        .trim_matches(|c: char| c.is_whitespace() || c == GS);
    if text.is_empty() {
        return None;
    }
    let reading = if code.gs1 || looks_like_bracketed_gs1(text) {
        read_gs1(text)
    } else if let Some(pairs) = key_value_reading(text) {
        pairs
    } else {
        LabelReading {
            serial_number: bare_serial(text),
            model: None,
        }
    };
    let reading = LabelReading {
        serial_number: reading
            .serial_number
            .filter(|s| validation::charger_serial_number(s).is_ok()),
        model: reading
            .model
            .filter(|m| validation::charger_model(m).is_ok()),
    };
    (reading.serial_number.is_some() || reading.model.is_some()).then_some(reading)
}

fn looks_like_bracketed_gs1(text: &str) -> bool {
    let mut rest = text;
    let Some(after) = rest.strip_prefix('(') else {
        return false;
    };
    rest = after;
    let ai_len = rest.chars().take_while(char::is_ascii_digit).count();
    (2..=4).contains(&ai_len) && rest[ai_len..].starts_with(')')
}

/// Fixed data lengths of the GS1 AIs a charger label may carry before the
/// serial (an AI not listed here with variable length ends at a separator).
fn gs1_fixed_length(ai: &str) -> Option<usize> {
    match ai {
        "00" => Some(18),
        "01" | "02" => Some(14),
        "11" | "12" | "13" | "15" | "16" | "17" => Some(6),
        "20" => Some(2),
        _ => None,
    }
}

/// AIs with variable-length data that labels use; the AI's own length decides
/// where its data starts.
fn gs1_variable_ai(data: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "10", "21", "22", "240", "241", "242", "250", "251", "30", "37", "90", "91", "92", "93",
        "94", "95", "96", "97", "98", "99",
    ];
    // Three-digit AIs first, so "240" is not read as "24" + "0…".
    let mut by_length: Vec<&&str> = KNOWN.iter().collect();
    by_length.sort_by_key(|ai| std::cmp::Reverse(ai.len()));
    by_length
        .into_iter()
        .copied()
        .find(|ai| data.starts_with(ai))
}

fn read_gs1(text: &str) -> LabelReading {
    let elements = if text.starts_with('(') {
        bracketed_gs1_elements(text)
    } else {
        raw_gs1_elements(text)
    };
    let value_of = |wanted: &str| {
        elements
            .iter()
            .find(|(ai, _)| ai == wanted)
            .map(|(_, value)| value.clone())
    };
    LabelReading {
        serial_number: value_of("21"),
        model: value_of("240"),
    }
}

/// `(01)04012345678901(21)SN123` → [("01", …), ("21", "SN123")].
fn bracketed_gs1_elements(text: &str) -> Vec<(String, String)> {
    let mut elements = Vec::new();
    let mut rest = text;
    while let Some(after_open) = rest.strip_prefix('(') {
        let Some(close) = after_open.find(')') else {
            break;
        };
        let ai = &after_open[..close];
        let value_and_more = &after_open[close + 1..];
        let end = value_and_more.find('(').unwrap_or(value_and_more.len());
        elements.push((ai.to_owned(), value_and_more[..end].trim().to_owned()));
        rest = &value_and_more[end..];
    }
    elements
}

/// An element string as encoded: fixed-length AIs run on, variable-length
/// ones end at a GS or at the end. Parsing stops at an AI it does not know.
fn raw_gs1_elements(text: &str) -> Vec<(String, String)> {
    let mut elements = Vec::new();
    let mut rest = text.trim_start_matches(GS);
    while !rest.is_empty() {
        if let Some(ai) = rest.get(..2).filter(|ai| gs1_fixed_length(ai).is_some()) {
            let len = gs1_fixed_length(ai).unwrap_or(0);
            let Some(value) = rest.get(2..2 + len) else {
                break;
            };
            elements.push((ai.to_owned(), value.to_owned()));
            rest = rest[2 + len..].trim_start_matches(GS);
        } else if let Some(ai) = gs1_variable_ai(rest) {
            let data = &rest[ai.len()..];
            let end = data.find(GS).unwrap_or(data.len());
            elements.push((ai.to_owned(), data[..end].to_owned()));
            rest = data[end..].trim_start_matches(GS);
        } else {
            break;
        }
    }
    elements
}

fn key_value_reading(text: &str) -> Option<LabelReading> {
    // A URL's query string carries the pairs; the rest of it does not.
    let pairs_text = if text.contains("://") {
        text.split_once('?')?.1.split('#').next().unwrap_or("")
    } else {
        text
    };
    let mut reading = LabelReading {
        serial_number: None,
        model: None,
    };
    let mut any_pair = false;
    for part in pairs_text.split([';', '&', '|', '\n', '\r']) {
        let Some((key, value)) = part.split_once(['=', ':']) else {
            continue;
        };
        any_pair = true;
        let key: String = key
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let value = percent_decode(value.trim());
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "sn" | "serial" | "serialno" | "serialnumber" if reading.serial_number.is_none() => {
                reading.serial_number = Some(value)
            }
            "model" | "mdl" | "modelno" | "modelnumber" | "modelname"
                if reading.model.is_none() =>
            {
                reading.model = Some(value)
            }
            _ => {}
        }
    }
    any_pair.then_some(reading)
}

/// `%20` and `+` in a URL query; anything malformed is kept as written.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match hex_pair(bytes[i + 1], bytes[i + 2]) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}

fn bare_serial(text: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.');
    let length = text.chars().count();
    ((4..=validation::MAX_SERIAL_CHARS).contains(&length)
        && text.chars().all(allowed)
        && text.chars().any(|c| c.is_ascii_digit())
        && !text.contains("//"))
    .then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(format: CodeFormat, text: &str, gs1: bool) -> LabelCode {
        LabelCode {
            format,
            text: text.to_owned(),
            gs1,
        }
    }

    fn reading(serial: Option<&str>, model: Option<&str>) -> Option<LabelReading> {
        Some(LabelReading {
            serial_number: serial.map(str::to_owned),
            model: model.map(str::to_owned),
        })
    }

    #[test]
    fn a_bare_code_128_is_the_serial() {
        assert_eq!(
            read_label(&code(CodeFormat::Code128, "WB-2024-00A7731", false)),
            reading(Some("WB-2024-00A7731"), None)
        );
    }

    #[test]
    fn words_urls_and_short_tokens_are_not_serials() {
        for text in [
            "hello",
            "ABC",
            "two words 123",
            "https://example.com/x1",
            "",
        ] {
            assert_eq!(
                read_label(&code(CodeFormat::QrCode, text, false)),
                None,
                "{text}"
            );
        }
    }

    #[test]
    fn key_value_payloads_give_serial_and_model() {
        assert_eq!(
            read_label(&code(
                CodeFormat::QrCode,
                "SN=EVC7-22-000123;MODEL=Pulsar Plus 7.4 kW",
                false
            )),
            reading(Some("EVC7-22-000123"), Some("Pulsar Plus 7.4 kW"))
        );
        assert_eq!(
            read_label(&code(
                CodeFormat::DataMatrix,
                "Model: Zappi v2\nS/N: 21034567\nRated: 32A",
                false
            )),
            reading(Some("21034567"), Some("Zappi v2"))
        );
        assert_eq!(
            read_label(&code(
                CodeFormat::QrCode,
                "https://maker.example/reg?serial_number=AB%2D77&model=Home+Charger&x=1",
                false
            )),
            reading(Some("AB-77"), Some("Home Charger"))
        );
        // Pairs present but none about the charger: nothing to offer.
        assert_eq!(
            read_label(&code(CodeFormat::QrCode, "lot=7;colour=red", false)),
            None
        );
    }

    #[test]
    fn gs1_element_strings_give_serial_and_model() {
        // GS1-128 as decoded: GTIN (fixed 14), serial (variable, GS-terminated), model.
        assert_eq!(
            read_label(&code(
                CodeFormat::Code128,
                "0104012345678901\u{1d}21SN-000991\u{1d}240EVB-22-T2",
                true
            )),
            reading(Some("SN-000991"), Some("EVB-22-T2"))
        );
        assert_eq!(
            read_label(&code(
                CodeFormat::DataMatrix,
                "(01)04012345678901(21)XY12345",
                false
            )),
            reading(Some("XY12345"), None)
        );
        // A GS1 symbol with only a GTIN carries neither.
        assert_eq!(
            read_label(&code(CodeFormat::DataMatrix, "0104012345678901", true)),
            None
        );
    }

    #[test]
    fn values_the_report_would_refuse_are_not_offered() {
        let long = format!("SN={};MODEL=ok", "9".repeat(51));
        assert_eq!(
            read_label(&code(CodeFormat::QrCode, &long, false)),
            reading(None, Some("ok"))
        );
    }

    #[test]
    fn format_names_round_trip() {
        for format in CodeFormat::ALL {
            assert_eq!(CodeFormat::parse(format.as_str()), Some(*format));
        }
        assert_eq!(CodeFormat::parse("ean13"), None);
    }
}
