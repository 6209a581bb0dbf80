//! The installation list: date range, status filter, text search, ordering,
//! paging, and a search index that follows lead changes.

mod common;

use common::{day, v, Fixture};
use fieldbook_domain::{InstallationStatus, Lead, TimeSlot};
use fieldbook_store::{InstallationQuery, ServerBatch};
use uuid::Uuid;

fn lead(name: &str, line1: &str, city: &str, postcode: &str) -> Lead {
    Lead {
        id: Uuid::new_v4(),
        customer_name: name.into(),
        phone: "0113 496 0000".into(),
        email: String::new(),
        address_line1: line1.into(),
        address_line2: String::new(),
        city: city.into(),
        postcode: postcode.into(),
        latitude: None,
        longitude: None,
        installer_notes: String::new(),
    }
}

fn ids(f: &Fixture, q: &InstallationQuery) -> Vec<String> {
    f.store
        .list_installations(q)
        .unwrap()
        .into_iter()
        .map(|s| s.installation_id.to_string())
        .collect()
}

fn text(t: &str) -> InstallationQuery {
    InstallationQuery {
        text: t.into(),
        ..Default::default()
    }
}

struct Seeded {
    f: Fixture,
    mueller: Lead,
}

/// Five jobs: INS-2026-000001 … 000005.
fn seeded() -> Seeded {
    let mut f = Fixture::new();
    use InstallationStatus::*;
    let mueller = lead("Jürgen MÜLLER", "3 Mill Lane", "York", "YO1 7HH");
    f.add_job_with_lead(
        Confirmed,
        lead("Ada Lovelace", "12 Acacia Avenue", "Leeds", "LS1 4AB"),
        day(3),
        TimeSlot::Afternoon,
    );
    f.add_job_with_lead(Planned, mueller.clone(), day(3), TimeSlot::Morning);
    f.add_job_with_lead(
        InProgress,
        lead("Grace Hopper", "1 Harbour Road", "Hull", "HU1 2AA"),
        day(1),
        TimeSlot::FullDay,
    );
    f.add_job_with_lead(
        Cancelled,
        lead("Alan Turing", "7 Acacia Close", "Leeds", "LS6 2QQ"),
        day(10),
        TimeSlot::Evening,
    );
    f.add_job_with_lead(
        Confirmed,
        lead("Mary Somerville", "2 Burns Street", "Jedburgh", "TD8 6AA"),
        day(3),
        TimeSlot::Evening,
    );
    Seeded { f, mueller }
}

#[test]
fn lists_everything_by_date_then_time_slot() {
    let s = seeded();
    assert_eq!(
        ids(&s.f, &InstallationQuery::default()),
        vec![
            "INS-2026-000003", // day 1 full day
            "INS-2026-000002", // day 3 morning
            "INS-2026-000001", // day 3 afternoon
            "INS-2026-000005", // day 3 evening
            "INS-2026-000004", // day 10
        ]
    );
    let all =
        s.f.store
            .list_installations(&InstallationQuery::default())
            .unwrap();
    let first = &all[0];
    assert_eq!(first.customer_name, "Grace Hopper");
    assert_eq!(first.city, "Hull");
    assert_eq!(first.postcode, "HU1 2AA");
    assert_eq!(first.phone, "0113 496 0000");
    assert_eq!(first.scheduled_time_slot, TimeSlot::FullDay);
    assert_eq!(first.status, InstallationStatus::InProgress);
    assert!(first.material_ready);
    assert_eq!(
        first.assignment_status,
        Some(fieldbook_domain::AssignmentStatus::Assigned)
    );
    assert!(!first.has_pending_changes);
}

#[test]
fn date_range_and_status_filters() {
    let s = seeded();
    let q = InstallationQuery {
        from_date: Some(day(2)),
        to_date: Some(day(3)),
        ..Default::default()
    };
    assert_eq!(
        ids(&s.f, &q),
        vec!["INS-2026-000002", "INS-2026-000001", "INS-2026-000005"]
    );
    let q = InstallationQuery {
        statuses: vec![InstallationStatus::Confirmed, InstallationStatus::Cancelled],
        ..Default::default()
    };
    assert_eq!(
        ids(&s.f, &q),
        vec!["INS-2026-000001", "INS-2026-000005", "INS-2026-000004"]
    );
    let q = InstallationQuery {
        from_date: Some(day(3)),
        statuses: vec![InstallationStatus::Confirmed],
        text: "acacia".into(),
        ..Default::default()
    };
    assert_eq!(ids(&s.f, &q), vec!["INS-2026-000001"]);
}

