//! Team scope: what a technician pulls, tombstones when an installation
//! leaves the scope, and 404 for every id route outside it — with a check
//! that the OpenAPI document has no id route missing from the table.

use std::collections::BTreeSet;

use base64::Engine as _;
use fieldbook_domain::{InstallationStatus, Mutation, Sha256Hex};
use fieldbook_protocol::{EntityKind, MutationOutcome, PullPage, TombstoneReason};
use fieldbook_testkit::{
    finish, photo, signed_report, start, ProtocolDevice, TestServer, TwoTeams, TECH_A, TECH_B,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

fn installation_ids(pages: &[PullPage]) -> BTreeSet<Uuid> {
    pages
        .iter()
        .flat_map(|p| p.installations.iter().map(|i| i.record.id))
        .collect()
}

fn tombstoned(pages: &[PullPage], kind: EntityKind) -> BTreeSet<Uuid> {
    pages
        .iter()
        .flat_map(|p| p.tombstones.iter())
        .filter(|t| t.entity == kind)
        .map(|t| t.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_scope_and_tombstones_follow_reassignment() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let ops = &world.ops;
    let i1 = server.create_installation(ops, "One").await;
    let i2 = server.create_installation(ops, "Two").await;
    let i3 = server.create_installation(ops, "Three").await;
    let i4 = server.create_installation(ops, "Four").await;
    let unassigned = server.create_installation(ops, "Nobody's").await;
    server.assign(ops, i1, world.team_a).await;
    server.assign(ops, i2, world.team_a).await;
    let a3 = server.assign(ops, i3, world.team_a).await;
    server.assign(ops, i4, world.team_b).await;

    let alice = server.token(TECH_A).await;
    let bob = server.token(TECH_B).await;

    let pages = server.pull_all(&alice, 0, 2).await;
    assert_eq!(installation_ids(&pages), BTreeSet::from([i1, i2, i3]));
    let count = |f: fn(&PullPage) -> usize| pages.iter().map(f).sum::<usize>();
    assert_eq!(count(|p| p.leads.len()), 3);
    assert_eq!(count(|p| p.surveys.len()), 3);
    assert_eq!(count(|p| p.assignments.len()), 3);
    let teams: BTreeSet<Uuid> = pages
        .iter()
        .flat_map(|p| p.teams.iter().map(|t| t.record.id))
        .collect();
    assert_eq!(teams, BTreeSet::from([world.team_a]));
    let users: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.users.iter().map(|u| u.record.username.clone()))
        .collect();
    // The team, and the ops user who planned and assigned the jobs.
    assert_eq!(
        users,
        BTreeSet::from(["alice".into(), "andy".into(), "ops".into()])
    );
    let alice_cursor = pages.last().unwrap().next_cursor;

    let bob_pages = server.pull_all(&bob, 0, 100).await;
    assert_eq!(installation_ids(&bob_pages), BTreeSet::from([i4]));
    let bob_cursor = bob_pages.last().unwrap().next_cursor;

    // Ops see everything.
    let ops_pages = server.pull_all(ops, 0, 1000).await;
    assert_eq!(
        installation_ids(&ops_pages),
        BTreeSet::from([i1, i2, i3, i4, unassigned])
    );

    // Reassign i3 from team A to team B.
    server.withdraw(ops, a3).await;
    server.assign(ops, i3, world.team_b).await;

    let pages = server.pull_all(&alice, alice_cursor, 1000).await;
    assert!(installation_ids(&pages).is_empty(), "{pages:?}");
    assert_eq!(
        tombstoned(&pages, EntityKind::Installation),
        BTreeSet::from([i3])
    );
    assert_eq!(tombstoned(&pages, EntityKind::Lead).len(), 1);
    assert_eq!(tombstoned(&pages, EntityKind::Survey).len(), 1);
    assert!(tombstoned(&pages, EntityKind::Assignment).contains(&a3));
    assert!(pages
        .iter()
        .flat_map(|p| &p.tombstones)
        .all(|t| t.reason == TombstoneReason::LeftScope));
    let alice_cursor = pages.last().unwrap().next_cursor;

    // Bob's devices get i3 with its family although its rows are older than
    // his cursor.
    let pages = server.pull_all(&bob, bob_cursor, 1000).await;
    assert_eq!(installation_ids(&pages), BTreeSet::from([i3]));
    assert_eq!(pages.iter().map(|p| p.leads.len()).sum::<usize>(), 1);
    assert_eq!(pages.iter().map(|p| p.surveys.len()).sum::<usize>(), 1);

    // Alice's team gets it back as backup: it comes back, no tombstone.
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/installations/{i3}/assignments"),
            ops,
            &json!({"team_id": world.team_a, "is_primary": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let pages = server.pull_all(&alice, alice_cursor, 1000).await;
    assert_eq!(installation_ids(&pages), BTreeSet::from([i3]));
    assert!(tombstoned(&pages, EntityKind::Installation).is_empty());

    // A fresh device of alice's (cursor 0) never sees the old tombstones of
    // records it can see now, and sees i1..i3.
    let pages = server.pull_all(&alice, 0, 1000).await;
    assert_eq!(installation_ids(&pages), BTreeSet::from([i1, i2, i3]));
    assert!(tombstoned(&pages, EntityKind::Installation).is_empty());
}

/// Every route that takes an id, as the OpenAPI document spells it. The test
/// below fails if the document has an id route missing here.
const ID_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/installations/{installation_id}"),
    ("GET", "/api/v1/installations/{installation_id}/report"),
    (
        "GET",
        "/api/v1/installations/{installation_id}/report/events",
    ),
    ("GET", "/api/v1/media/{media_id}"),
    ("POST", "/api/v1/admin/teams/{team_id}/members"),
    ("DELETE", "/api/v1/admin/teams/{team_id}/members/{user_id}"),
    (
        "POST",
        "/api/v1/admin/installations/{installation_id}/assignments",
    ),
    (
        "POST",
        "/api/v1/admin/installations/{installation_id}/transition",
    ),
    ("POST", "/api/v1/admin/assignments/{assignment_id}/withdraw"),
    (
        "PUT",
        "/api/v1/admin/installations/{installation_id}/report-template",
    ),
    (
        "POST",
        "/api/v1/admin/installations/{installation_id}/send-back",
    ),
    ("GET", "/api/v1/admin/held-work/{held_work_id}"),
    ("POST", "/api/v1/admin/held-work/{held_work_id}/accept"),
    ("POST", "/api/v1/admin/held-work/{held_work_id}/keep"),
    ("HEAD", "/api/v1/blobs/{upload_id}"),
    ("PATCH", "/api/v1/blobs/{upload_id}"),
    // Last: it deletes the upload the other blob rows use.
    ("DELETE", "/api/v1/blobs/{upload_id}"),
];

/// Id routes whose cross-team answer is tested in `tests/ops.rs`: the ops
/// console's routes answer 403 to every technician, and the blob downloads'
/// scope 404 needs uploaded bytes.
const ID_ROUTES_TESTED_IN_OPS: &[(&str, &str)] = &[
    ("GET", "/api/v1/ops/installations/{installation_id}"),
    // Its 403 to a technician: tests/certificates.rs.
    (
        "GET",
        "/api/v1/ops/installations/{installation_id}/certificate",
    ),
    ("POST", "/api/v1/ops/surveys/{survey_id}/installation"),
    ("POST", "/api/v1/ops/assignments/{assignment_id}/reassign"),
    ("POST", "/api/v1/ops/sessions/{session_id}/revoke"),
    ("POST", "/api/v1/ops/devices/{device_id}/revoke"),
    ("POST", "/api/v1/ops/devices/{device_id}/wipe"),
    ("GET", "/api/v1/blobs/{sha256}"),
    ("GET", "/api/v1/blobs/{sha256}/thumbnail"),
];

/// Routes with path parameters that name no team's object: the published
/// app update (by platform target and the caller's version) is the same
/// for everyone and needs no sign-in; a report template is the company's.
const PARAMETER_ROUTES_WITHOUT_TEAM_OBJECTS: &[(&str, &str)] = &[
    ("GET", "/api/v1/updates/{target}/{current_version}"),
    ("GET", "/api/v1/updates/{target}/files/{file_name}"),
    // Report templates are the company's, the same for every team.
    (
        "GET",
        "/api/v1/admin/report-templates/{template_id}/{version}",
    ),
];

/// Team B's objects, which team A must not reach.
struct TeamBObjects {
    installation: Uuid,
    media: Uuid,
    team: Uuid,
    assignment: Uuid,
    /// A member of team B who is not bob (whose token the rows use).
    member: Uuid,
    upload: String,
    /// Team B's installation with a submitted report, for send-back (the
    /// transition row closes `installation`).
    submitted: Uuid,
    /// Bob's held work with a report (accepted by its row) and without
    /// (kept on record by its row).
    held_with_report: Uuid,
    held_to_keep: Uuid,
}

impl TeamBObjects {
    fn fill(&self, template: &str) -> String {
        let installation = if template.ends_with("/send-back") {
            self.submitted
        } else {
            self.installation
        };
        let held = if template.ends_with("/keep") {
            self.held_to_keep
        } else {
            self.held_with_report
        };
        template
            .replace("{installation_id}", &installation.to_string())
            .replace("{held_work_id}", &held.to_string())
            .replace("{media_id}", &self.media.to_string())
            .replace("{team_id}", &self.team.to_string())
            .replace("{assignment_id}", &self.assignment.to_string())
            .replace("{user_id}", &self.member.to_string())
            .replace("{upload_id}", &self.upload)
    }
}

/// Request bodies for the admin routes. They never bring team A into the
/// picture, so the owner's successful call cannot widen team A's scope.
fn body_for(template: &str, world: &TwoTeams, team_c: Uuid) -> Option<Value> {
    match template {
        t if t.ends_with("/members") => Some(json!({"user_id": world.tech_b})),
        t if t.ends_with("/assignments") => Some(json!({"team_id": team_c})),
        t if t.ends_with("/transition") => Some(json!({"to": "closed"})),
        t if t.ends_with("/withdraw") => Some(json!({})),
        // The default template: the owner's call changes nothing team A sees.
        t if t.ends_with("/report-template") => Some(json!({"template_id": null})),
        t if t.ends_with("/send-back") => Some(json!({"note": "fix the serial"})),
        t if t.ends_with("/accept") => Some(json!({})),
        t if t.ends_with("/keep") => Some(json!({"reason": "done by another team"})),
        _ => None,
    }
}

async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method: Method = method.parse().unwrap();
    let mut request = server
        .client
        .request(method.clone(), server.url(path))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0");
    if method == Method::PATCH {
        request = request
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .body(Vec::new());
    } else if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_route_answers_404_to_another_team() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    let (_, detail) = server
        .get(&format!("/api/v1/installations/{installation}"), &world.ops)
        .await;
    let assignment: Uuid = detail["assignments"][0]["record"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Bob works the job: media, report; and starts a blob upload.
    let mut bob = ProtocolDevice::login(&server, TECH_B).await;
    let media = photo(installation, b"bob's photo");
    let report = signed_report(installation, std::slice::from_ref(&media.file.sha256));
    let outcomes = bob
        .push(
            &server,
            vec![
                start(installation),
                finish(installation),
                Mutation::MediaAttach {
                    media: media.clone(),
                },
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            ],
        )
        .await;
    assert!(
        outcomes.iter().all(fieldbook_testkit::is_applied),
        "{outcomes:?}"
    );
    let blob = b"0123456789";
    let response = server
        .client
        .post(server.url("/api/v1/blobs"))
        .bearer_auth(&bob.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", blob.len().to_string())
        .header(
            "Upload-Metadata",
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(Sha256Hex::digest(blob).as_str())
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let upload = location.rsplit('/').next().unwrap().to_owned();

    let member = server.add_user("bea", fieldbook_domain::Role::Technician);
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/teams/{}/members", world.team_b),
            &world.ops,
            &json!({"user_id": member}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A second job with a submitted report (for send-back), and two jobs
    // taken off team B while bob worked them: his work is held.
    let submitted = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    let media2 = photo(submitted, b"bob's second photo");
    let report2 = signed_report(submitted, std::slice::from_ref(&media2.file.sha256));
    let outcomes = bob
        .push(
            &server,
            vec![
                start(submitted),
                finish(submitted),
                Mutation::MediaAttach { media: media2 },
                Mutation::ReportSubmit {
                    report: Box::new(report2),
                },
            ],
        )
        .await;
    assert!(
        outcomes.iter().all(fieldbook_testkit::is_applied),
        "{outcomes:?}"
    );
    let mut held = Vec::new();
    for with_report in [true, false] {
        let job = server
            .confirmed_installation(&world.ops, world.team_b)
            .await;
        let (_, detail) = server
            .get(&format!("/api/v1/installations/{job}"), &world.ops)
            .await;
        let job_assignment: Uuid = detail["assignments"][0]["record"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        server.withdraw(&world.ops, job_assignment).await;
        let held_media = photo(job, b"bob's held photo");
        let mut work = vec![start(job), finish(job)];
        if with_report {
            let held_report = signed_report(job, std::slice::from_ref(&held_media.file.sha256));
            work.push(Mutation::MediaAttach { media: held_media });
            work.push(Mutation::ReportSubmit {
                report: Box::new(held_report),
            });
        }
        let outcomes = bob.push(&server, work).await;
        let ids: BTreeSet<Uuid> = outcomes
            .iter()
            .map(|o| match o {
                MutationOutcome::Held { held_work_id, .. } => *held_work_id,
                other => panic!("expected held, got {other:?}"),
            })
            .collect();
        assert_eq!(ids.len(), 1, "one held record per job: {ids:?}");
        held.extend(ids);
    }
    let objects = TeamBObjects {
        installation,
        media: media.id,
        team: world.team_b,
        assignment,
        member,
        upload,
        submitted,
        held_with_report: held[0],
        held_to_keep: held[1],
    };
    let team_c = server.add_team(&world.ops, "Team C", &[]).await;
    let alice = server.token(TECH_A).await;
    for (method, template) in ID_ROUTES {
        let path = objects.fill(template);
        let body = body_for(template, &world, team_c);
        let (status, answer) = send(&server, method, &path, &alice, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {template} answered {status} {answer} to another team"
        );
        // The blob routes keep tus' own code for the same answer.
        let expected_code = if template.starts_with("/api/v1/blobs/") {
            "upload_not_found"
        } else {
            "not_found"
        };
        if *method != "HEAD" {
            assert_eq!(
                answer["code"], expected_code,
                "{method} {template}: {answer}"
            );
        }
        // The owner (bob, or ops for admin routes) does reach it: the ids are
        // real, so the 404 above is the scope check.
        let owner = if template.starts_with("/api/v1/admin/") {
            &world.ops
        } else {
            &bob.token
        };
        let (status, answer) = send(&server, method, &path, owner, body).await;
        assert!(
            status.is_success(),
            "{method} {template}: owner got {status} {answer}"
        );
    }

    // A made-up id gets the very same answer as another team's id.
    let made_up = Uuid::new_v4();
    for template in [
        "/api/v1/installations/{installation_id}",
        "/api/v1/installations/{installation_id}/report",
        "/api/v1/media/{media_id}",
    ] {
        let foreign = server.get(&objects.fill(template), &alice).await;
        let missing = server
            .get(
                &template
                    .replace("{installation_id}", &made_up.to_string())
                    .replace("{media_id}", &made_up.to_string()),
                &alice,
            )
            .await;
        assert_eq!(foreign.0, missing.0, "{template}");
        assert_eq!(foreign.1["code"], missing.1["code"], "{template}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cross_team_table_covers_every_id_route_in_the_openapi_document() {
    let server = TestServer::start().await;
    let (status, doc) = server
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let table: BTreeSet<(String, String)> = ID_ROUTES
        .iter()
        .chain(ID_ROUTES_TESTED_IN_OPS)
        .chain(PARAMETER_ROUTES_WITHOUT_TEAM_OBJECTS)
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let mut id_routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.contains('{') {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete", "head", "options"]
                .contains(&method.as_str())
            {
                id_routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(id_routes.len() >= 10, "{id_routes:?}");
    let missing: Vec<_> = id_routes.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "id routes without a cross-team 404 test: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&id_routes).collect();
    assert!(
        stale.is_empty(),
        "table rows not in the document: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ops_list_held_work() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let alice = server.token(TECH_A).await;
    for path in [
        "/api/v1/admin/held-work",
        "/api/v1/admin/held-work?status=waiting",
    ] {
        let (status, body) = server.get(path, &alice).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["code"], "not_found");
        let (status, body) = server.get(path, &world.ops).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.as_array().unwrap().is_empty());
    }
    let (status, body) = server
        .get("/api/v1/admin/held-work?status=lost", &world.ops)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_cannot_use_admin_routes() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let alice = server.token(TECH_A).await;
    let (status, body) = server
        .post("/api/v1/admin/teams", &alice, &json!({"name": "Rogue"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    // Not even on their own team's installation.
    let (status, _) = server
        .post(
            &format!("/api/v1/admin/installations/{installation}/transition"),
            &alice,
            &json!({"to": "cancelled"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let state = server.installation_status(&alice, installation).await;
    assert_eq!(state["status"], json!(InstallationStatus::Confirmed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_team_member_pulls_the_teams_existing_work_from_any_cursor() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let i1 = server.create_installation(&world.ops, "Old job").await;
    server.assign(&world.ops, i1, world.team_a).await;
    let newcomer = server.add_user("nina", fieldbook_domain::Role::Technician);
    let token = server.token("nina").await;
    let before = server.pull_all(&token, 0, 1000).await;
    assert!(installation_ids(&before).is_empty());
    let cursor = before.last().unwrap().next_cursor;

    let (status, body) = server
        .post(
            &format!("/api/v1/admin/teams/{}/members", world.team_a),
            &world.ops,
            &json!({"user_id": newcomer}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let pages = server.pull_all(&token, cursor, 1000).await;
    assert_eq!(installation_ids(&pages), BTreeSet::from([i1]));
    let users: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.users.iter().map(|u| u.record.username.clone()))
        .collect();
    assert!(
        users.contains("alice") && users.contains("andy"),
        "{users:?}"
    );
    assert_eq!(pages.iter().map(|p| p.teams.len()).sum::<usize>(), 1);
}

/// Every user id the pulled records name.
fn user_ids_named(pages: &[PullPage]) -> BTreeSet<Uuid> {
    let mut named = BTreeSet::new();
    for page in pages {
        named.extend(page.installations.iter().map(|i| i.record.created_by));
        named.extend(page.assignments.iter().map(|a| a.record.assigned_by));
        named.extend(page.reports.iter().map(|r| r.record.report.submitted_by));
        named.extend(page.media.iter().map(|m| m.record.media.uploaded_by));
        named.extend(page.teams.iter().flat_map(|t| t.record.member_ids.clone()));
    }
    named
}

fn user_ids_pulled(pages: &[PullPage]) -> BTreeSet<Uuid> {
    pages
        .iter()
        .flat_map(|p| p.users.iter().map(|u| u.record.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technicians_pull_resolves_every_user_its_records_name() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    // Planner and dispatcher are Central Ops users outside every team.
    server.add_user("planner", fieldbook_domain::Role::Ops);
    server.add_user("dispatcher", fieldbook_domain::Role::Ops);
    let planner = server.token("planner").await;
    let dispatcher = server.token("dispatcher").await;
    let shared = server.create_installation(&planner, "Shared job").await;
    server.assign(&dispatcher, shared, world.team_b).await;
    let (status, body) = server
        .transition(&world.ops, shared, InstallationStatus::Confirmed)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bob (team B) works the job before team A is involved: his photo and
    // report name him, a user team A does not otherwise know.
    let mut bob = ProtocolDevice::login(&server, TECH_B).await;
    let media = photo(shared, b"bob's photo");
    let report = signed_report(shared, std::slice::from_ref(&media.file.sha256));
    let outcomes = bob
        .push(
            &server,
            vec![
                start(shared),
                Mutation::MediaAttach { media },
                finish(shared),
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            ],
        )
        .await;
    assert!(
        outcomes.iter().all(fieldbook_testkit::is_applied),
        "{outcomes:?}"
    );

    // Alice's device has synced everything so far: nothing of this job.
    let alice = server.token(TECH_A).await;
    let first = server.pull_all(&alice, 0, 1000).await;
    assert!(installation_ids(&first).is_empty());
    assert!(user_ids_named(&first).is_subset(&user_ids_pulled(&first)));
    let cursor = first.last().unwrap().next_cursor;

    // Team A joins as backup, assigned by a third ops user: all of these
    // users' rows are older than alice's cursor.
    server.add_user("backup-dispatcher", fieldbook_domain::Role::Ops);
    let backup_dispatcher = server.token("backup-dispatcher").await;
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/installations/{shared}/assignments"),
            &backup_dispatcher,
            &json!({"team_id": world.team_a, "is_primary": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alice_cursor_after_backup = {
        let pages = server.pull_all(&alice, cursor, 3).await;
        assert_eq!(installation_ids(&pages), BTreeSet::from([shared]));
        let named = user_ids_named(&pages);
        for user in [world.tech_b, shared_creator(&pages, shared)] {
            assert!(named.contains(&user), "{user} not named");
        }
        // What was pulled before this cursor plus this pull covers every
        // user these records name.
        let mut known = user_ids_pulled(&first);
        known.extend(user_ids_pulled(&pages));
        let dangling: Vec<_> = named.difference(&known).collect();
        assert!(dangling.is_empty(), "dangling user ids: {dangling:?}");
        let usernames: BTreeSet<String> = pages
            .iter()
            .flat_map(|p| p.users.iter().map(|u| u.record.username.clone()))
            .collect();
        for expected in ["planner", "backup-dispatcher", TECH_B] {
            assert!(usernames.contains(expected), "{expected}: {usernames:?}");
        }
        // Team B's own assignment (by "dispatcher") is not alice's to see,
        // so neither is its author.
        assert!(!usernames.contains("dispatcher"), "{usernames:?}");
        pages.last().unwrap().next_cursor
    };

    // A user record holds only who they are, never credentials.
    let pages = server.pull_all(&alice, 0, 1000).await;
    for page in &pages {
        for user in &page.users {
            let fields: BTreeSet<String> = serde_json::to_value(&user.record)
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert_eq!(
                fields,
                BTreeSet::from(["id", "username", "full_name", "role"].map(String::from))
            );
        }
    }
    assert!(user_ids_named(&pages).is_subset(&user_ids_pulled(&pages)));

    // A backup-team member's media on the job names him for team B's
    // devices, which are past his row: his row comes again.
    let bob_cursor = server
        .pull_all(&bob.token, 0, 1000)
        .await
        .last()
        .unwrap()
        .next_cursor;
    let mut andy = ProtocolDevice::login(&server, fieldbook_testkit::TECH_A2).await;
    let andy_photo = photo(shared, b"andy's photo");
    let outcome = andy
        .push_one(&server, Mutation::MediaAttach { media: andy_photo })
        .await;
    assert!(fieldbook_testkit::is_applied(&outcome), "{outcome:?}");
    let pages = server.pull_all(&bob.token, bob_cursor, 1000).await;
    let usernames: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.users.iter().map(|u| u.record.username.clone()))
        .collect();
    assert!(
        usernames.contains(fieldbook_testkit::TECH_A2),
        "{usernames:?}"
    );
    let pages = server
        .pull_all(&alice, alice_cursor_after_backup, 1000)
        .await;
    assert!(user_ids_named(&pages).is_subset(
        &user_ids_pulled(&first)
            .union(&user_ids_pulled(&pages))
            .copied()
            .collect()
    ));
}

fn shared_creator(pages: &[PullPage], installation: Uuid) -> Uuid {
    pages
        .iter()
        .flat_map(|p| &p.installations)
        .find(|i| i.record.id == installation)
        .expect("installation pulled")
        .record
        .created_by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_leaves_a_team_pulls_tombstones_with_the_same_token() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let ops = &world.ops;
    let kept = server.confirmed_installation(ops, world.team_a).await;
    let lost = server.confirmed_installation(ops, world.team_b).await;
    // Alice is in both teams; `kept` is also team B's (as backup), so she
    // still sees it after leaving team B.
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/teams/{}/members", world.team_b),
            ops,
            &json!({"user_id": world.tech_a}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/installations/{kept}/assignments"),
            ops,
            &json!({"team_id": world.team_b, "is_primary": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let kept_backup_assignment: Uuid = body["record"]["id"].as_str().unwrap().parse().unwrap();
    // Bob worked `lost`: it has media, so its family is more than the
    // installation itself.
    let mut bob = ProtocolDevice::login(&server, TECH_B).await;
    let media = photo(lost, b"bob's photo");
    let outcomes = bob
        .push(
            &server,
            vec![
                start(lost),
                Mutation::MediaAttach {
                    media: media.clone(),
                },
            ],
        )
        .await;
    assert!(
        outcomes.iter().all(fieldbook_testkit::is_applied),
        "{outcomes:?}"
    );

    let alice = server.token(TECH_A).await;
    let pages = server.pull_all(&alice, 0, 1000).await;
    assert_eq!(installation_ids(&pages), BTreeSet::from([kept, lost]));
    let lost_assignment = pages
        .iter()
        .flat_map(|p| &p.assignments)
        .find(|a| a.record.installation_id == lost)
        .unwrap()
        .record
        .id;
    let cursor = pages.last().unwrap().next_cursor;

    let path = format!(
        "/api/v1/admin/teams/{}/members/{}",
        world.team_b, world.tech_a
    );
    let (status, body) = server.call(Method::DELETE, &path, Some(ops), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let members: Vec<Uuid> = serde_json::from_value(body["record"]["member_ids"].clone()).unwrap();
    assert_eq!(members, vec![world.tech_b]);
    // Not a member any more: a second removal is 404.
    let (status, body) = server.call(Method::DELETE, &path, Some(ops), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The same token still works; its scope is what the database says now.
    let pages = server.pull_all(&alice, cursor, 2).await;
    assert!(installation_ids(&pages).is_empty(), "{pages:?}");
    assert_eq!(
        tombstoned(&pages, EntityKind::Installation),
        BTreeSet::from([lost])
    );
    assert_eq!(tombstoned(&pages, EntityKind::Lead).len(), 1);
    assert_eq!(tombstoned(&pages, EntityKind::Survey).len(), 1);
    // Team B's assignments are no longer hers to see, `kept`'s included
    // (she keeps `kept` itself through team A).
    assert_eq!(
        tombstoned(&pages, EntityKind::Assignment),
        BTreeSet::from([lost_assignment, kept_backup_assignment])
    );
    assert_eq!(
        tombstoned(&pages, EntityKind::Media),
        BTreeSet::from([media.id])
    );
    assert_eq!(
        tombstoned(&pages, EntityKind::Team),
        BTreeSet::from([world.team_b])
    );
    assert!(pages
        .iter()
        .flat_map(|p| &p.tombstones)
        .all(|t| t.reason == TombstoneReason::LeftScope));
    let (status, _) = server
        .get(&format!("/api/v1/installations/{lost}"), &alice)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get(&format!("/api/v1/installations/{kept}"), &alice)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Work she finishes on it offline is not refused: it was in her scope,
    // so it is held for Central Ops (issue 9), not applied.
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let outcome = device.push_one(&server, finish(lost)).await;
    assert!(
        matches!(outcome, MutationOutcome::Held { .. }),
        "{outcome:?}"
    );

    // Team B's remaining member pulls the new member list; nothing of his
    // is tombstoned.
    let bob_pages = server.pull_all(&bob.token, 0, 1000).await;
    assert!(bob_pages.iter().all(|p| p.tombstones.is_empty()));
    let team_b = bob_pages
        .iter()
        .flat_map(|p| &p.teams)
        .find(|t| t.record.id == world.team_b)
        .unwrap();
    assert_eq!(team_b.record.member_ids, vec![world.tech_b]);

    // Back in the team: the work comes back from her cursor, and a fresh
    // device never sees the old tombstones.
    let cursor = pages.last().unwrap().next_cursor;
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/teams/{}/members", world.team_b),
            ops,
            &json!({"user_id": world.tech_a}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pages = server.pull_all(&alice, cursor, 1000).await;
    assert!(installation_ids(&pages).contains(&lost));
    let pages = server.pull_all(&alice, 0, 1000).await;
    assert_eq!(installation_ids(&pages), BTreeSet::from([kept, lost]));
    assert!(pages.iter().all(|p| p.tombstones.is_empty()));
}
