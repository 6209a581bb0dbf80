//! The built-in UK template for an EV charge point installation: the tests of
//! BS 7671 Section 722 and the IET Code of Practice for EV Charging
//! Equipment Installation, and the photos grant and warranty claims ask for.
//!
//! The "usual" limits are where a reading stops being ordinary and the
//! technician should look twice; they are not the regulations' pass/fail
//! values for every protective device, which depend on the circuit.

use crate::decimal::ExactDecimal;
use crate::template::{
    ChoiceOption, FieldKind, PhotoSlot, ReportTemplate, Requirement, TestField, TestSection,
    DEFAULT_TEMPLATE_ID, YES,
};

fn dec(s: &str) -> Option<ExactDecimal> {
    Some(s.parse().expect("built-in limit is a decimal"))
}

fn choice(options: &[(&str, &str)]) -> FieldKind {
    FieldKind::Choice {
        options: options
            .iter()
            .map(|(value, label)| ChoiceOption {
                value: (*value).to_owned(),
                label: (*label).to_owned(),
            })
            .collect(),
    }
}

fn decimal(unit: &str, limits: [&str; 4], max_decimals: u32) -> FieldKind {
    let [min, usual_min, usual_max, max] = limits.map(|s| if s.is_empty() { None } else { dec(s) });
    FieldKind::Decimal {
        unit: unit.to_owned(),
        min,
        max,
        usual_min,
        usual_max,
        max_decimals,
    }
}

fn field(key: &str, label: &str, hint: &str, kind: FieldKind, required: Requirement) -> TestField {
    TestField {
        key: key.to_owned(),
        label: label.to_owned(),
        hint: hint.to_owned(),
        kind,
        required,
    }
}