#[test]
fn text_search_over_name_address_postcode_and_id() {
    let s = seeded();
    assert_eq!(ids(&s.f, &text("lovelace")), vec!["INS-2026-000001"]);
    assert_eq!(
        ids(&s.f, &text("ACACIA")),
        vec!["INS-2026-000001", "INS-2026-000004"]
    );
    assert_eq!(ids(&s.f, &text("ls6")), vec!["INS-2026-000004"]);
    assert_eq!(ids(&s.f, &text("ins-2026-000005")), vec!["INS-2026-000005"]);
    assert_eq!(ids(&s.f, &text("000003")), vec!["INS-2026-000003"]);
    assert_eq!(ids(&s.f, &text("hull")), vec!["INS-2026-000003"]);
    // Unicode case folding.
    assert_eq!(ids(&s.f, &text("müller")), vec!["INS-2026-000002"]);
    assert_eq!(ids(&s.f, &text("JÜRGEN")), vec!["INS-2026-000002"]);
    // Accents folded: what a technician types without them still finds it.
    assert_eq!(ids(&s.f, &text("muller")), vec!["INS-2026-000002"]);
    assert_eq!(ids(&s.f, &text("jurgen mill")), vec!["INS-2026-000002"]);
    // Every word must match, in any field.
    assert_eq!(
        ids(&s.f, &text("  acacia   leeds ls1 ")),
        vec!["INS-2026-000001"]
    );
    assert!(ids(&s.f, &text("acacia hull")).is_empty());
    // No match across field boundaries, and LIKE wildcards are plain text.
    assert!(ids(&s.f, &text("lovelace12")).is_empty());
    assert!(ids(&s.f, &text("%")).is_empty());
    assert!(ids(&s.f, &text("_")).is_empty());
    assert!(ids(&s.f, &text("nobody")).is_empty());
}

#[test]
fn paging_with_limit_and_offset() {
    let s = seeded();
    let page = |offset| InstallationQuery {
        limit: 2,
        offset,
        ..Default::default()
    };
    assert_eq!(
        ids(&s.f, &page(0)),
        vec!["INS-2026-000003", "INS-2026-000002"]
    );
    assert_eq!(
        ids(&s.f, &page(2)),
        vec!["INS-2026-000001", "INS-2026-000005"]
    );
    assert_eq!(ids(&s.f, &page(4)), vec!["INS-2026-000004"]);
}

#[test]
fn search_follows_lead_changes_in_later_pages() {
    let mut s = seeded();
    // Search once first, so a cached copy of the search text exists and must
    // follow the change.
    assert_eq!(ids(&s.f, &text("müller")), vec!["INS-2026-000002"]);
    let mut renamed = s.mueller.clone();
    renamed.customer_name = "Juergen Miller".into();
    renamed.postcode = "YO10 5DD".into();
    s.f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 500,
            leads: vec![v(renamed, 500)],
            ..Default::default()
        })
        .unwrap();
    assert!(ids(&s.f, &text("müller")).is_empty());
    assert_eq!(ids(&s.f, &text("miller yo10")), vec!["INS-2026-000002"]);
}

#[test]
fn installation_arriving_before_its_lead_becomes_searchable_when_the_lead_arrives() {
    let mut f = Fixture::new();
    let late_lead = lead("Hedy Lamarr", "9 Patent Row", "Bath", "BA1 1AA");
    let job = f.add_job_with_lead(
        InstallationStatus::Confirmed,
        late_lead.clone(),
        day(4),
        TimeSlot::Morning,
    );
    // Simulate the other order: drop the lead, re-send the installation, then the lead.
    f.raw_connection()
        .execute(
            "DELETE FROM leads WHERE id = ?1",
            [late_lead.id.to_string()],
        )
        .unwrap();
    f.server_update(job.installation.clone());
    assert!(ids(&f, &text("lamarr")).is_empty());
    let listed = f
        .store
        .list_installations(&InstallationQuery::default())
        .unwrap();
    assert_eq!(
        listed[0].customer_name, "",
        "shown without lead until it syncs"
    );
    f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 900,
            leads: vec![v(late_lead, 900)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&f, &text("lamarr")), vec!["INS-2026-000001"]);
}

