//! Report templates: which photos and which commissioning test results a job
//! needs, defined as data by Central Ops and versioned.
//!
//! One definition drives the device's form, its "what is missing" answer and
//! the server's check on submit: both call [`ReportTemplate::check`]. A
//! report records the template version it was filled against
//! ([`TemplateRef`]), so publishing a new version never invalidates a report
//! filled against an older one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::decimal::ExactDecimal;
use crate::ids::Sha256Hex;
use crate::validation::{self, FieldError, FieldErrorCode, ValidationErrors};

/// The template an installation uses when ops chose none. It ships built in
/// (see [`default_uk_template`]); ops may publish newer versions of it.
pub const DEFAULT_TEMPLATE_ID: &str = "uk-ev-charger";

/// Template ids, field keys and slot keys: `[a-z0-9_-]`, at most this long.
pub const MAX_KEY_CHARS: usize = 64;
/// Template names, labels, slot names, units and option labels.
pub const MAX_LABEL_CHARS: usize = 120;
/// Hints under a field or a photo slot.
pub const MAX_HINT_CHARS: usize = 500;
/// Most photo slots, fields and options a template may have (a bound on
/// what a device must render and store).
pub const MAX_TEMPLATE_ITEMS: usize = 200;
/// A text test result's longest allowed limit.
pub const MAX_TEST_TEXT_CHARS: u32 = 2_000;

/// Prefix of [`FieldError::field`] for a test result (`test_results.ze_ohms`).
pub const TEST_RESULTS_FIELD: &str = "test_results";
/// Prefix of [`FieldError::field`] for a photo slot (`photo_slots.earthing`).
pub const PHOTO_SLOTS_FIELD: &str = "photo_slots";

/// The yes/no answers as stored in a [`TestValue`].
pub const YES: &str = "yes";
pub const NO: &str = "no";

/// Which version of which template a report was filled against.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateRef {
    pub id: String,
    pub version: u32,
}

/// A versioned report template. Versions are assigned by the server when ops
/// publish; a published version never changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportTemplate {
    pub id: String,
    pub version: u32,
    pub name: String,
    /// The photo checklist, in the order the screen shows it.
    pub photo_slots: Vec<PhotoSlot>,
    /// The commissioning tests, grouped as the form and certificate show them.
    pub sections: Vec<TestSection>,
}

/// One named photo the job needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoSlot {
    pub key: String,
    pub name: String,
    /// What a good photo shows.
    pub hint: String,
    pub required: Requirement,
}

/// A heading of the test form with its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestSection {
    pub title: String,
    pub fields: Vec<TestField>,
}

/// One commissioning test result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestField {
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub hint: String,
    pub kind: FieldKind,
    pub required: Requirement,
}

/// The type of a test result and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldKind {
    /// One of a fixed list.
    Choice { options: Vec<ChoiceOption> },
    /// An exact decimal with a unit. Outside `min..=max` the value is
    /// impossible (invalid); outside `usual_min..=usual_max` it is possible
    /// but unusual and must be confirmed.
    Decimal {
        unit: String,
        #[cfg_attr(feature = "ts", ts(type = "string | null"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        min: Option<ExactDecimal>,
        #[cfg_attr(feature = "ts", ts(type = "string | null"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        max: Option<ExactDecimal>,
        #[cfg_attr(feature = "ts", ts(type = "string | null"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        usual_min: Option<ExactDecimal>,
        #[cfg_attr(feature = "ts", ts(type = "string | null"))]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
        usual_max: Option<ExactDecimal>,
        /// Most digits after the decimal point.
        max_decimals: u32,
    },
    /// Yes or no; an answer other than `usual` must be confirmed.
    YesNo { usual: Option<bool> },
    /// Free text on one line.
    Text { max_chars: u32 },
}

/// One option of a choice: the stored value and what the screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChoiceOption {
    pub value: String,
    pub label: String,
}

/// When a field or photo slot must be filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Requirement {
    Always,
    Optional,
    /// Applies (and is required) only while the test result `field` holds
    /// one of `is_one_of`; otherwise it is hidden and ignored.
    If {
        field: String,
        is_one_of: Vec<String>,
    },
}

/// One test result as the technician entered it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestValue {
    /// Exactly as typed or chosen: a decimal's text, a choice's value,
    /// `yes`/`no`, or text.
    pub value: String,
    /// The value the technician confirmed as correct although it is outside
    /// the usual limits. A confirmation covers only that exact value:
    /// changing the value asks again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<String>,
}

/// What fills a photo slot: a photo attached to the job, or the reason it
/// cannot have one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SlotFill {
    Photo { sha256: Sha256Hex },
    NoPhoto { reason: String },
}

/// Test results by field key.
pub type TestResults = BTreeMap<String, TestValue>;
/// Photo slot fills by slot key.
pub type PhotoSlotFills = BTreeMap<String, SlotFill>;

