//! Field-level validation. Errors name the field so the UI can put the message
//! next to the input, and the server answers a bad mutation with the same words.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Charger serial number: spec `Char(50)`, not null, not blank.
pub const MAX_SERIAL_CHARS: usize = 50;
/// Charger model: spec `Char(100)`.
pub const MAX_MODEL_CHARS: usize = 100;
/// Media caption: spec `Char(255)`, may be blank.
pub const MAX_CAPTION_CHARS: usize = 255;
/// Free text (issues encountered, general notes): spec `Text`, bounded so one
/// report cannot grow without limit.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Reasons (decline, could not complete, start anyway).
pub const MAX_REASON_CHARS: usize = 1_000;
/// Names (signer).
pub const MAX_NAME_CHARS: usize = 200;
/// Login names.
pub const MAX_USERNAME_CHARS: usize = 64;
/// A media type (`type/subtype`, RFC 6838 allows 127 characters for each;
/// real ones are far shorter).
pub const MAX_MIME_CHARS: usize = 127;
/// A signature pen colour (`#rrggbbaa`, `rgba(255, 255, 255, 0.5)`, `black`).
pub const MAX_PEN_COLOR_CHARS: usize = 32;
/// Addresses, towns and postcodes of a customer site.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// Phone numbers.
pub const MAX_PHONE_CHARS: usize = 50;
/// E-mail addresses (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// What kind of problem a field has; stable codes the UI can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldErrorCode {
    Required,
    TooLong,
    InvalidFormat,
    ControlCharacters,
    /// A possible but unusual value (a test result outside its usual
    /// limits): the technician must confirm it before submitting.
    NeedsConfirmation,
}

/// One field's problem, with a message a technician can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub code: FieldErrorCode,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: FieldErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }

    pub fn required(field: &str, message: impl Into<String>) -> Self {
        Self::new(field, FieldErrorCode::Required, message)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// All problems found in one object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Records the outcome of one field check.
    pub fn check(&mut self, result: Result<(), FieldError>) {
        if let Err(e) = result {
            self.errors.push(e);
        }
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

fn humanise(field: &str) -> String {
    let s = field.replace('_', " ");
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => s,
    }
}

/// Rejects control characters other than newline, carriage return and tab:
/// they are invisible on screen and break exports.
pub fn no_control_chars(field: &str, value: &str) -> Result<(), FieldError> {
    match value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(c) => Err(FieldError::new(
            field,
            FieldErrorCode::ControlCharacters,
            format!(
                "{} contains an invisible control character (U+{:04X}); retype it",
                humanise(field),
                c as u32
            ),
        )),
        None => Ok(()),
    }
}

/// Single-line values (serial, model, caption, names) may not contain line
/// breaks or tabs either.
fn single_line(field: &str, value: &str) -> Result<(), FieldError> {
    no_control_chars(field, value)?;
    if value.contains(['\n', '\r', '\t']) {
        return Err(FieldError::new(
            field,
            FieldErrorCode::ControlCharacters,
            format!("{} must be on one line", humanise(field)),
        ));
    }
    Ok(())
}

fn max_chars(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let n = value.chars().count();
    if n > max {
        Err(FieldError::new(
            field,
            FieldErrorCode::TooLong,
            format!(
                "{} is {n} characters long; the limit is {max}",
                humanise(field)
            ),
        ))
    } else {
        Ok(())
    }
}

/// Multi-line text that may be blank.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    max_chars(field, value, max)?;
    no_control_chars(field, value)
}

/// Text that must not be blank.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::required(
            field,
            format!("{} is required", humanise(field)),
        ));
    }
    optional_text(field, value, max)
}

/// Charger serial number: required, one line, at most 50 characters.
pub fn charger_serial_number(value: &str) -> Result<(), FieldError> {
    let field = "charger_serial_number";
    if value.trim().is_empty() {
        return Err(FieldError::required(
            field,
            "Enter the serial number printed on the charger's rating plate",
        ));
    }
    max_chars(field, value, MAX_SERIAL_CHARS)?;
    single_line(field, value)
}

