//! Report templates on the device: pulled versions are kept, a draft is
//! pinned to the newest version of its job's template when it is created,
//! and the domain's check of test results and the photo checklist blocks
//! submit until they are complete.

mod common;

use common::{signature, write_jpeg, Fixture};
use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::template::{FieldKind, Requirement, TestField};
use fieldbook_domain::{
    default_uk_template, FieldErrorCode, InstallationStatus, ReportTemplate, SlotFill, TestValue,
};
use fieldbook_store::{ServerBatch, Versioned};

fn pull_templates(f: &mut Fixture, templates: Vec<ReportTemplate>, cursor: i64) {
    f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor,
            report_templates: templates
                .into_iter()
                .map(|record| Versioned {
                    record,
                    server_version: cursor,
                })
                .collect(),
            ..Default::default()
        })
        .unwrap();
}

fn commercial(version: u32) -> ReportTemplate {
    let mut t = default_uk_template();
    t.id = "commercial".into();
    t.version = version;
    if version > 1 {
        t.sections[1].fields.push(TestField {
            key: "terminal_torque_checked".into(),
            label: "Terminal torque checked".into(),
            hint: String::new(),
            kind: FieldKind::YesNo { usual: Some(true) },
            required: Requirement::Always,
        });
    }
    t
}

fn started(f: &mut Fixture, template_id: Option<&str>) -> uuid::Uuid {
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    if let Some(id) = template_id {
        let mut inst = job.installation.clone();
        inst.report_template_id = Some(id.into());
        f.server_update(inst);
    }
    f.store
        .start_installation(job.id, &StartRequest::default())
        .unwrap();
    job.id
}

#[test]
fn a_new_draft_is_pinned_to_the_newest_version_of_its_jobs_template() {
    let mut f = Fixture::new();
    // Nothing pulled: the built-in default.
    let job = started(&mut f, None);
    let draft = f.store.get_report_draft(job).unwrap().unwrap();
    assert_eq!(draft.template, Some(default_uk_template().template_ref()));

    pull_templates(&mut f, vec![commercial(1)], 100);
    let job = started(&mut f, Some("commercial"));
    let draft = f.store.get_report_draft(job).unwrap().unwrap();
    assert_eq!(draft.template, Some(commercial(1).template_ref()));

    // Version 2 arrives while the report is being filled: the draft keeps
    // version 1, also when the screen sends another version back.
    pull_templates(&mut f, vec![commercial(2)], 101);
    let mut edited = draft.clone();
    edited.template = Some(commercial(2).template_ref());
    let saved = f.store.save_report_draft(&edited).unwrap();
    assert_eq!(saved.draft.template, Some(commercial(1).template_ref()));
    let detail = f.store.get_installation(job).unwrap();
    assert_eq!(detail.report_template, Some(commercial(1)));
    // A job started now gets version 2.
    let newer = started(&mut f, Some("commercial"));
    assert_eq!(
        f.store.get_installation(newer).unwrap().report_template,
        Some(commercial(2))
    );

    // Reopening the store keeps the pulled versions.
    let data_dir = f.data_dir();
    let mut placeholder = fieldbook_store::Store::open(data_dir.join("elsewhere")).unwrap();
    std::mem::swap(&mut f.store, &mut placeholder);
    drop(placeholder);
    f.store = fieldbook_store::Store::open(&data_dir).unwrap();
    assert_eq!(
        f.store.get_installation(newer).unwrap().report_template,
        Some(commercial(2))
    );
    let draft = f.store.get_report_draft(newer).unwrap().unwrap();
    let saved = f.store.save_report_draft(&draft).unwrap();
    let missing: Vec<&str> = saved
        .check
        .missing
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert!(missing.contains(&"test_results.terminal_torque_checked"));
}