/// What a template says about a draft's test results and photo slots.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TemplateCheck {
    /// Keys of the fields and slots that apply now, in form order
    /// (`test_results.ze_ohms`, `photo_slots.earthing`): the form shows
    /// these and hides the rest.
    pub applicable: Vec<String>,
    /// Values that cannot be right (not a number, not an option, beyond
    /// the possible limits): shown while typing.
    pub invalid: Vec<FieldError>,
    /// Values outside the usual limits that the technician has not
    /// confirmed yet.
    pub needs_confirmation: Vec<FieldError>,
    /// Required fields and slots not filled yet.
    pub missing: Vec<FieldError>,
}

impl TemplateCheck {
    /// Everything that stops a submit, in form order of kind: missing first,
    /// then invalid, then unconfirmed.
    pub fn blocking(&self) -> Vec<FieldError> {
        let mut all = self.missing.clone();
        all.extend(self.invalid.iter().cloned());
        all.extend(self.needs_confirmation.iter().cloned());
        all
    }
}

/// One line of a filled report's test results, as a certificate prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TestResultLine {
    pub section: String,
    pub label: String,
    /// Exact text with the unit: "0.35 Ω", "TN-C-S", "Yes".
    pub value: String,
}

/// The templates every server and device has without being told: the
/// default template's first version.
pub fn builtin_templates() -> Vec<ReportTemplate> {
    vec![crate::default_uk_template()]
}

/// A built-in template version, when `r` names one.
pub fn builtin_template(r: &TemplateRef) -> Option<ReportTemplate> {
    builtin_templates()
        .into_iter()
        .find(|t| &t.template_ref() == r)
}

fn test_field_name(key: &str) -> String {
    format!("{TEST_RESULTS_FIELD}.{key}")
}

fn slot_field_name(key: &str) -> String {
    format!("{PHOTO_SLOTS_FIELD}.{key}")
}

impl ReportTemplate {
    pub fn template_ref(&self) -> TemplateRef {
        TemplateRef {
            id: self.id.clone(),
            version: self.version,
        }
    }

    fn fields(&self) -> impl Iterator<Item = (&TestSection, &TestField)> {
        self.sections
            .iter()
            .flat_map(|s| s.fields.iter().map(move |f| (s, f)))
    }

    fn field(&self, key: &str) -> Option<&TestField> {
        self.fields().map(|(_, f)| f).find(|f| f.key == key)
    }

    /// Whether a requirement's condition holds for these results. A
    /// condition on a field that itself does not apply does not hold, so
    /// conditions chain (PEN fault protection → how it is provided).
    fn applies(&self, req: &Requirement, results: &TestResults, depth: usize) -> bool {
        match req {
            Requirement::Always | Requirement::Optional => true,
            Requirement::If { field, is_one_of } => {
                let Some(f) = self.field(field) else {
                    return false;
                };
                // Templates are checked for cycles on publish; the depth
                // bound only guards a hand-edited database.
                depth < MAX_TEMPLATE_ITEMS
                    && self.applies(&f.required, results, depth + 1)
                    && results
                        .get(field)
                        .is_some_and(|v| is_one_of.iter().any(|o| o == v.value.trim()))
            }
        }
    }