/// Charger model: required, one line, at most 100 characters.
pub fn charger_model(value: &str) -> Result<(), FieldError> {
    let field = "charger_model";
    if value.trim().is_empty() {
        return Err(FieldError::required(
            field,
            "Enter the model of the installed charger",
        ));
    }
    max_chars(field, value, MAX_MODEL_CHARS)?;
    single_line(field, value)
}

/// Media caption: may be blank, one line, at most 255 characters.
pub fn caption(value: &str) -> Result<(), FieldError> {
    max_chars("caption", value, MAX_CAPTION_CHARS)?;
    single_line("caption", value)
}

/// A person's name (e.g. the signer): required, one line.
pub fn person_name(field: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::required(
            field,
            format!("{} is required", humanise(field)),
        ));
    }
    max_chars(field, value, MAX_NAME_CHARS)?;
    single_line(field, value)
}

/// A media type such as `image/jpeg`: one line, `type/subtype` made of the
/// characters RFC 6838 allows, at most [`MAX_MIME_CHARS`].
pub fn mime(field: &str, value: &str) -> Result<(), FieldError> {
    max_chars(field, value, MAX_MIME_CHARS)?;
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    match value.split_once('/') {
        Some((kind, subtype)) if token(kind) && token(subtype) => Ok(()),
        _ => Err(FieldError::new(
            field,
            FieldErrorCode::InvalidFormat,
            format!(
                "{} must be a media type such as image/jpeg",
                humanise(field)
            ),
        )),
    }
}

/// A signature pen colour as the canvas takes it (`#1a2b3c`,
/// `rgb(10, 20, 40)`, `black`): at most [`MAX_PEN_COLOR_CHARS`] of letters,
/// digits and `#(),.% `.
pub fn pen_color(value: &str) -> Result<(), FieldError> {
    let field = "pen_color";
    if value.trim().is_empty() {
        return Err(FieldError::required(field, "The pen colour is missing"));
    }
    max_chars(field, value, MAX_PEN_COLOR_CHARS)?;
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "#(),.% ".contains(c))
    {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            FieldErrorCode::InvalidFormat,
            "The pen colour must be a CSS colour such as #000000 or rgb(0, 0, 0)",
        ))
    }
}

