//! The certificate's results from a submitted report: its outcome, the
//! commissioning test results of the template it was filled against (as the
//! template prints them: template order, exact values with units), the photo
//! slots that have no photo and why, and the technician's notes.

use fieldbook_domain::SlotFill;
use fieldbook_domain::{InstallationReport, ReportTemplate};

use crate::{ResultRow, ResultSection};

fn yes_no(value: bool) -> String {
    if value { "Yes" } else { "No" }.to_owned()
}

fn row(label: &str, value: String) -> ResultRow {
    ResultRow {
        label: label.to_owned(),
        value,
    }
}

/// "Outcome", then one section per test section of `template` that has a
/// filled result, then "Photos not taken" (slots filled with a reason), then
/// "Notes" (only what was written). `template` is the version the report
/// names; `None` for a report from before templates (or one naming a
/// version this device does not hold): its test results are then not
/// printed, since only the template knows their labels and units.
pub fn results_from_report(
    report: &InstallationReport,
    template: Option<&ReportTemplate>,
) -> Vec<ResultSection> {
    let mut sections = vec![ResultSection {
        title: "Outcome".to_owned(),
        rows: vec![
            row(
                "Installation successful",
                yes_no(report.installation_successful),
            ),
            row(
                "Demonstration given to the customer",
                yes_no(report.demo_given),
            ),
        ],
    }];
    if let Some(template) = template {
        // Lines come in template order: a new title starts a new section
        // (never joining "Outcome", whatever a template calls its sections).
        let mut tests: Vec<ResultSection> = Vec::new();
        for line in template.test_result_lines(&report.test_results) {
            let row = row(&line.label, line.value);
            match tests.last_mut() {
                Some(last) if last.title == line.section => last.rows.push(row),
                _ => tests.push(ResultSection {
                    title: line.section,
                    rows: vec![row],
                }),
            }
        }
        sections.extend(tests);
        let not_taken: Vec<ResultRow> = template
            .photo_slots
            .iter()
            .filter_map(|slot| match report.photo_slots.get(&slot.key) {
                Some(SlotFill::NoPhoto { reason }) => {
                    Some(row(&slot.name, reason.trim().to_owned()))
                }
                _ => None,
            })
            .collect();
        if !not_taken.is_empty() {
            sections.push(ResultSection {
                title: "Photos not taken".to_owned(),
                rows: not_taken,
            });
        }
    }
    let notes: Vec<ResultRow> = [
        ("Issues encountered", &report.issues_encountered),
        ("General notes", &report.general_notes),
        (
            "Started before confirmation",
            report
                .start_override_reason
                .as_ref()
                .unwrap_or(&String::new()),
        ),
    ]
    .into_iter()
    .filter(|(_, text)| !text.trim().is_empty())
    .map(|(label, text)| row(label, text.trim().to_owned()))
    .collect();
    if !notes.is_empty() {
        sections.push(ResultSection {
            title: "Notes".to_owned(),
            rows: notes,
        });
    }
    sections
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use fieldbook_domain::{default_uk_template, Sha256Hex};
    use fieldbook_domain::{SlotFill, TestValue};

    use super::*;

    fn report() -> InstallationReport {
        InstallationReport {
            id: uuid::Uuid::from_u128(1),
            installation_id: uuid::Uuid::from_u128(2),
            submitted_by: uuid::Uuid::from_u128(3),
            charger_serial_number: "SN-1".to_owned(),
            charger_model: "Zappi".to_owned(),
            installation_successful: true,
            demo_given: false,
            customer_signature: None,
            issues_encountered: String::new(),
            general_notes: "  Shown the app  ".to_owned(),
            submitted_at: chrono::Utc::now(),
            start_override_reason: None,
            content_hash: Sha256Hex::digest(b"report"),
            template: None,
            test_results: BTreeMap::new(),
            photo_slots: BTreeMap::new(),
        }
    }

    fn value(v: &str) -> TestValue {
        TestValue {
            value: v.to_owned(),
            confirmed: None,
        }
    }

    #[test]
    fn test_results_print_in_template_sections_with_units_and_labels() {
        let mut report = report();
        report.test_results = BTreeMap::from([
            ("earthing_arrangement".to_owned(), value("tn-c-s")),
            ("zs".to_owned(), value("0.480")),
            ("ze".to_owned(), value("0.21")),
            // Not applicable for TN-C-S: never printed.
            ("earth_electrode_resistance".to_owned(), value("120")),
        ]);
        report.photo_slots = BTreeMap::from([
            (
                "earthing".to_owned(),
                SlotFill::NoPhoto {
                    reason: "Behind a sealed panel".to_owned(),
                },
            ),
            (
                "charger-wide".to_owned(),
                SlotFill::Photo {
                    sha256: Sha256Hex::digest(b"photo"),
                },
            ),
        ]);
        let template = default_uk_template();
        let sections = results_from_report(&report, Some(&template));
        let titles: Vec<&str> = sections.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Outcome",
                "Earthing and supply",
                "Circuit tests",
                "Photos not taken",
                "Notes"
            ]
        );
        let earthing = &sections[1].rows;
        assert_eq!(earthing[0].value, "TN-C-S (PME)");
        assert!(earthing.iter().any(|r| r.value == "0.21 Ω"), "{earthing:?}");
        assert!(!earthing.iter().any(|r| r.value.starts_with("120")));
        // Exactly as typed: the trailing zero stays.
        assert_eq!(sections[2].rows[0].value, "0.480 Ω");
        assert_eq!(
            sections[3].rows,
            [row("Earthing", "Behind a sealed panel".to_owned())]
        );
        assert_eq!(
            sections[4].rows,
            [row("General notes", "Shown the app".to_owned())]
        );
    }

    #[test]
    fn a_report_without_a_template_prints_its_outcome_and_notes() {
        let mut report = report();
        report.test_results = BTreeMap::from([("zs".to_owned(), value("0.48"))]);
        let sections = results_from_report(&report, None);
        let titles: Vec<&str> = sections.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["Outcome", "Notes"]);
    }
}