    /// Checks a draft's test results and photo slots against this template,
    /// with the photos (`media`) attached to the job now. The device calls
    /// this after every autosave; the server calls it on submit.
    pub fn check(
        &self,
        results: &TestResults,
        slots: &PhotoSlotFills,
        media: &[Sha256Hex],
    ) -> TemplateCheck {
        let mut out = TemplateCheck::default();
        for (_, field) in self.fields() {
            if !self.applies(&field.required, results, 0) {
                continue;
            }
            let name = test_field_name(&field.key);
            out.applicable.push(name.clone());
            let entered = results
                .get(&field.key)
                .filter(|v| !v.value.trim().is_empty());
            let Some(entered) = entered else {
                if field.required != Requirement::Optional {
                    out.missing.push(FieldError::required(
                        &name,
                        format!("Enter {}", field.label),
                    ));
                }
                continue;
            };
            match field.kind.judge(&field.label, &entered.value) {
                Judgement::Fine => {}
                Judgement::Invalid(message) => out.invalid.push(FieldError::new(
                    &name,
                    FieldErrorCode::InvalidFormat,
                    message,
                )),
                Judgement::Unusual(message) => {
                    if entered.confirmed.as_deref() != Some(entered.value.as_str()) {
                        out.needs_confirmation.push(FieldError::new(
                            &name,
                            FieldErrorCode::NeedsConfirmation,
                            message,
                        ));
                    }
                }
            }
        }
        for slot in &self.photo_slots {
            if !self.applies(&slot.required, results, 0) {
                continue;
            }
            let name = slot_field_name(&slot.key);
            out.applicable.push(name.clone());
            match slots.get(&slot.key) {
                Some(SlotFill::Photo { sha256 }) if !media.contains(sha256) => {
                    out.missing.push(FieldError::required(
                        &name,
                        format!(
                            "The photo for “{}” was removed: take it again or say why there is none",
                            slot.name
                        ),
                    ));
                }
                Some(SlotFill::Photo { .. }) => {}
                Some(SlotFill::NoPhoto { reason }) => {
                    let checked = if reason.trim().is_empty() {
                        Err(FieldError::required(
                            &name,
                            format!("Say why “{}” cannot have a photo", slot.name),
                        ))
                    } else {
                        validation::optional_text(&name, reason, validation::MAX_REASON_CHARS)
                    };
                    if let Err(e) = checked {
                        if e.code == FieldErrorCode::Required {
                            out.missing.push(e);
                        } else {
                            out.invalid.push(e);
                        }
                    }
                }
                None if slot.required != Requirement::Optional => {
                    out.missing.push(FieldError::required(
                        &name,
                        format!(
                            "Take the photo “{}” or say why it cannot be taken",
                            slot.name
                        ),
                    ));
                }
                None => {}
            }
        }
        // A result or fill for something the template does not have is a
        // device or template mix-up; say so rather than keep it silently.
        for key in results.keys() {
            if self.field(key).is_none() {
                out.invalid.push(FieldError::new(
                    &test_field_name(key),
                    FieldErrorCode::InvalidFormat,
                    format!(
                        "Template {} version {} has no test result “{key}”",
                        self.id, self.version
                    ),
                ));
            }
        }
        for key in slots.keys() {
            if !self.photo_slots.iter().any(|s| &s.key == key) {
                out.invalid.push(FieldError::new(
                    &slot_field_name(key),
                    FieldErrorCode::InvalidFormat,
                    format!(
                        "Template {} version {} has no photo slot “{key}”",
                        self.id, self.version
                    ),
                ));
            }
        }
        out
    }

    /// The filled test results as a certificate prints them: applicable
    /// fields that have a value, in template order, each value exact with
    /// its unit (decimals as typed, choices by label, yes/no as Yes/No).
    pub fn test_result_lines(&self, results: &TestResults) -> Vec<TestResultLine> {
        self.fields()
            .filter(|(_, f)| self.applies(&f.required, results, 0))
            .filter_map(|(section, field)| {
                let value = results.get(&field.key)?.value.trim();
                if value.is_empty() {
                    return None;
                }
                Some(TestResultLine {
                    section: section.title.clone(),
                    label: field.label.clone(),
                    value: field.kind.display(value),
                })
            })
            .collect()
    }

    /// Checks a template before it is published: keys well formed and
    /// unique, labels bounded, limits ordered, conditions naming an earlier
    /// field and one of its possible values.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        errs.check(key("id", &self.id));
        errs.check(label("name", &self.name));
        if self.version == 0 {
            errs.errors.push(FieldError::new(
                "version",
                FieldErrorCode::InvalidFormat,
                "Template versions start at 1",
            ));
        }
        let items = self.photo_slots.len()
            + self
                .sections
                .iter()
                .map(|s| 1 + s.fields.len())
                .sum::<usize>();
        if items > MAX_TEMPLATE_ITEMS {
            errs.errors.push(FieldError::new(
                "sections",
                FieldErrorCode::TooLong,
                format!("A template may have at most {MAX_TEMPLATE_ITEMS} sections, fields and photo slots"),
            ));
            return errs.into_result();
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut earlier: Vec<&TestField> = Vec::new();
        for (s, section) in self.sections.iter().enumerate() {
            errs.check(label(&format!("sections.{s}.title"), &section.title));
            for field in &section.fields {
                let name = test_field_name(&field.key);
                errs.check(key(&name, &field.key));
                if !seen.insert(&field.key) {
                    errs.errors.push(duplicate(&name));
                }
                errs.check(label(&name, &field.label));
                errs.check(hint(&name, &field.hint));
                errs.check(field.kind.validate(&name));
                errs.check(condition(&name, &field.required, &earlier));
                earlier.push(field);
            }
        }
        let mut slot_keys: BTreeSet<&str> = BTreeSet::new();
        for slot in &self.photo_slots {
            let name = slot_field_name(&slot.key);
            errs.check(key(&name, &slot.key));
            if !slot_keys.insert(&slot.key) {
                errs.errors.push(duplicate(&name));
            }
            errs.check(label(&name, &slot.name));
            errs.check(hint(&name, &slot.hint));
            errs.check(condition(&name, &slot.required, &earlier));
        }
        errs.into_result()
    }