/// Installation id in the `INS-YYYY-NNNNNN` format.
pub fn installation_id(value: &str) -> Result<(), FieldError> {
    value
        .parse::<crate::ids::InstallationId>()
        .map(|_| ())
        .map_err(|e| {
            FieldError::new(
                "installation_id",
                FieldErrorCode::InvalidFormat,
                e.to_string(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<(), FieldError>) -> Option<FieldErrorCode> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn serial_rules() {
        assert_eq!(code(charger_serial_number("SN-123")), None);
        assert_eq!(
            code(charger_serial_number("")),
            Some(FieldErrorCode::Required)
        );
        assert_eq!(
            code(charger_serial_number("   ")),
            Some(FieldErrorCode::Required)
        );
        assert_eq!(code(charger_serial_number(&"x".repeat(50))), None);
        assert_eq!(
            code(charger_serial_number(&"x".repeat(51))),
            Some(FieldErrorCode::TooLong)
        );
        // Characters, not bytes: 50 multi-byte characters are fine.
        assert_eq!(code(charger_serial_number(&"é".repeat(50))), None);
        assert_eq!(
            code(charger_serial_number("SN\u{0}1")),
            Some(FieldErrorCode::ControlCharacters)
        );
        assert_eq!(
            code(charger_serial_number("SN\n1")),
            Some(FieldErrorCode::ControlCharacters)
        );
    }

    #[test]
    fn model_and_caption_limits() {
        assert_eq!(code(charger_model(&"m".repeat(100))), None);
        assert_eq!(
            code(charger_model(&"m".repeat(101))),
            Some(FieldErrorCode::TooLong)
        );
        assert_eq!(code(charger_model("")), Some(FieldErrorCode::Required));
        assert_eq!(code(caption("")), None);
        assert_eq!(code(caption(&"c".repeat(255))), None);
        assert_eq!(
            code(caption(&"c".repeat(256))),
            Some(FieldErrorCode::TooLong)
        );
        assert_eq!(
            code(caption("a\u{7}b")),
            Some(FieldErrorCode::ControlCharacters)
        );
    }

    #[test]
    fn text_allows_newlines_and_tabs_but_not_other_controls() {
        assert_eq!(
            code(optional_text(
                "general_notes",
                "line 1\r\nline 2\tend",
                MAX_TEXT_CHARS
            )),
            None
        );
        assert_eq!(
            code(optional_text("general_notes", "", MAX_TEXT_CHARS)),
            None
        );
        assert_eq!(
            code(optional_text("general_notes", "bell\u{7}", MAX_TEXT_CHARS)),
            Some(FieldErrorCode::ControlCharacters)
        );
        assert_eq!(
            code(optional_text(
                "general_notes",
                "esc\u{1b}[0m",
                MAX_TEXT_CHARS
            )),
            Some(FieldErrorCode::ControlCharacters)
        );
        assert_eq!(
            code(optional_text(
                "general_notes",
                &"n".repeat(20_001),
                MAX_TEXT_CHARS
            )),
            Some(FieldErrorCode::TooLong)
        );
        assert_eq!(
            code(required_text("reason", " \n ", 10)),
            Some(FieldErrorCode::Required)
        );
    }

    #[test]
    fn messages_name_the_field_for_people() {
        let e = charger_model(&"m".repeat(101)).unwrap_err();
        assert_eq!(e.field, "charger_model");
        assert_eq!(
            e.message,
            "Charger model is 101 characters long; the limit is 100"
        );
        let e = no_control_chars("general_notes", "a\u{1}").unwrap_err();
        assert!(e.message.contains("U+0001"), "{}", e.message);
    }

    #[test]
    fn mime_and_pen_colour_are_bounded_and_well_formed() {
        assert_eq!(code(mime("mime", "image/jpeg")), None);
        assert_eq!(code(mime("mime", "video/x-matroska")), None);
        assert_eq!(
            code(mime("mime", &format!("image/{}", "x".repeat(200)))),
            Some(FieldErrorCode::TooLong)
        );
        for bad in [
            "",
            "image",
            "image/",
            "/jpeg",
            "image/jp eg",
            "image/jpeg\n",
        ] {
            assert_eq!(
                code(mime("mime", bad)),
                Some(FieldErrorCode::InvalidFormat),
                "{bad:?}"
            );
        }
        for good in ["black", "#1a2b3c", "rgb(10, 20, 40)", "rgba(0, 0, 0, 0.5)"] {
            assert_eq!(code(pen_color(good)), None, "{good}");
        }
        assert_eq!(code(pen_color("")), Some(FieldErrorCode::Required));
        assert_eq!(
            code(pen_color(&"#".repeat(33))),
            Some(FieldErrorCode::TooLong)
        );
        assert_eq!(
            code(pen_color("url(javascript:x)")),
            Some(FieldErrorCode::InvalidFormat)
        );
    }

    #[test]
    fn installation_id_format() {
        assert_eq!(code(installation_id("INS-2026-000001")), None);
        assert_eq!(
            code(installation_id("INS-2026-1")),
            Some(FieldErrorCode::InvalidFormat)
        );
    }

    #[test]
    fn validation_errors_collects() {
        let mut errs = ValidationErrors::default();
        errs.check(charger_model(""));
        errs.check(caption("ok"));
        errs.check(charger_serial_number(""));
        assert_eq!(errs.errors.len(), 2);
        let msg = errs.clone().into_result().unwrap_err().to_string();
        assert!(
            msg.contains("charger_model") && msg.contains("charger_serial_number"),
            "{msg}"
        );
    }
}