fn when(field: &str, values: &[&str]) -> Requirement {
    Requirement::If {
        field: field.to_owned(),
        is_one_of: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn slot(key: &str, name: &str, hint: &str, required: Requirement) -> PhotoSlot {
    PhotoSlot {
        key: key.to_owned(),
        name: name.to_owned(),
        hint: hint.to_owned(),
        required,
    }
}

/// Version 1 of [`DEFAULT_TEMPLATE_ID`], as it ships.
pub fn default_uk_template() -> ReportTemplate {
    use Requirement::Always;
    ReportTemplate {
        id: DEFAULT_TEMPLATE_ID.to_owned(),
        version: 1,
        name: "UK EV charge point (BS 7671 722, IET CoP)".to_owned(),
        sections: vec![
            TestSection {
                title: "Earthing and supply".to_owned(),
                fields: vec![
                    field(
                        "earthing_arrangement",
                        "Earthing arrangement",
                        "As found at the origin of the installation",
                        choice(&[("tn-c-s", "TN-C-S (PME)"), ("tn-s", "TN-S"), ("tt", "TT")]),
                        Always,
                    ),
                    field(
                        "pen_fault_protection",
                        "Protection against a broken PEN provided",
                        "BS 7671 722.411.4.1: required for a PME supply unless an exception applies",
                        FieldKind::YesNo { usual: Some(true) },
                        when("earthing_arrangement", &["tn-c-s"]),
                    ),
                    field(
                        "pen_fault_method",
                        "How PEN fault protection is provided",
                        "",
                        choice(&[
                            ("charger-open-pen", "Open-PEN detection built into the charger"),
                            ("separate-open-pen-device", "Separate open-PEN protective device"),
                            ("tt-electrode", "Charger on its own TT earth electrode"),
                            ("three-phase-monitoring", "Three-phase voltage monitoring (722.411.4.1 (ii))"),
                        ]),
                        when("pen_fault_protection", &[YES]),
                    ),
                    field(
                        "earth_electrode_resistance",
                        "Earth electrode resistance RA",
                        "Measured with the electrode connected; above 200 Ω may not be stable",
                        decimal("Ω", ["0", "", "200", "100000"], 2),
                        when("earthing_arrangement", &["tt"]),
                    ),
                    field(
                        "ze",
                        "External earth fault loop impedance Ze",
                        "Typical maxima: TN-C-S 0.35 Ω, TN-S 0.8 Ω",
                        decimal("Ω", ["0", "", "0.8", "100"], 3),
                        when("earthing_arrangement", &["tn-c-s", "tn-s"]),
                    ),
                ],
            },
            TestSection {
                title: "Circuit tests".to_owned(),
                fields: vec![
                    field(
                        "zs",
                        "Earth fault loop impedance Zs",
                        "At the charger's terminals",
                        decimal("Ω", ["0", "", "1.37", "2000"], 3),
                        Always,
                    ),
                    field(
                        "r1_r2",
                        "Continuity R1+R2",
                        "",
                        decimal("Ω", ["0", "", "1", "100"], 3),
                        Always,
                    ),
                    field(
                        "insulation_resistance",
                        "Insulation resistance",
                        "Live–earth; a meter showing “>999” is entered as 999",
                        decimal("MΩ", ["0", "1", "", "10000"], 2),
                        Always,
                    ),
                    field(
                        "insulation_test_voltage",
                        "Insulation test voltage",
                        "",
                        choice(&[("250", "250 V DC"), ("500", "500 V DC"), ("1000", "1000 V DC")]),
                        Always,
                    ),
                    field(
                        "polarity_confirmed",
                        "Polarity confirmed",
                        "",
                        FieldKind::YesNo { usual: Some(true) },
                        Always,
                    ),
                ],
            },
            TestSection {
                title: "RCD".to_owned(),
                fields: vec![
                    field(
                        "rcd_type",
                        "RCD type",
                        "BS 7671 722.531.3.101: type A needs 6 mA DC detection",
                        choice(&[
                            ("a", "Type A"),
                            ("f", "Type F"),
                            ("b", "Type B"),
                            ("a-rdc-dd", "Type A with 6 mA DC detection (RDC-DD)"),
                        ]),
                        Always,
                    ),
                    field(
                        "rcd_trip_time",
                        "RCD trip time at IΔn",
                        "At the rated residual current; 300 ms is the usual maximum",
                        decimal("ms", ["0", "", "300", "10000"], 1),
                        Always,
                    ),
                ],
            },
            TestSection {
                title: "Load and notification".to_owned(),
                fields: vec![
                    field(
                        "maximum_demand",
                        "Maximum demand",
                        "Including the charger",
                        decimal("A", ["0", "", "100", "2000"], 1),
                        Always,
                    ),
                    field(
                        "load_management_fitted",
                        "Load management fitted",
                        "",
                        FieldKind::YesNo { usual: None },
                        Always,
                    ),
                    field(
                        "load_management_limit",
                        "Load management limit",
                        "The supply current the charger is held below",
                        decimal("A", ["1", "", "100", "2000"], 1),
                        when("load_management_fitted", &[YES]),
                    ),
                    field(
                        "dno_notification_required",
                        "Network operator must be notified",
                        "",
                        FieldKind::YesNo { usual: None },
                        Always,
                    ),
                    field(
                        "dno_notified",
                        "Network operator notified",
                        "",
                        FieldKind::YesNo { usual: Some(true) },
                        when("dno_notification_required", &[YES]),
                    ),
                ],
            },
        ],
        photo_slots: vec![
            slot(
                "charger-wide",
                "Charger installed, wide",
                "Step back: the whole charger, its mounting and the parking space",
                Always,
            ),
            slot(
                "serial-label",
                "Serial label",
                "Fill the frame with the rating plate; no glare on the barcode",
                Always,
            ),
            slot(
                "consumer-unit",
                "Consumer unit and protective device",
                "Cover off, the charger's RCBO or RCD and its label readable",
                Always,
            ),
            slot(
                "earthing",
                "Earthing",
                "Main earthing terminal, or the earth electrode and its connection for TT",
                Always,
            ),
            slot(
                "cable-route",
                "Cable route",
                "The run from the consumer unit to the charger, with clips or conduit",
                Always,
            ),
            slot(
                "ct-clamp",
                "Load-management CT clamp",
                "The clamp on the meter tails, arrow towards the consumer unit",
                when("load_management_fitted", &[YES]),
            ),
        ],
    }
}