    /// Whether `other` says the same as this template, version aside (a
    /// publish that changes nothing makes no new version).
    pub fn same_content_as(&self, other: &ReportTemplate) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.photo_slots == other.photo_slots
            && self.sections == other.sections
    }
}

/// Bounds on what a report may carry for its template, whatever the
/// template says (checked before the template is looked up, so a hostile
/// report cannot make the server store or compare without limit).
pub fn check_fill_limits(
    template: Option<&TemplateRef>,
    results: &TestResults,
    slots: &PhotoSlotFills,
) -> ValidationErrors {
    let mut errs = ValidationErrors::default();
    if let Some(t) = template {
        errs.check(key(TEMPLATE_FIELD_NAME, &t.id));
    }
    if results.len() > MAX_TEMPLATE_ITEMS || slots.len() > MAX_TEMPLATE_ITEMS {
        errs.errors.push(FieldError::new(
            TEST_RESULTS_FIELD,
            FieldErrorCode::TooLong,
            format!("A report may carry at most {MAX_TEMPLATE_ITEMS} test results and photo slots"),
        ));
        return errs;
    }
    for (k, v) in results {
        let name = test_field_name(k);
        errs.check(key(&name, k));
        let longest = v
            .value
            .chars()
            .count()
            .max(v.confirmed.as_deref().map_or(0, |c| c.chars().count()));
        if longest > MAX_TEST_TEXT_CHARS as usize {
            errs.errors.push(FieldError::new(
                &name,
                FieldErrorCode::TooLong,
                format!("A test result may be at most {MAX_TEST_TEXT_CHARS} characters"),
            ));
        }
    }
    for (k, fill) in slots {
        let name = slot_field_name(k);
        errs.check(key(&name, k));
        if let SlotFill::NoPhoto { reason } = fill {
            errs.check(validation::optional_text(
                &name,
                reason,
                validation::MAX_REASON_CHARS,
            ));
        }
    }
    errs
}

/// The field name of a report's template reference in errors.
const TEMPLATE_FIELD_NAME: &str = "template";

enum Judgement {
    Fine,
    Invalid(String),
    Unusual(String),
}

impl FieldKind {
    fn judge(&self, label: &str, value: &str) -> Judgement {
        let value = value.trim();
        match self {
            FieldKind::Choice { options } => {
                if options.iter().any(|o| o.value == value) {
                    Judgement::Fine
                } else {
                    Judgement::Invalid(format!("Choose one of the options for {label}"))
                }
            }
            FieldKind::YesNo { usual } => {
                let answer = match value {
                    YES => true,
                    NO => false,
                    _ => return Judgement::Invalid(format!("Answer yes or no for {label}")),
                };
                match usual {
                    Some(u) if *u != answer => Judgement::Unusual(format!(
                        "{label}: “{}” is unusual; confirm it is correct",
                        if answer { "Yes" } else { "No" }
                    )),
                    _ => Judgement::Fine,
                }
            }
            FieldKind::Text { max_chars } => {
                if value.chars().count() > *max_chars as usize {
                    Judgement::Invalid(format!("{label} may be at most {max_chars} characters"))
                } else if value.chars().any(char::is_control) {
                    Judgement::Invalid(format!(
                        "{label} contains a line break or invisible character; retype it"
                    ))
                } else {
                    Judgement::Fine
                }
            }
            FieldKind::Decimal {
                unit,
                min,
                max,
                usual_min,
                usual_max,
                max_decimals,
            } => {
                let number: ExactDecimal = match value.parse() {
                    Ok(n) => n,
                    Err(e) => return Judgement::Invalid(format!("{label}: {e}")),
                };
                if number.decimals() > *max_decimals {
                    return Judgement::Invalid(format!(
                        "{label} takes at most {max_decimals} digits after the decimal point"
                    ));
                }
                let with_unit = |d: &ExactDecimal| format!("{d} {unit}");
                if let Some(min) = min.as_ref().filter(|m| number < **m) {
                    return Judgement::Invalid(format!(
                        "{label} cannot be below {}; check the reading",
                        with_unit(min)
                    ));
                }
                if let Some(max) = max.as_ref().filter(|m| number > **m) {
                    return Judgement::Invalid(format!(
                        "{label} cannot be above {}; check the reading",
                        with_unit(max)
                    ));
                }
                if let Some(low) = usual_min.as_ref().filter(|m| number < **m) {
                    return Judgement::Unusual(format!(
                        "{label} {} is below the usual {}; confirm the reading is correct",
                        with_unit(&number),
                        with_unit(low)
                    ));
                }
                if let Some(high) = usual_max.as_ref().filter(|m| number > **m) {
                    return Judgement::Unusual(format!(
                        "{label} {} is above the usual {}; confirm the reading is correct",
                        with_unit(&number),
                        with_unit(high)
                    ));
                }
                Judgement::Fine
            }
        }
    }

