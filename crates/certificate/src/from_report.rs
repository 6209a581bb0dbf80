//! The certificate's results from today's report fields. Report templates
//! with commissioning test results will feed [`crate::ResultSection`]s of
//! their own; until then the report's outcome is what there is to print.

use fieldbook_domain::InstallationReport;

use crate::{ResultRow, ResultSection};

fn yes_no(value: bool) -> String {
    if value { "Yes" } else { "No" }.to_owned()
}

/// "Outcome" (successful, demo given) and "Notes" (issues, general notes;
/// only when written).
pub fn results_from_report(report: &InstallationReport) -> Vec<ResultSection> {
    let mut sections = vec![ResultSection {
        title: "Outcome".to_owned(),
        rows: vec![
            ResultRow {
                label: "Installation successful".to_owned(),
                value: yes_no(report.installation_successful),
            },
            ResultRow {
                label: "Demonstration given to the customer".to_owned(),
                value: yes_no(report.demo_given),
            },
        ],
    }];
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
    .map(|(label, text)| ResultRow {
        label: label.to_owned(),
        value: text.trim().to_owned(),
    })
    .collect();
    if !notes.is_empty() {
        sections.push(ResultSection {
            title: "Notes".to_owned(),
            rows: notes,
        });
    }
    sections
}