#[test]
fn demo_data_search_matches_a_naive_filter() {
    // Cross-check against a straightforward in-memory filter over demo data.
    let demo = fieldbook_demo::generate(&fieldbook_demo::DemoConfig::new(
        500,
        4,
        chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut store = fieldbook_store::Store::open(dir.path()).unwrap();
    store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 1,
            users: demo.users.iter().map(|u| v(u.user.clone(), 1)).collect(),
            teams: demo.teams.iter().cloned().map(|t| v(t, 1)).collect(),
            leads: demo.leads.iter().cloned().map(|l| v(l, 1)).collect(),
            surveys: demo.surveys.iter().cloned().map(|x| v(x, 1)).collect(),
            installations: demo
                .installations
                .iter()
                .cloned()
                .map(|i| v(i, 1))
                .collect(),
            assignments: demo.assignments.iter().cloned().map(|a| v(a, 1)).collect(),
            reports: vec![],
            media: vec![],
            tombstones: vec![],
            held_work: vec![],
            report_templates: vec![],
        })
        .unwrap();
    let probe = &demo.leads[17];
    for term in [
        probe
            .customer_name
            .split(' ')
            .next_back()
            .unwrap()
            .to_string(),
        probe.city.to_uppercase(),
        probe.postcode.split(' ').next().unwrap().to_lowercase(),
    ] {
        let mut expected: Vec<String> = demo
            .installations
            .iter()
            .filter(|i| {
                let l = demo.leads.iter().find(|l| l.id == i.lead_id).unwrap();
                let hay = [
                    &l.customer_name,
                    &l.address_line1,
                    &l.address_line2,
                    &l.city,
                    &l.postcode,
                ]
                .map(|s| s.to_lowercase());
                hay.iter().any(|h| h.contains(&term.to_lowercase()))
                    || i.installation_id
                        .as_str()
                        .to_lowercase()
                        .contains(&term.to_lowercase())
            })
            .map(|i| i.installation_id.to_string())
            .collect();
        expected.sort();
        let mut got: Vec<String> = store
            .list_installations(&InstallationQuery {
                text: term.clone(),
                limit: 10_000,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|s| s.installation_id.to_string())
            .collect();
        got.sort();
        assert!(!expected.is_empty(), "{term}");
        assert_eq!(got, expected, "term {term:?}");
    }
}

#[test]
fn tombstoned_installations_leave_search_results() {
    let mut s = seeded();
    assert_eq!(ids(&s.f, &text("hopper")), vec!["INS-2026-000003"]);
    let hopper = s.f.store.list_installations(&text("hopper")).unwrap()[0].id;
    s.f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 600,
            tombstones: vec![common::job_left_scope(hopper)],
            ..Default::default()
        })
        .unwrap();
    assert!(ids(&s.f, &text("hopper")).is_empty());
    assert_eq!(ids(&s.f, &text("acacia")).len(), 2);
}

