//! Report templates on the real server: ops publish versions (admin API and
//! CLI function), choose one per installation, devices pull them, and a
//! submitted report is checked against the version it names.

use fieldbook_domain::template::{FieldKind, Requirement, TestField};
use fieldbook_domain::{
    default_uk_template, Mutation, PhotoSlotFills, ReportTemplate, SlotFill, TestValue,
    DEFAULT_TEMPLATE_ID,
};
use fieldbook_protocol::{MutationOutcome, RejectCode};
use fieldbook_testkit::{
    finish, is_applied, photo, signed_report, signed_templated_report, start, uk_test_results,
    ProtocolDevice, TestServer, TwoTeams, TECH_A,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const SLOTS: [&str; 5] = [
    "charger-wide",
    "serial-label",
    "consumer-unit",
    "earthing",
    "cable-route",
];

/// One photo per required slot of the default template.
fn slot_photos(installation: Uuid) -> (Vec<fieldbook_domain::InstallationMedia>, PhotoSlotFills) {
    let media: Vec<_> = SLOTS
        .iter()
        .map(|s| photo(installation, s.as_bytes()))
        .collect();
    let slots = SLOTS
        .iter()
        .zip(&media)
        .map(|(s, m)| {
            (
                (*s).to_owned(),
                SlotFill::Photo {
                    sha256: m.file.sha256.clone(),
                },
            )
        })
        .collect();
    (media, slots)
}

/// The default template with one more required field: what ops publish as
/// version 2.
fn with_thermal_check() -> ReportTemplate {
    let mut t = default_uk_template();
    t.sections[1].fields.push(TestField {
        key: "terminal_torque_checked".into(),
        label: "Terminal torque checked".into(),
        hint: String::new(),
        kind: FieldKind::YesNo { usual: Some(true) },
        required: Requirement::Always,
    });
    t
}

async fn publish(
    server: &TestServer,
    token: &str,
    template: &ReportTemplate,
) -> (StatusCode, Value) {
    server
        .post(
            "/api/v1/admin/report-templates",
            token,
            &serde_json::to_value(template).unwrap(),
        )
        .await
}

fn reject_reason(outcome: &MutationOutcome) -> (RejectCode, String) {
    match outcome {
        MutationOutcome::Rejected { code, reason, .. } => (*code, reason.clone()),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A completed job of team A with its slot photos attached; the device
/// that did it.
async fn completed_job(
    server: &TestServer,
    world: &TwoTeams,
) -> (
    Uuid,
    ProtocolDevice,
    Vec<fieldbook_domain::InstallationMedia>,
    PhotoSlotFills,
) {
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(server, TECH_A).await;
    let (media, slots) = slot_photos(installation);
    let mut batch = vec![start(installation), finish(installation)];
    batch.extend(
        media
            .iter()
            .map(|m| Mutation::MediaAttach { media: m.clone() }),
    );
    let outcomes = device.push(server, batch).await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");
    (installation, device, media, slots)
}

fn hashes(media: &[fieldbook_domain::InstallationMedia]) -> Vec<fieldbook_domain::Sha256Hex> {
    media.iter().map(|m| m.file.sha256.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_publish_versions_and_an_unchanged_template_makes_none() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;

    // Before anything is published the built-in default is listed.
    let (status, list) = server
        .get("/api/v1/admin/report-templates", &world.ops)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["record"]["id"], DEFAULT_TEMPLATE_ID);
    assert_eq!(list["items"][0]["record"]["version"], 1);

    // Republishing the built-in default changes nothing.
    let (status, body) = publish(&server, &world.ops, &default_uk_template()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], false);
    assert_eq!(body["template"]["record"]["version"], 1);

    let (status, body) = publish(&server, &world.ops, &with_thermal_check()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["template"]["record"]["version"], 2);
    // The request's version number does not count; the content does.
    let mut again = with_thermal_check();
    again.version = 77;
    let (status, body) = publish(&server, &world.ops, &again).await;
    assert_eq!((status, &body["created"]), (StatusCode::OK, &json!(false)));
    assert_eq!(body["template"]["record"]["version"], 2);

    // Old versions stay readable.
    let (status, v1) = server
        .get(
            &format!("/api/v1/admin/report-templates/{DEFAULT_TEMPLATE_ID}/1"),
            &world.ops,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_value::<ReportTemplate>(v1).unwrap(),
        default_uk_template()
    );
    let (status, _) = server
        .get(
            &format!("/api/v1/admin/report-templates/{DEFAULT_TEMPLATE_ID}/3"),
            &world.ops,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A broken template is refused with the field named.
    let mut broken = default_uk_template();
    broken.photo_slots[0].key = "Charger Wide".into();
    let (status, body) = publish(&server, &world.ops, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("photo_slots.Charger Wide"),
        "{body}"
    );

    // Technicians do not see the admin routes.
    let tech = server.token(TECH_A).await;
    let (status, _) = publish(&server, &tech, &with_thermal_check()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_and_the_installations_choice_reach_the_device_in_the_pull() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let tech = server.token(TECH_A).await;
    let first = server.pull_all(&tech, 0, 500).await;
    let cursor = first.last().unwrap().next_cursor;
    // Nothing published: the device relies on its built-in default.
    assert!(first.iter().all(|p| p.report_templates.is_empty()));

    let mut custom = with_thermal_check();
    custom.id = "uk-ev-commercial".into();
    custom.name = "Commercial site".into();
    let (status, _) = publish(&server, &world.ops, &custom).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/api/v1/admin/installations/{installation}/report-template"),
            Some(&world.ops),
            Some(&json!({ "template_id": "uk-ev-commercial" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server
        .call(
            Method::PUT,
            &format!("/api/v1/admin/installations/{installation}/report-template"),
            Some(&world.ops),
            Some(&json!({ "template_id": "no-such-template" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let pages = server.pull_all(&tech, cursor, 500).await;
    let templates: Vec<_> = pages.iter().flat_map(|p| &p.report_templates).collect();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].record.id, "uk-ev-commercial");
    assert_eq!(templates[0].record.version, 1);
    let job = pages
        .iter()
        .flat_map(|p| &p.installations)
        .find(|i| i.record.id == installation)
        .expect("the installation comes again");
    assert_eq!(job.record.report_template_id(), "uk-ev-commercial");
    // Each version comes once.
    let later = server
        .pull_all(&tech, pages.last().unwrap().next_cursor, 500)
        .await;
    assert!(later.iter().all(|p| p.report_templates.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_checked_against_the_template_version_it_was_filled_against() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (installation, mut device, media, slots) = completed_job(&server, &world).await;

    // Ops publish version 2 (one more required test) while the device still
    // holds version 1 and fills the report against it.
    let (status, _) = publish(&server, &world.ops, &with_thermal_check()).await;
    assert_eq!(status, StatusCode::CREATED);
    let v1 = default_uk_template();
    let report =
        signed_templated_report(installation, &hashes(&media), &v1, uk_test_results(), slots)
            .expect("complete against version 1");
    let outcome = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(report.clone()),
            },
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");

    let stored = server.report(installation).expect("stored");
    assert_eq!(stored.template, Some(v1.template_ref()));
    assert_eq!(stored.test_results, report.test_results);
    assert_eq!(stored.photo_slots, report.photo_slots);
    assert_eq!(stored.content_hash, report.content_hash);
    // The device that pulls it sees the same, template version included.
    let tech = server.token(TECH_A).await;
    let pulled = server.pull_all(&tech, 0, 500).await;
    let pulled = pulled
        .iter()
        .flat_map(|p| &p.reports)
        .find(|r| r.record.report.installation_id == installation)
        .unwrap();
    assert_eq!(pulled.record.report.template, Some(v1.template_ref()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_what_the_named_version_lacks_with_the_domain_words() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (installation, mut device, media, slots) = completed_job(&server, &world).await;
    let (status, _) = publish(&server, &world.ops, &with_thermal_check()).await;
    assert_eq!(status, StatusCode::CREATED);
    let v2 = with_thermal_check_v2();

    // A device holding version 2 but whose report lacks the new result: a
    // tampered or buggy device, since its own check would have blocked it.
    // Built by hand: the domain refuses to make such a report.
    let mut report = signed_report(installation, &hashes(&media));
    report.template = Some(v2.template_ref());
    report.test_results = uk_test_results();
    report.photo_slots = slots.clone();
    resign(&mut report, &hashes(&media));
    let outcome = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(report),
            },
        )
        .await;
    let (code, reason) = reject_reason(&outcome);
    assert_eq!(code, RejectCode::ValidationFailed);
    assert!(
        reason.contains("test_results.terminal_torque_checked"),
        "{reason}"
    );

    // A version the server does not hold.
    let mut unknown = v2.clone();
    unknown.version = 9;
    let mut report = signed_report(installation, &hashes(&media));
    report.template = Some(unknown.template_ref());
    resign(&mut report, &hashes(&media));
    let (code, reason) = reject_reason(
        &device
            .push_one(
                &server,
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            )
            .await,
    );
    assert_eq!(code, RejectCode::ValidationFailed);
    assert!(reason.contains("version 9 is not known here"), "{reason}");

    // A required photo slot left empty, and an unconfirmed unusual value.
    let mut results = uk_test_results();
    results.insert(
        "zs".into(),
        TestValue {
            value: "1.9".into(),
            confirmed: None,
        },
    );
    results.insert(
        "terminal_torque_checked".into(),
        TestValue {
            value: "yes".into(),
            confirmed: None,
        },
    );
    let mut missing_slot = slots.clone();
    missing_slot.remove("earthing");
    let mut report = signed_report(installation, &hashes(&media));
    report.template = Some(v2.template_ref());
    report.test_results = results.clone();
    report.photo_slots = missing_slot;
    resign(&mut report, &hashes(&media));
    let (_, reason) = reject_reason(
        &device
            .push_one(
                &server,
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            )
            .await,
    );
    assert!(reason.contains("photo_slots.earthing"), "{reason}");
    assert!(reason.contains("test_results.zs"), "{reason}");
    assert!(server.report(installation).is_none());

    // Confirmed and complete against version 2: applied.
    results.get_mut("zs").unwrap().confirmed = Some("1.9".into());
    let report = signed_templated_report(installation, &hashes(&media), &v2, results, slots)
        .expect("complete against version 2");
    let outcome = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(report),
            },
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");
    assert_eq!(
        server.report(installation).unwrap().template,
        Some(v2.template_ref())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_from_a_device_older_than_templates_is_still_accepted() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (installation, mut device, media, _) = completed_job(&server, &world).await;
    let report = signed_report(installation, &hashes(&media));
    // What an older device sends: no template keys at all.
    let json = serde_json::to_value(&report).unwrap();
    assert!(json.get("template").is_none() && json.get("test_results").is_none());
    let outcome = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(report),
            },
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");
    assert_eq!(server.report(installation).unwrap().template, None);
}

#[test]
fn the_cli_function_publishes_like_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let storage = fieldbook_server::storage::Storage::open(dir.path()).unwrap();
    let first =
        fieldbook_server::report_templates::publish(&storage, &with_thermal_check(), None).unwrap();
    assert!(first.created);
    assert_eq!(first.template.record.version, 2);
    let list = fieldbook_server::report_templates::list(&storage).unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].record.version, 2);
}

/// Version 2 as the server numbered it.
fn with_thermal_check_v2() -> ReportTemplate {
    let mut t = with_thermal_check();
    t.version = 2;
    t
}

/// Signs the report again over its current content (what a device whose
/// customer signed this content would send).
fn resign(
    report: &mut fieldbook_domain::InstallationReport,
    media: &[fieldbook_domain::Sha256Hex],
) {
    let hash = report.recomputed_content_hash(media);
    report.content_hash = hash.clone();
    report.customer_signature.as_mut().unwrap().content_hash = hash;
}