#[test]
fn autosave_answers_what_the_template_still_needs_and_submit_waits_for_it() {
    let mut f = Fixture::new();
    let job = started(&mut f, None);
    f.store.finish_installation(job).unwrap();
    let mut draft = f.store.get_report_draft(job).unwrap().unwrap();
    draft.charger_serial_number = "ZP-1".into();
    draft.charger_model = "Zappi 7kW".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    // An unusual reading, not confirmed yet, and a typo.
    draft.test_results.insert(
        "zs".into(),
        TestValue {
            value: "1.52".into(),
            confirmed: None,
        },
    );
    draft.test_results.insert(
        "r1_r2".into(),
        TestValue {
            value: "0,27".into(),
            confirmed: None,
        },
    );
    // A real photo for the serial label.
    let photo = write_jpeg(f.dir.path(), "label.jpg", 9);
    let media = f.store.attach_media(job, &photo, "Serial label").unwrap();
    draft.photo_slots.insert(
        "serial-label".into(),
        SlotFill::Photo {
            sha256: media.file.sha256.clone(),
        },
    );
    let saved = f.store.save_report_draft(&draft).unwrap();
    let template = saved.check.template.as_ref().expect("a template check");
    let fields = |errs: &[fieldbook_domain::FieldError]| -> Vec<String> {
        errs.iter().map(|e| e.field.clone()).collect()
    };
    assert_eq!(fields(&template.needs_confirmation), ["test_results.zs"]);
    assert_eq!(fields(&template.invalid), ["test_results.r1_r2"]);
    assert!(template.missing.is_empty());
    // The typo shows while typing; both block submit.
    assert_eq!(fields(&saved.check.problems.errors), ["test_results.r1_r2"]);
    assert!(fields(&saved.check.missing).contains(&"test_results.zs".to_owned()));
    assert!(template
        .applicable
        .contains(&"photo_slots.serial-label".to_owned()));
    assert!(!template
        .applicable
        .contains(&"photo_slots.ct-clamp".to_owned()));

    f.store
        .sign_report(job, &signature("Ada Lovelace"))
        .unwrap();
    let err = f.store.submit_report(job).unwrap_err();
    let codes: Vec<(String, FieldErrorCode)> = err
        .validation_errors()
        .unwrap()
        .errors
        .iter()
        .map(|e| (e.field.clone(), e.code))
        .collect();
    assert!(codes.contains(&("test_results.zs".into(), FieldErrorCode::NeedsConfirmation)));
    assert!(codes.contains(&("test_results.r1_r2".into(), FieldErrorCode::InvalidFormat)));

    // Corrected and confirmed, signed again: submitted with its template
    // version, results and checklist.
    let mut draft = f.store.get_report_draft(job).unwrap().unwrap();
    draft.test_results.get_mut("zs").unwrap().confirmed = Some("1.52".into());
    draft.test_results.get_mut("r1_r2").unwrap().value = "0.27".into();
    let saved = f.store.save_report_draft(&draft).unwrap();
    assert_eq!(saved.check.signature_matches, Some(false));
    f.store
        .sign_report(job, &signature("Ada Lovelace"))
        .unwrap();
    let report = f.store.submit_report(job).unwrap();
    assert_eq!(report.template, Some(default_uk_template().template_ref()));
    assert_eq!(report.test_results["zs"].confirmed.as_deref(), Some("1.52"));
    assert_eq!(
        report.photo_slots["serial-label"],
        SlotFill::Photo {
            sha256: media.file.sha256
        }
    );
    // The stored report reads back the same.
    assert_eq!(f.store.get_report(job).unwrap().unwrap(), report);
}

#[test]
fn removing_a_slots_photo_puts_the_slot_back_on_the_list() {
    let mut f = Fixture::new();
    let job = started(&mut f, None);
    let photo = write_jpeg(f.dir.path(), "wide.jpg", 4);
    let media = f.store.attach_media(job, &photo, "").unwrap();
    let mut draft = f.store.get_report_draft(job).unwrap().unwrap();
    fieldbook_testkit::fill_default_template(&mut draft);
    draft.photo_slots.insert(
        "charger-wide".into(),
        SlotFill::Photo {
            sha256: media.file.sha256.clone(),
        },
    );
    let saved = f.store.save_report_draft(&draft).unwrap();
    assert!(saved.check.template.unwrap().missing.is_empty());
    f.store.remove_media(media.id).unwrap();
    let detail = f.store.get_installation(job).unwrap();
    let template = detail.report_check.unwrap().template.unwrap();
    assert_eq!(template.missing.len(), 1);
    assert_eq!(template.missing[0].field, "photo_slots.charger-wide");
}