#[test]
fn list_shows_my_teams_assignment_before_the_primary_of_another_team() {
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    // Make the fixture's assignment a backup, and give another team the
    // primary one, already accepted; a withdrawn third one is never shown.
    let mut mine = f.store.get_assignment(job.assignment_id).unwrap();
    mine.is_primary = false;
    let other_team = fieldbook_domain::Team {
        id: Uuid::new_v4(),
        name: "South 2".into(),
        member_ids: vec![],
    };
    let primary = fieldbook_domain::InstallationAssignment {
        id: Uuid::new_v4(),
        team_id: other_team.id,
        is_primary: true,
        status: fieldbook_domain::AssignmentStatus::Accepted,
        ..mine.clone()
    };
    let withdrawn = fieldbook_domain::InstallationAssignment {
        id: Uuid::new_v4(),
        status: fieldbook_domain::AssignmentStatus::Withdrawn,
        ..mine.clone()
    };
    f.store
        .apply_server_batch(&ServerBatch {
            scope: "installations".into(),
            cursor: 700,
            teams: vec![v(other_team, 700)],
            assignments: vec![v(mine, 700), v(primary, 700), v(withdrawn, 700)],
            ..Default::default()
        })
        .unwrap();
    let status = |f: &Fixture| {
        f.store
            .list_installations(&InstallationQuery::default())
            .unwrap()[0]
            .assignment_status
    };
    assert_eq!(
        status(&f),
        Some(fieldbook_domain::AssignmentStatus::Assigned)
    );
    // Signed out, the primary assignment is the one shown.
    f.store.sign_out().unwrap();
    assert_eq!(
        status(&f),
        Some(fieldbook_domain::AssignmentStatus::Accepted)
    );
    let detail = f.store.get_installation(job.id).unwrap();
    assert_eq!(detail.assignments.len(), 3);
    assert!(detail.assignments[0].assignment.is_primary);
    assert_eq!(detail.assignments[0].team.as_ref().unwrap().name, "South 2");
}

/// Two jobs, as [`seeded`]'s first two, pulled into `f`.
fn two_jobs(f: &mut Fixture) {
    f.add_job_with_lead(
        InstallationStatus::Confirmed,
        lead("Ada Lovelace", "12 Acacia Avenue", "Leeds", "LS1 4AB"),
        day(3),
        TimeSlot::Afternoon,
    );
    f.add_job_with_lead(
        InstallationStatus::Planned,
        lead("Jürgen MÜLLER", "3 Mill Lane", "York", "YO1 7HH"),
        day(3),
        TimeSlot::Morning,
    );
}

fn stored_search_texts(f: &Fixture) -> Vec<String> {
    f.raw_connection()
        .prepare("SELECT search_text FROM installation_search ORDER BY installation_rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_first_sync_writes_the_search_texts_at_its_end_and_finds_its_jobs_meanwhile() {
    let mut page_by_page = Fixture::new();
    two_jobs(&mut page_by_page);
    let expected = stored_search_texts(&page_by_page);
    assert_eq!(expected.len(), 2);

    let mut f = Fixture::new();
    f.store.defer_for_bulk_load().unwrap();
    two_jobs(&mut f);
    // The pages wrote no search text...
    assert!(stored_search_texts(&f).is_empty());
    // ...and search still finds what they brought.
    assert_eq!(ids(&f, &text("lovelace")), vec!["INS-2026-000001"]);
    assert_eq!(ids(&f, &text("muller york")), vec!["INS-2026-000002"]);
    assert!(ids(&f, &text("hull")).is_empty());

    // The end of the first sync writes them: the texts the pages would have.
    assert_eq!(f.store.build_deferred_indexes().unwrap(), 3);
    assert_eq!(stored_search_texts(&f), expected);
    assert_eq!(ids(&f, &text("jürgen")), vec!["INS-2026-000002"]);
    // Later pages write their own again.
    f.add_job_with_lead(
        InstallationStatus::Planned,
        lead("Grace Hopper", "1 Harbour Road", "Hull", "HU1 2AA"),
        day(1),
        TimeSlot::FullDay,
    );
    assert_eq!(stored_search_texts(&f).len(), 3);
    assert_eq!(ids(&f, &text("hull")), vec!["INS-2026-000003"]);
}

#[test]
fn a_first_sync_killed_halfway_gets_its_search_texts_at_the_next_open() {
    let mut f = Fixture::new();
    f.store.defer_for_bulk_load().unwrap();
    two_jobs(&mut f);
    assert!(stored_search_texts(&f).is_empty());

    // The app dies before the sync's end; the next start opens the store.
    let Fixture { dir, store, .. } = f;
    drop(store);
    let store = fieldbook_store::Store::open(dir.path()).unwrap();
    let raw = rusqlite::Connection::open(store.database_path()).unwrap();
    let stored: i64 = raw
        .query_row("SELECT count(*) FROM installation_search", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 2);
    let found: Vec<String> = store
        .list_installations(&text("lovelace"))
        .unwrap()
        .into_iter()
        .map(|s| s.installation_id.to_string())
        .collect();
    assert_eq!(found, vec!["INS-2026-000001"]);
}