    fn display(&self, value: &str) -> String {
        match self {
            FieldKind::Choice { options } => options
                .iter()
                .find(|o| o.value == value)
                .map_or_else(|| value.to_owned(), |o| o.label.clone()),
            FieldKind::YesNo { .. } => match value {
                YES => "Yes".to_owned(),
                NO => "No".to_owned(),
                other => other.to_owned(),
            },
            FieldKind::Decimal { unit, .. } if !unit.is_empty() => format!("{value} {unit}"),
            FieldKind::Decimal { .. } | FieldKind::Text { .. } => value.to_owned(),
        }
    }

    /// The values a condition on this field may test for.
    fn possible_values(&self) -> Option<Vec<&str>> {
        match self {
            FieldKind::Choice { options } => {
                Some(options.iter().map(|o| o.value.as_str()).collect())
            }
            FieldKind::YesNo { .. } => Some(vec![YES, NO]),
            FieldKind::Decimal { .. } | FieldKind::Text { .. } => None,
        }
    }

    fn validate(&self, name: &str) -> Result<(), FieldError> {
        let bad = |message: String| {
            Err(FieldError::new(
                name,
                FieldErrorCode::InvalidFormat,
                message,
            ))
        };
        match self {
            FieldKind::Choice { options } => {
                if options.is_empty() {
                    return bad("A choice needs at least one option".into());
                }
                if options.len() > MAX_TEMPLATE_ITEMS {
                    return bad(format!(
                        "A choice may have at most {MAX_TEMPLATE_ITEMS} options"
                    ));
                }
                let mut values = BTreeSet::new();
                for o in options {
                    key(name, &o.value)?;
                    label(name, &o.label)?;
                    if !values.insert(&o.value) {
                        return bad(format!("The option “{}” appears twice", o.value));
                    }
                }
                Ok(())
            }
            FieldKind::YesNo { .. } => Ok(()),
            FieldKind::Text { max_chars } => {
                if (1..=MAX_TEST_TEXT_CHARS).contains(max_chars) {
                    Ok(())
                } else {
                    bad(format!(
                        "A text result's limit must be 1..={MAX_TEST_TEXT_CHARS} characters"
                    ))
                }
            }
            FieldKind::Decimal {
                unit,
                min,
                max,
                usual_min,
                usual_max,
                max_decimals,
            } => {
                label(name, unit).or_else(|e| if unit.is_empty() { Ok(()) } else { Err(e) })?;
                if *max_decimals as usize > crate::decimal::MAX_DECIMAL_DIGITS {
                    return bad("Too many decimals allowed".into());
                }
                let ordered = |a: &Option<ExactDecimal>, b: &Option<ExactDecimal>| match (a, b) {
                    (Some(a), Some(b)) => a <= b,
                    _ => true,
                };
                if !ordered(min, max)
                    || !ordered(usual_min, usual_max)
                    || !ordered(min, usual_min)
                    || !ordered(usual_max, max)
                    || !ordered(min, usual_max)
                    || !ordered(usual_min, max)
                {
                    return bad(
                        "The limits must be ordered: min ≤ usual min ≤ usual max ≤ max".into(),
                    );
                }
                Ok(())
            }
        }
    }
}

fn key(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            FieldErrorCode::InvalidFormat,
            format!("“{value}” is not a usable key: use 1 to {MAX_KEY_CHARS} of a-z, 0-9, _ and -"),
        ))
    }
}

fn label(field: &str, value: &str) -> Result<(), FieldError> {
    validation::required_text(field, value, MAX_LABEL_CHARS)?;
    if value.contains(['\n', '\r', '\t']) {
        return Err(FieldError::new(
            field,
            FieldErrorCode::ControlCharacters,
            "Labels must be on one line",
        ));
    }
    Ok(())
}

fn hint(field: &str, value: &str) -> Result<(), FieldError> {
    validation::optional_text(field, value, MAX_HINT_CHARS)
}

fn duplicate(field: &str) -> FieldError {
    FieldError::new(
        field,
        FieldErrorCode::InvalidFormat,
        format!("{field} appears twice"),
    )
}

fn condition(name: &str, req: &Requirement, earlier: &[&TestField]) -> Result<(), FieldError> {
    let Requirement::If { field, is_one_of } = req else {
        return Ok(());
    };
    let bad = |message: String| {
        Err(FieldError::new(
            name,
            FieldErrorCode::InvalidFormat,
            message,
        ))
    };
    let Some(target) = earlier.iter().find(|f| &f.key == field) else {
        return bad(format!(
            "The condition names “{field}”, which is not a test result earlier in the template"
        ));
    };
    let Some(possible) = target.kind.possible_values() else {
        return bad(format!(
            "A condition can only test a choice or a yes/no result, not “{field}”"
        ));
    };
    if is_one_of.is_empty() {
        return bad("A condition needs at least one value".into());
    }
    if let Some(v) = is_one_of.iter().find(|v| !possible.contains(&v.as_str())) {
        return bad(format!("“{field}” can never be “{v}”"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_uk_template;

    fn v(value: &str) -> TestValue {
        TestValue {
            value: value.to_owned(),
            confirmed: None,
        }
    }

    fn photo(name: &str) -> Sha256Hex {
        Sha256Hex::digest(name.as_bytes())
    }

    /// A complete, ordinary TN-C-S job without load management.
    fn complete() -> (TestResults, PhotoSlotFills, Vec<Sha256Hex>) {
        let results: TestResults = [
            ("earthing_arrangement", "tn-c-s"),
            ("pen_fault_protection", "yes"),
            ("pen_fault_method", "charger-open-pen"),
            ("ze", "0.21"),
            ("zs", "0.48"),
            ("r1_r2", "0.27"),
            ("insulation_resistance", "999"),
            ("insulation_test_voltage", "500"),
            ("polarity_confirmed", "yes"),
            ("rcd_type", "a-rdc-dd"),
            ("rcd_trip_time", "23.5"),
            ("maximum_demand", "63"),
            ("load_management_fitted", "no"),
            ("dno_notification_required", "yes"),
            ("dno_notified", "yes"),
        ]
        .into_iter()
        .map(|(k, x)| (k.to_owned(), v(x)))
        .collect();
        let keys = [
            "charger-wide",
            "serial-label",
            "consumer-unit",
            "earthing",
            "cable-route",
        ];
        let media: Vec<Sha256Hex> = keys.iter().map(|k| photo(k)).collect();
        let slots = keys
            .iter()
            .map(|k| ((*k).to_owned(), SlotFill::Photo { sha256: photo(k) }))
            .collect();
        (results, slots, media)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn the_default_template_is_valid_and_covers_the_uk_tests() {
        let t = default_uk_template();
        t.validate().unwrap();
        let keys: Vec<&str> = t.fields().map(|(_, f)| f.key.as_str()).collect();
        for needed in [
            "earthing_arrangement",
            "pen_fault_protection",
            "pen_fault_method",
            "earth_electrode_resistance",
            "ze",
            "zs",
            "r1_r2",
            "insulation_resistance",
            "insulation_test_voltage",
            "rcd_type",
            "rcd_trip_time",
            "polarity_confirmed",
            "maximum_demand",
            "load_management_fitted",
            "load_management_limit",
            "dno_notification_required",
            "dno_notified",
        ] {
            assert!(keys.contains(&needed), "{needed}");
        }
        assert_eq!(t.photo_slots.len(), 6);
        assert!(t.photo_slots.iter().all(|s| !s.hint.is_empty()));
    }

    #[test]
    fn a_complete_ordinary_job_passes() {
        let (results, slots, media) = complete();
        let check = default_uk_template().check(&results, &slots, &media);
        assert!(check.blocking().is_empty(), "{:?}", check.blocking());
        // Electrode resistance (TT only) and the CT clamp (load management
        // only) do not apply.
        assert!(!check
            .applicable
            .contains(&"test_results.earth_electrode_resistance".into()));
        assert!(!check.applicable.contains(&"photo_slots.ct-clamp".into()));
        assert!(check.applicable.contains(&"test_results.ze".into()));
    }

    #[test]
    fn an_empty_draft_lists_what_is_missing_in_form_order() {
        let check = default_uk_template().check(&TestResults::new(), &PhotoSlotFills::new(), &[]);
        assert_eq!(
            fields(&check.missing),
            [
                "test_results.earthing_arrangement",
                "test_results.zs",
                "test_results.r1_r2",
                "test_results.insulation_resistance",
                "test_results.insulation_test_voltage",
                "test_results.polarity_confirmed",
                "test_results.rcd_type",
                "test_results.rcd_trip_time",
                "test_results.maximum_demand",
                "test_results.load_management_fitted",
                "test_results.dno_notification_required",
                "photo_slots.charger-wide",
                "photo_slots.serial-label",
                "photo_slots.consumer-unit",
                "photo_slots.earthing",
                "photo_slots.cable-route",
            ]
        );
        assert!(check.invalid.is_empty() && check.needs_confirmation.is_empty());
    }

    #[test]
    fn tt_needs_the_electrode_resistance_and_not_ze() {
        let (mut results, slots, media) = complete();
        results.insert("earthing_arrangement".into(), v("tt"));
        let check = default_uk_template().check(&results, &slots, &media);
        assert_eq!(
            fields(&check.missing),
            ["test_results.earth_electrode_resistance"]
        );
        // Ze and the PEN answers no longer apply, so what was typed for them
        // is ignored rather than judged.
        assert!(!check.applicable.contains(&"test_results.ze".into()));
        assert!(!check
            .applicable
            .contains(&"test_results.pen_fault_method".into()));
        results.insert("earth_electrode_resistance".into(), v("21"));
        let check = default_uk_template().check(&results, &slots, &media);
        assert!(check.blocking().is_empty(), "{:?}", check.blocking());
    }

    #[test]
    fn conditions_chain_through_fields_that_stop_applying() {
        let (mut results, slots, media) = complete();
        results.remove("pen_fault_method");
        let t = default_uk_template();
        assert_eq!(
            fields(&t.check(&results, &slots, &media).missing),
            ["test_results.pen_fault_method"]
        );
        // "No PEN protection" is unusual: asks for confirmation, and the
        // method is no longer asked for.
        results.insert("pen_fault_protection".into(), v("no"));
        let check = t.check(&results, &slots, &media);
        assert!(check.missing.is_empty());
        assert_eq!(
            fields(&check.needs_confirmation),
            ["test_results.pen_fault_protection"]
        );
        assert_eq!(
            check.needs_confirmation[0].code,
            FieldErrorCode::NeedsConfirmation
        );
    }

    #[test]
    fn load_management_asks_for_its_limit_and_the_ct_clamp_photo() {
        let (mut results, mut slots, mut media) = complete();
        results.insert("load_management_fitted".into(), v("yes"));
        let t = default_uk_template();
        assert_eq!(
            fields(&t.check(&results, &slots, &media).missing),
            ["test_results.load_management_limit", "photo_slots.ct-clamp"]
        );
        results.insert("load_management_limit".into(), v("60"));
        media.push(photo("clamp"));
        slots.insert(
            "ct-clamp".into(),
            SlotFill::Photo {
                sha256: photo("clamp"),
            },
        );
        assert!(t.check(&results, &slots, &media).blocking().is_empty());
    }

    #[test]
    fn unusual_values_need_a_confirmation_of_that_exact_value() {
        let (mut results, slots, media) = complete();
        let t = default_uk_template();
        results.insert("zs".into(), v("1.38"));
        let check = t.check(&results, &slots, &media);
        assert_eq!(fields(&check.needs_confirmation), ["test_results.zs"]);
        assert!(check.needs_confirmation[0].message.contains("1.38 Ω"));
        assert!(check.needs_confirmation[0].message.contains("1.37 Ω"));
        // The limit itself is usual; equal by value at any scale.
        results.insert("zs".into(), v("1.370"));
        assert!(t.check(&results, &slots, &media).blocking().is_empty());

        results.insert(
            "zs".into(),
            TestValue {
                value: "1.38".into(),
                confirmed: Some("1.38".into()),
            },
        );
        assert!(t.check(&results, &slots, &media).blocking().is_empty());
        // Changing the value after confirming asks again.
        results.get_mut("zs").unwrap().value = "1.83".into();
        assert_eq!(
            fields(&t.check(&results, &slots, &media).needs_confirmation),
            ["test_results.zs"]
        );
        // Below the usual minimum works the same way.
        results.insert("insulation_resistance".into(), v("0.5"));
        let check = t.check(&results, &slots, &media);
        assert!(check.needs_confirmation[1]
            .message
            .contains("below the usual 1 MΩ"));
    }

    #[test]
    fn impossible_values_are_invalid_and_never_confirmable() {
        let (mut results, slots, media) = complete();
        let t = default_uk_template();
        for (key, bad, says) in [
            ("zs", "0,48", "Type a number"),
            ("zs", "0.4851", "at most 3 digits"),
            ("zs", "-0.1", "cannot be below 0 Ω"),
            ("rcd_trip_time", "20000", "cannot be above 10000 ms"),
            ("rcd_type", "ac", "Choose one of the options"),
            ("polarity_confirmed", "true", "Answer yes or no"),
        ] {
            results.insert(
                key.into(),
                TestValue {
                    value: bad.into(),
                    confirmed: Some(bad.into()),
                },
            );
            let check = t.check(&results, &slots, &media);
            assert_eq!(
                fields(&check.invalid),
                [format!("test_results.{key}")],
                "{bad}"
            );
            assert!(
                check.invalid[0].message.contains(says),
                "{}",
                check.invalid[0].message
            );
            results.extend(complete().0);
        }
    }

    #[test]
    fn photo_slots_take_an_attached_photo_or_a_reason() {
        let (results, mut slots, mut media) = complete();
        let t = default_uk_template();
        slots.insert(
            "cable-route".into(),
            SlotFill::NoPhoto {
                reason: "Cable runs inside the wall".into(),
            },
        );
        assert!(t.check(&results, &slots, &media).blocking().is_empty());
        slots.insert(
            "cable-route".into(),
            SlotFill::NoPhoto {
                reason: "  ".into(),
            },
        );
        let check = t.check(&results, &slots, &media);
        assert_eq!(fields(&check.missing), ["photo_slots.cable-route"]);
        assert!(check.missing[0].message.contains("Say why"));
        // A photo removed from the job no longer fills its slot.
        slots.remove("cable-route");
        media.retain(|m| m != &photo("earthing"));
        let check = t.check(&results, &slots, &media);
        assert_eq!(
            fields(&check.missing),
            ["photo_slots.earthing", "photo_slots.cable-route"]
        );
        assert!(check.missing[0].message.contains("was removed"));
    }

    #[test]
    fn results_for_fields_the_template_lacks_are_invalid() {
        let (mut results, mut slots, media) = complete();
        results.insert("thermal_image".into(), v("ok"));
        slots.insert(
            "roof".into(),
            SlotFill::NoPhoto {
                reason: "none".into(),
            },
        );
        let check = default_uk_template().check(&results, &slots, &media);
        assert_eq!(
            fields(&check.invalid),
            ["test_results.thermal_image", "photo_slots.roof"]
        );
    }

    #[test]
    fn result_lines_print_exact_values_with_units_in_template_order() {
        let (mut results, _, _) = complete();
        results.insert("ze".into(), v("0.350"));
        results.insert("earth_electrode_resistance".into(), v("55"));
        let lines = default_uk_template().test_result_lines(&results);
        let line = |label: &str| lines.iter().find(|l| l.label.contains(label)).unwrap();
        assert_eq!(lines[0].section, "Earthing and supply");
        assert_eq!(line("arrangement").value, "TN-C-S (PME)");
        assert_eq!(line("Ze").value, "0.350 Ω");
        assert_eq!(line("Insulation resistance").value, "999 MΩ");
        assert_eq!(line("Polarity").value, "Yes");
        assert_eq!(line("trip time").value, "23.5 ms");
        // Not applicable on TN-C-S: left out even though a value was typed.
        assert!(lines.iter().all(|l| !l.label.contains("electrode")));
        assert_eq!(lines.len(), 15);
        assert_eq!(lines.last().unwrap().label, "Network operator notified");
    }

    #[test]
    fn broken_templates_are_refused_on_publish() {
        let mut t = default_uk_template();
        t.sections[0].fields[1].key = "ze".into();
        let errs = t.validate().unwrap_err();
        assert!(errs.to_string().contains("appears twice"), "{errs}");

        let mut t = default_uk_template();
        // A condition on a field that comes later (or never) is refused, so
        // conditions can never form a cycle.
        t.sections[0].fields[0].required = Requirement::If {
            field: "rcd_type".into(),
            is_one_of: vec!["a".into()],
        };
        assert!(t
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not a test result earlier"));

        let mut t = default_uk_template();
        t.photo_slots[5].required = Requirement::If {
            field: "load_management_fitted".into(),
            is_one_of: vec!["maybe".into()],
        };
        assert!(t
            .validate()
            .unwrap_err()
            .to_string()
            .contains("can never be"));

        let mut t = default_uk_template();
        if let FieldKind::Decimal { usual_max, .. } = &mut t.sections[1].fields[0].kind {
            *usual_max = Some("3000".parse().unwrap());
        }
        assert!(t.validate().unwrap_err().to_string().contains("ordered"));

        let mut t = default_uk_template();
        t.id = "UK template".into();
        t.version = 0;
        assert_eq!(t.validate().unwrap_err().errors.len(), 2);
    }

    #[test]
    fn a_template_round_trips_through_json_with_decimals_as_strings() {
        let t = default_uk_template();
        let json = serde_json::to_value(&t).unwrap();
        let zs = &json["sections"][1]["fields"][0];
        assert_eq!(zs["kind"]["type"], "decimal");
        assert_eq!(zs["kind"]["usual_max"], "1.37");
        assert_eq!(zs["required"]["when"], "always");
        let back: ReportTemplate = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
        assert!(back.same_content_as(&t));
    }

    #[test]
    fn fill_limits_bound_what_a_report_carries() {
        let mut results = TestResults::new();
        results.insert("zs".into(), v(&"9".repeat(3000)));
        results.insert("Bad Key".into(), v("1"));
        let mut slots = PhotoSlotFills::new();
        slots.insert(
            "x".into(),
            SlotFill::NoPhoto {
                reason: "a\u{7}".into(),
            },
        );
        let errs = check_fill_limits(None, &results, &slots);
        assert_eq!(errs.errors.len(), 3, "{errs:?}");
        let many: TestResults = (0..=MAX_TEMPLATE_ITEMS)
            .map(|i| (format!("k{i}"), v("1")))
            .collect();
        assert_eq!(check_fill_limits(None, &many, &slots).errors.len(), 1);
    }
}
