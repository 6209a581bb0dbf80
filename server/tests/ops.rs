//! The ops console's API against a real server: every ops route refuses a
//! technician (403), blob downloads follow team scope (404 outside it), the
//! cookie session needs its CSRF token, and the list, detail, review queue,
//! planning, reassignment, people, live changes and console routes do what
//! the console relies on.

use std::time::Duration;

use fieldbook_domain::{InstallationStatus, Mutation, Sha256Hex};
use fieldbook_protocol::{
    ConsoleSession, EvidenceVerdict, NavCounts, OpsInstallationDetail, OpsInstallationPage, People,
    PlannedInstallation, ReviewQueue, UnplannedSurvey,
};
use fieldbook_testkit::{
    finish, photo, signed_report, start, ProtocolDevice, TestServer, TwoTeams, OPS_USER, PASSWORD,
    TECH_A, TECH_B,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// Every ops-only route with a request that would succeed for ops.
fn ops_routes(
    installation: Uuid,
    survey: Uuid,
    assignment: Uuid,
) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/ops/session".into(), None),
        (Method::DELETE, "/api/v1/ops/session".into(), None),
        (Method::GET, "/api/v1/ops/installations".into(), None),
        (
            Method::GET,
            format!("/api/v1/ops/installations/{installation}"),
            None,
        ),
        (Method::GET, "/api/v1/ops/review".into(), None),
        (Method::GET, "/api/v1/ops/counts".into(), None),
        (Method::GET, "/api/v1/ops/surveys/unplanned".into(), None),
        (
            Method::POST,
            "/api/v1/ops/surveys".into(),
            Some(survey_body("Rogue Survey")),
        ),
        (
            Method::POST,
            format!("/api/v1/ops/surveys/{survey}/installation"),
            Some(json!({"scheduled_date": "2026-12-10", "scheduled_time_slot": "morning"})),
        ),
        (
            Method::POST,
            format!("/api/v1/ops/assignments/{assignment}/reassign"),
            Some(json!({"team_id": Uuid::new_v4()})),
        ),
        (Method::GET, "/api/v1/ops/people".into(), None),
        (
            Method::POST,
            "/api/v1/ops/sessions/0000/revoke".into(),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/ops/devices/{}/revoke", Uuid::new_v4()),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/ops/devices/{}/wipe", Uuid::new_v4()),
            Some(json!({"kind": "lost"})),
        ),
        (Method::GET, "/api/v1/ops/changes".into(), None),
    ]
}

fn survey_body(customer: &str) -> Value {
    json!({
        "lead": {
            "customer_name": customer,
            "address_line1": "1 Test Street",
            "city": "Bristol",
            "postcode": "BS1 4DJ",
        },
        "survey": {
            "recommended_charger_model": "Zappi 7kW",
            "main_fuse_amps": 100,
            "supply_capacity_kva": 23.0,
            "cable_run_length_m": 12.5,
        }
    })
}

async fn create_survey(server: &TestServer, ops: &str, customer: &str) -> UnplannedSurvey {
    let (status, body) = server
        .post("/api/v1/ops/surveys", ops, &survey_body(customer))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn plan(
    server: &TestServer,
    ops: &str,
    survey: Uuid,
    primary: Option<Uuid>,
    backup: Option<Uuid>,
) -> PlannedInstallation {
    let (status, body) = server
        .post(
            &format!("/api/v1/ops/surveys/{survey}/installation"),
            ops,
            &json!({
                "scheduled_date": "2026-12-10",
                "scheduled_time_slot": "morning",
                "primary_team_id": primary,
                "backup_team_id": backup,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    serde_json::from_value(body).unwrap()
}

/// A real PNG of the given size.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Team B's job worked by bob: a photo (uploaded), a signed report whose
/// signature image is uploaded too.
struct WorkedJob {
    installation: Uuid,
    photo_bytes: Vec<u8>,
    signature_bytes: Vec<u8>,
    bob: ProtocolDevice,
}

async fn worked_job(server: &TestServer, world: &TwoTeams) -> WorkedJob {
    let installation = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    let mut bob = ProtocolDevice::login(server, TECH_B).await;
    let photo_bytes = png(800, 600);
    let mut media = photo(installation, &photo_bytes);
    media.file.mime = "image/png".into();
    let signature_bytes = fieldbook_testkit::signature_png();
    let report = signed_report(installation, std::slice::from_ref(&media.file.sha256));
    let outcomes = bob
        .push(
            server,
            vec![
                start(installation),
                finish(installation),
                Mutation::MediaAttach { media },
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
    server.upload_blob(&bob.token, &photo_bytes).await;
    server.upload_blob(&bob.token, &signature_bytes).await;
    WorkedJob {
        installation,
        photo_bytes,
        signature_bytes,
        bob,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ops_route_refuses_technicians_with_403() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let survey = create_survey(&server, &world.ops, "Forbidden Fruit").await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let detail = server
        .get(
            &format!("/api/v1/ops/installations/{installation}"),
            &world.ops,
        )
        .await
        .1;
    let assignment: Uuid = detail["assignments"][0]["assignment"]["record"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Alice is in team A, which is assigned: even her own team's objects.
    let alice = server.token(TECH_A).await;
    for (method, path, body) in ops_routes(installation, survey.survey.record.id, assignment) {
        let (status, answer) = server
            .call(method.clone(), &path, Some(&alice), body.as_ref())
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path} answered {status} {answer} to a technician"
        );
        assert_eq!(answer["code"], "forbidden", "{method} {path}");
    }
    // Nothing changed: the survey is still unplanned, the assignment active.
    let (_, unplanned) = server
        .get("/api/v1/ops/surveys/unplanned", &world.ops)
        .await;
    assert_eq!(unplanned.as_array().unwrap().len(), 1);
    let (_, detail) = server
        .get(
            &format!("/api/v1/ops/installations/{installation}"),
            &world.ops,
        )
        .await;
    assert_eq!(
        detail["assignments"][0]["assignment"]["record"]["status"],
        "assigned"
    );
    // And the technician's own session still works.
    let (status, _) = server.get("/api/v1/auth/session", &alice).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_downloads_follow_team_scope() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let job = worked_job(&server, &world).await;
    let photo = Sha256Hex::digest(&job.photo_bytes);
    let signature = Sha256Hex::digest(&job.signature_bytes);
    let alice = server.token(TECH_A).await;
    let made_up = Sha256Hex::digest(b"nobody's blob");
    for hash in [&photo, &signature] {
        for suffix in ["", "/thumbnail"] {
            let path = format!("/api/v1/blobs/{hash}{suffix}");
            // Another team: 404, exactly like a blob that does not exist.
            let (status, answer) = server.get(&path, &alice).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
            assert_eq!(answer["code"], "not_found");
            let (missing, missing_answer) = server
                .get(&format!("/api/v1/blobs/{made_up}{suffix}"), &alice)
                .await;
            assert_eq!(
                (missing, &missing_answer["code"]),
                (status, &answer["code"])
            );
            // The owner's team and ops reach it.
            for token in [&job.bob.token, &world.ops] {
                let response = server
                    .client
                    .get(server.url(&path))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                // Both the photo and the signature are real images.
                assert_eq!(response.status(), StatusCode::OK, "{path}");
            }
        }
    }
    // A malformed hash is a plain 404 too.
    let (status, _) = server.get("/api/v1/blobs/not-a-hash", &job.bob.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // No token: 401.
    let (status, _) = server
        .call(Method::GET, &format!("/api/v1/blobs/{photo}"), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_downloads_serve_ranges_etags_and_thumbnails() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let job = worked_job(&server, &world).await;
    let photo = Sha256Hex::digest(&job.photo_bytes);
    let url = server.url(&format!("/api/v1/blobs/{photo}"));
    let get = |range: Option<&str>, etag: Option<&str>| {
        let mut request = server.client.get(&url).bearer_auth(&world.ops);
        if let Some(r) = range {
            request = request.header("Range", r);
        }
        if let Some(e) = etag {
            request = request.header("If-None-Match", e);
        }
        request.send()
    };
    let whole = get(None, None).await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let headers = whole.headers().clone();
    assert_eq!(headers["etag"], format!("\"{photo}\""));
    assert_eq!(
        headers["cache-control"],
        "private, max-age=31536000, immutable"
    );
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["accept-ranges"], "bytes");
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(Sha256Hex::digest(&bytes), photo, "the uploaded bytes");

    let part = get(Some("bytes=10-19"), None).await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", job.photo_bytes.len())
    );
    assert_eq!(
        part.bytes().await.unwrap().as_ref(),
        &job.photo_bytes[10..20]
    );

    let outside = get(Some("bytes=99999999-"), None).await.unwrap();
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let cached = get(None, Some(&format!("\"{photo}\""))).await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    let thumb = server
        .client
        .get(server.url(&format!("/api/v1/blobs/{photo}/thumbnail")))
        .bearer_auth(&job.bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let image = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (320, 240));
    let dir = server.data_dir().join("blobs").join("thumbnails");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1, "cached once");

    // A blob that is not an image has no thumbnail.
    let not_an_image = b"%PDF-1.7 not an image".to_vec();
    server.upload_blob(&job.bob.token, &not_an_image).await;
    let (status, answer) = server
        .get(
            &format!(
                "/api/v1/blobs/{}/thumbnail",
                Sha256Hex::digest(&not_an_image)
            ),
            &world.ops,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    // tus still works on the same path prefix.
    let (status, _) = server
        .call(Method::OPTIONS, "/api/v1/blobs", None, None)
        .await;
    assert!(status.is_success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_session_uses_an_httponly_cookie_and_csrf_token() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let client = &server.client;
    let login = client
        .post(server.url("/api/v1/ops/session"))
        .json(&json!({"username": OPS_USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/api"), "{cookie}");
    let session: ConsoleSession = login.json().await.unwrap();
    assert_eq!(session.user.username, OPS_USER);
    let pair = cookie.split(';').next().unwrap().to_owned();

    let with_cookie = |method: Method, path: &str| {
        client
            .request(method, server.url(path))
            .header("Cookie", pair.clone())
    };
    // Reads work with the cookie alone, and the session gives the same CSRF token.
    let again = with_cookie(Method::GET, "/api/v1/ops/session")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: ConsoleSession = again.json().await.unwrap();
    assert_eq!(again.csrf_token, session.csrf_token);
    let list = with_cookie(Method::GET, "/api/v1/ops/installations")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);

    // A write without the CSRF token is refused and changes nothing.
    let refused = with_cookie(Method::POST, "/api/v1/ops/surveys")
        .json(&survey_body("Csrf Victim"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let wrong = with_cookie(Method::POST, "/api/v1/ops/surveys")
        .header("X-CSRF-Token", "guess")
        .json(&survey_body("Csrf Victim"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let (_, unplanned) = server
        .get("/api/v1/ops/surveys/unplanned", &world.ops)
        .await;
    assert!(unplanned.as_array().unwrap().is_empty());
    // With it, the write goes through.
    let created = with_cookie(Method::POST, "/api/v1/ops/surveys")
        .header("X-CSRF-Token", &session.csrf_token)
        .json(&survey_body("Csrf Friend"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    // Bearer tokens (scripts) need no CSRF token.
    let (status, _) = server
        .post("/api/v1/ops/surveys", &world.ops, &survey_body("Script"))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A technician cannot open a console session, and their token is revoked.
    let tech = client
        .post(server.url("/api/v1/ops/session"))
        .json(&json!({"username": TECH_A, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(tech.status(), StatusCode::FORBIDDEN);
    assert!(tech.headers().get("set-cookie").is_none());

    // Signing out revokes the session and clears the cookie.
    let out = with_cookie(Method::DELETE, "/api/v1/ops/session")
        .header("X-CSRF-Token", &session.csrf_token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = with_cookie(Method::GET, "/api/v1/ops/installations")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_creates_an_installation_from_a_survey_with_its_teams() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let ops = &world.ops;
    let survey = create_survey(&server, ops, "Grace Planner").await;
    let (_, counts) = server.get("/api/v1/ops/counts", ops).await;
    assert_eq!(counts["unplanned_surveys"], 1);

    // A backup without a primary, or the same team twice, is refused.
    let (status, _) = server
        .post(
            &format!(
                "/api/v1/ops/surveys/{}/installation",
                survey.survey.record.id
            ),
            ops,
            &json!({"scheduled_date": "2026-12-10", "scheduled_time_slot": "morning",
                    "backup_team_id": world.team_b}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An unknown team rolls everything back.
    let (status, _) = server
        .post(
            &format!(
                "/api/v1/ops/surveys/{}/installation",
                survey.survey.record.id
            ),
            ops,
            &json!({"scheduled_date": "2026-12-10", "scheduled_time_slot": "morning",
                    "primary_team_id": Uuid::new_v4()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = server.get("/api/v1/ops/installations", ops).await;
    assert_eq!(page["total"], 0, "nothing half-created");

    let planned = plan(
        &server,
        ops,
        survey.survey.record.id,
        Some(world.team_a),
        Some(world.team_b),
    )
    .await;
    assert_eq!(planned.assignments.len(), 2);
    assert!(planned.assignments[0].record.is_primary);
    assert!(!planned.assignments[1].record.is_primary);
    assert_eq!(
        planned.installation.record.survey_id,
        survey.survey.record.id
    );
    assert!(planned
        .installation
        .record
        .installation_id
        .as_str()
        .starts_with("INS-"));

    // The survey is planned now: gone from the list, refused a second time.
    let (_, unplanned) = server.get("/api/v1/ops/surveys/unplanned", ops).await;
    assert!(unplanned.as_array().unwrap().is_empty());
    let (status, _) = server
        .post(
            &format!(
                "/api/v1/ops/surveys/{}/installation",
                survey.survey.record.id
            ),
            ops,
            &json!({"scheduled_date": "2026-12-11", "scheduled_time_slot": "afternoon"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Both teams' technicians pull it.
    for tech in [TECH_A, TECH_B] {
        let token = server.token(tech).await;
        let pages = server.pull_all(&token, 0, 1000).await;
        assert!(pages
            .iter()
            .flat_map(|p| &p.installations)
            .any(|i| i.record.id == planned.installation.record.id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_searches_sorts_pages_and_counts() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let ops = &world.ops;
    let mut ids = Vec::new();
    for (i, name) in [
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
        "Edsger Dijkstra",
        "Barbara Liskov",
    ]
    .iter()
    .enumerate()
    {
        let survey = create_survey(&server, ops, name).await;
        let team = match i {
            0 | 1 => Some(world.team_a),
            2 => Some(world.team_b),
            _ => None,
        };
        ids.push(plan(&server, ops, survey.survey.record.id, team, None).await);
    }
    let ada = ids[0].installation.record.id;
    let (status, _) = server
        .transition(ops, ada, InstallationStatus::Confirmed)
        .await;
    assert_eq!(status, StatusCode::OK);

    let all = list_page(&server, ops, "").await;
    assert_eq!(all.total, 5);
    let planned_count = all
        .status_counts
        .iter()
        .find(|c| c.status.as_str() == "planned")
        .unwrap()
        .count;
    assert_eq!(planned_count, 4);

    // Search: name, postcode, INS id, case-insensitive, short words too.
    assert_eq!(list_page(&server, ops, "q=lovelace").await.total, 1);
    assert_eq!(
        list_page(&server, ops, "q=GRACE%20hop").await.items[0].customer_name,
        "Grace Hopper"
    );
    let human = ids[3]
        .installation
        .record
        .installation_id
        .as_str()
        .to_owned();
    assert_eq!(
        list_page(&server, ops, &format!("q={human}")).await.items[0].customer_name,
        "Edsger Dijkstra"
    );
    assert_eq!(list_page(&server, ops, "q=bs1%204dj").await.total, 5);
    assert_eq!(list_page(&server, ops, "q=zzzzzz").await.total, 0);
    assert_eq!(
        list_page(&server, ops, "q=%22%20OR%20").await.total,
        0,
        "query syntax is text"
    );

    // Filters.
    assert_eq!(list_page(&server, ops, "unassigned=true").await.total, 2);
    assert_eq!(
        list_page(&server, ops, &format!("team={}", world.team_a))
            .await
            .total,
        2
    );
    let confirmed = list_page(&server, ops, "status=confirmed").await;
    assert_eq!(confirmed.total, 1);
    assert_eq!(
        confirmed.status_counts.len(),
        2,
        "counts ignore the status filter"
    );
    assert_eq!(
        list_page(
            &server,
            ops,
            "status=planned,confirmed&customer_confirmed=false"
        )
        .await
        .total,
        5
    );
    assert_eq!(list_page(&server, ops, "has_report=true").await.total, 0);
    assert_eq!(list_page(&server, ops, "needs_review=true").await.total, 0);
    assert_eq!(list_page(&server, ops, "from=2026-12-11").await.total, 0);
    assert_eq!(
        list_page(&server, ops, "from=2026-12-10&to=2026-12-10")
            .await
            .total,
        5
    );

    // Keyset pages cover every row exactly once, in order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(a) => format!("limit=2&sort=installation_id_desc&after={a}"),
            None => "limit=2&sort=installation_id_desc".into(),
        };
        let p = list_page(&server, ops, &query).await;
        seen.extend(p.items.iter().map(|r| r.installation_id.clone()));
        match p.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<String> = ids
        .iter()
        .map(|p| p.installation.record.installation_id.as_str().to_owned())
        .collect();
    expected.sort();
    expected.reverse();
    assert_eq!(seen, expected);

    // Bad input: a clear 400.
    for bad in [
        "status=done",
        "from=2026-12-12&to=2026-12-01",
        "after=%21%21",
        "sort=sideways",
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/ops/installations?{bad}"), ops)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

/// Search folds accents and case the same way on both backends (SQLite's
/// FTS5 `remove_diacritics`, PostgreSQL's `unaccent`): what is typed with
/// or without accents, in any case, finds the same installations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_folds_accents_and_case_on_every_backend() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let ops = &world.ops;
    for name in [
        "Jürgen Müller",
        "José Núñez",
        "François Lefèvre",
        "Åsa Öberg",
        "Renée Çelik",
        "Hans Muller",
    ] {
        let survey = create_survey(&server, ops, name).await;
        plan(&server, ops, survey.survey.record.id, None, None).await;
    }
    let names = |page: OpsInstallationPage| {
        let mut names: Vec<String> = page.items.into_iter().map(|r| r.customer_name).collect();
        names.sort();
        names
    };
    for (typed, expected) in [
        ("muller", "Hans Muller, Jürgen Müller"),
        ("Müller", "Hans Muller, Jürgen Müller"),
        ("MÜLLER", "Hans Muller, Jürgen Müller"),
        ("mül", "Hans Muller, Jürgen Müller"),
        ("jurgen muller", "Jürgen Müller"),
        ("nunez", "José Núñez"),
        ("NÚÑEZ jose", "José Núñez"),
        ("francois lefevre", "François Lefèvre"),
        ("FRANÇ", "François Lefèvre"),
        ("asa oberg", "Åsa Öberg"),
        ("ÖBERG", "Åsa Öberg"),
        ("renee celik", "Renée Çelik"),
        ("çel", "Renée Çelik"),
        ("mullers", ""),
    ] {
        let query = format!("q={}", typed.replace(' ', "%20"));
        let found = names(list_page(&server, ops, &query).await).join(", ");
        assert_eq!(found, expected, "{typed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_shows_history_evidence_media_and_the_review_queue() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let job = worked_job(&server, &world).await;
    let ops = &world.ops;
    let (status, body) = server
        .get(
            &format!("/api/v1/ops/installations/{}", job.installation),
            ops,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail: OpsInstallationDetail = serde_json::from_value(body).unwrap();
    let report = detail.report.expect("report");
    assert_eq!(
        report.evidence.verdict,
        EvidenceVerdict::Matches,
        "{:?}",
        report.evidence
    );
    assert!(report.evidence.signature_blob_hash_ok);
    assert_eq!(report.evidence.signer_name.as_deref(), Some("Ada Customer"));
    assert_eq!(report.evidence.device_id, Some(job.bob.id));
    assert_eq!(report.submitted_by.unwrap().username, TECH_B);
    assert_eq!(detail.media.len(), 1);
    assert!(detail.media[0].blob_available);
    assert_eq!(detail.report_events.len(), 1);
    // From report_submitted ops close it or send it back (held-work's move).
    let allowed: Vec<&str> = detail.allowed_moves.iter().map(|s| s.as_str()).collect();
    assert_eq!(allowed, ["closed", "completed"]);
    let moves: Vec<(String, String)> = detail
        .history
        .iter()
        .map(|h| (format!("{:?}", h.kind), h.to.clone()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("Created", "planned"),
        ("Assigned", "assigned"),
        ("Status", "confirmed"),
        ("Status", "in_progress"),
        ("Status", "completed"),
        ("AssignmentStatus", "completed"),
        ("Status", "report_submitted"),
    ]
    .iter()
    .map(|(k, t)| (k.to_string(), t.to_string()))
    .collect();
    for entry in &expected {
        assert!(moves.contains(entry), "{entry:?} missing from {moves:?}");
    }
    let start = detail
        .history
        .iter()
        .find(|h| h.to == "in_progress")
        .unwrap();
    assert_eq!(start.actor.as_ref().unwrap().username, TECH_B);

    // The report's charger serial is searchable.
    let found = list_page(&server, ops, "q=SN-123456&has_report=true").await;
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].id, job.installation);

    // The review queue shows it; counts agree. The blobs' arrival is noted
    // by the server's blob watcher, so the "missing" list empties shortly.
    let mut waited = 0;
    let queue = loop {
        let (_, queue) = server.get("/api/v1/ops/review", ops).await;
        let queue: ReviewQueue = serde_json::from_value(queue).unwrap();
        if queue.missing_blobs.is_empty() || waited >= 100 {
            break queue;
        }
        waited += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        queue.missing_blobs.is_empty(),
        "the watcher noted the blobs"
    );
    assert_eq!(queue.awaiting_close.len(), 1);
    assert_eq!(queue.awaiting_close[0].id, job.installation);
    let (_, counts) = server.get("/api/v1/ops/counts", ops).await;
    let counts: NavCounts = serde_json::from_value(counts).unwrap();
    assert_eq!((counts.awaiting_close, counts.review_total), (1, 1));

    // Close it with the admin transition; the history records who.
    let (status, _) = server
        .transition(ops, job.installation, InstallationStatus::Closed)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail) = server
        .get(
            &format!("/api/v1/ops/installations/{}", job.installation),
            ops,
        )
        .await;
    let last = detail["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["to"], "closed");
    assert_eq!(last["actor"]["username"], OPS_USER);
    let (_, counts) = server.get("/api/v1/ops/counts", ops).await;
    assert_eq!(counts["awaiting_close"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_and_queue_notice_missing_and_changed_content() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    let mut bob = ProtocolDevice::login(&server, TECH_B).await;
    let media = photo(installation, b"late photo");
    let report = signed_report(installation, std::slice::from_ref(&media.file.sha256));
    bob.push(
        &server,
        vec![
            start(installation),
            finish(installation),
            Mutation::MediaAttach { media },
            Mutation::ReportSubmit {
                report: Box::new(report),
            },
        ],
    )
    .await;
    let (_, queue) = server.get("/api/v1/ops/review", &world.ops).await;
    let queue: ReviewQueue = serde_json::from_value(queue).unwrap();
    assert_eq!(queue.missing_blobs.len(), 1);
    assert_eq!(queue.missing_blobs[0].media_missing, 1);
    assert!(queue.missing_blobs[0].signature_missing);
    let (_, detail) = server
        .get(
            &format!("/api/v1/ops/installations/{installation}"),
            &world.ops,
        )
        .await;
    assert_eq!(
        detail["report"]["evidence"]["verdict"],
        "signature_image_missing"
    );

    // Another photo attached after signing changes the content.
    let extra = photo(installation, b"after signing");
    let outcome = bob
        .push_one(&server, Mutation::MediaAttach { media: extra })
        .await;
    if fieldbook_testkit::is_applied(&outcome) {
        let (_, detail) = server
            .get(
                &format!("/api/v1/ops/installations/{installation}"),
                &world.ops,
            )
            .await;
        assert_eq!(detail["report"]["evidence"]["verdict"], "content_changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassignment_withdraws_and_assigns_in_one_step_with_reasons_in_history() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let ops = &world.ops;
    let survey = create_survey(&server, ops, "Moving Target").await;
    let planned = plan(
        &server,
        ops,
        survey.survey.record.id,
        Some(world.team_a),
        None,
    )
    .await;
    let installation = planned.installation.record.id;
    let assignment = planned.assignments[0].record.id;

    let (status, _) = server
        .post(
            &format!("/api/v1/ops/assignments/{assignment}/reassign"),
            ops,
            &json!({"team_id": world.team_a}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "same team");
    let (status, body) = server
        .post(
            &format!("/api/v1/ops/assignments/{assignment}/reassign"),
            ops,
            &json!({"team_id": world.team_b, "reason": "Team A is off sick"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["withdrawn"]["record"]["status"], "withdrawn");
    assert_eq!(
        body["assigned"]["record"]["team_id"],
        world.team_b.to_string()
    );
    assert_eq!(body["assigned"]["record"]["is_primary"], true);

    // Alice lost it, bob has it.
    let alice = server.token(TECH_A).await;
    let (status, _) = server
        .get(&format!("/api/v1/installations/{installation}"), &alice)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Reschedule with a reason, withdraw with a reason (the admin routes).
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/installations/{installation}/transition"),
            ops,
            &json!({"to": "rescheduled", "reason": "Customer away"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_assignment = body_id(&server, ops, installation, world.team_b).await;
    let (status, body) = server
        .post(
            &format!("/api/v1/admin/assignments/{new_assignment}/withdraw"),
            ops,
            &json!({"reason": "Nobody free"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, detail) = server
        .get(&format!("/api/v1/ops/installations/{installation}"), ops)
        .await;
    let reasons: Vec<(String, Option<String>)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["to"].as_str().unwrap().to_owned(),
                h["reason"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("withdrawn".into(), Some("Team A is off sick".into()))),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("rescheduled".into(), Some("Customer away".into()))),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("withdrawn".into(), Some("Nobody free".into()))),
        "{reasons:?}"
    );
    let (_, page) = server
        .get("/api/v1/ops/installations?unassigned=true", ops)
        .await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn list_rows_say_whether_ops_may_give_the_job_a_new_date() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let planned = plan(
        &server,
        &world.ops,
        create_survey(&server, &world.ops, "Ada Lovelace")
            .await
            .survey
            .record
            .id,
        Some(world.team_a),
        None,
    )
    .await
    .installation
    .record
    .id;
    let reported = worked_job(&server, &world).await.installation;

    let rows = list_page(&server, &world.ops, "").await.items;
    let row = |id: Uuid| rows.iter().find(|r| r.id == id).unwrap();
    assert!(row(planned).can_reschedule, "a planned job can move day");
    assert_eq!(row(reported).status, InstallationStatus::ReportSubmitted);
    assert!(
        !row(reported).can_reschedule,
        "a job with its report in keeps its date"
    );
    // The answer is the server's rule: moving it anyway is refused.
    let (status, _) = server
        .transition(&world.ops, reported, InstallationStatus::Rescheduled)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn list_page(server: &TestServer, ops: &str, query: &str) -> OpsInstallationPage {
    let (status, body) = server
        .get(&format!("/api/v1/ops/installations?{query}"), ops)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    serde_json::from_value(body).unwrap()
}

async fn body_id(server: &TestServer, ops: &str, installation: Uuid, team: Uuid) -> Uuid {
    let (_, detail) = server
        .get(&format!("/api/v1/ops/installations/{installation}"), ops)
        .await;
    detail["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["assignment"]["record"]["team_id"] == team.to_string()
                && a["assignment"]["record"]["status"] != "withdrawn"
        })
        .unwrap()["assignment"]["record"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_show_devices_and_revoking_a_device_ends_its_sessions() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let bob = ProtocolDevice::login(&server, TECH_B).await;
    let pull = |device: Uuid, token: String| {
        server
            .client
            .get(server.url("/api/v1/sync/pull?cursor=0"))
            .bearer_auth(token)
            .header("X-Fieldbook-Device", device.to_string())
            .header("X-Fieldbook-App-Version", "0.9.1")
            .header("X-Fieldbook-Pending", "3")
            .send()
    };
    let response = pull(bob.id, bob.token.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let (status, body) = server.get("/api/v1/ops/people", &world.ops).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let people: People = serde_json::from_value(body).unwrap();
    assert_eq!(people.teams.len(), 2);
    let person = people
        .people
        .iter()
        .find(|p| p.user.username == TECH_B)
        .unwrap();
    assert_eq!(person.team_ids, vec![world.team_b]);
    assert_eq!(person.devices.len(), 1);
    let device = &person.devices[0];
    assert_eq!(device.device_id, bob.id);
    assert_eq!(device.app_version.as_deref(), Some("0.9.1"));
    assert_eq!(device.pending_changes, Some(3));
    assert!(device.last_sync_at.is_some());
    assert_eq!(person.sessions.len(), 1);
    assert_eq!(person.sessions[0].device_id, Some(bob.id));

    let (status, body) = server
        .post(
            &format!("/api/v1/ops/devices/{}/revoke", bob.id),
            &world.ops,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revoked_at"].is_string());
    // Its session is gone, and a new login on the same device is refused.
    let (status, _) = server.get("/api/v1/auth/session", &bob.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let fresh = server.token(TECH_B).await;
    let response = pull(bob.id, fresh.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Another device of bob's still works.
    let response = pull(Uuid::new_v4(), fresh.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Revoking one session by id.
    let (_, body) = server.get("/api/v1/ops/people", &world.ops).await;
    let people: People = serde_json::from_value(body).unwrap();
    let session_id = people
        .people
        .iter()
        .find(|p| p.user.username == TECH_B)
        .unwrap()
        .sessions[0]
        .session_id
        .clone();
    let (status, _) = server
        .post(
            &format!("/api/v1/ops/sessions/{session_id}/revoke"),
            &world.ops,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/api/v1/auth/session", &fresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .post(
            &format!("/api/v1/ops/sessions/{session_id}/revoke"),
            &world.ops,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_stream_emits_when_the_sequence_moves_with_a_cookie_session() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let login = server
        .client
        .post(server.url("/api/v1/ops/session"))
        .json(&json!({"username": OPS_USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut stream = server
        .client
        .get(server.url("/api/v1/ops/changes"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut text = String::new();
    let next_event = |text: &mut String| {
        let end = text.find("\n\n")?;
        let event: String = text.drain(..end + 2).collect();
        event
            .lines()
            .find_map(|l| l.strip_prefix("data:"))
            .map(|d| {
                serde_json::from_str::<Value>(d.trim()).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
    };
    let mut read_seq = async |text: &mut String| loop {
        if let Some(seq) = next_event(text) {
            return seq;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("stream open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    };
    let first = read_seq(&mut text).await;
    create_survey(&server, &world.ops, "Live Update").await;
    let second = read_seq(&mut text).await;
    assert!(second > first, "{first} -> {second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_route_answers_with_the_app_or_says_how_to_build_it() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/console/"))
        .send()
        .await
        .unwrap();
    if fieldbook_server::console_assets::is_embedded() {
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        // Client-side routes fall back to the app; missing files do not.
        let deep = server
            .client
            .get(server.url("/console/installations/123"))
            .send()
            .await
            .unwrap();
        assert_eq!(deep.status(), StatusCode::OK);
        let missing = server
            .client
            .get(server.url("/console/assets/nope.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    } else {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("npm run build"));
    }
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ops_route_is_in_the_openapi_document() {
    let server = TestServer::start().await;
    let (_, doc) = server
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in [
        ("post", "/api/v1/ops/session"),
        ("get", "/api/v1/ops/session"),
        ("delete", "/api/v1/ops/session"),
        ("get", "/api/v1/ops/installations"),
        ("get", "/api/v1/ops/installations/{installation_id}"),
        (
            "get",
            "/api/v1/ops/installations/{installation_id}/certificate",
        ),
        ("get", "/api/v1/ops/review"),
        ("get", "/api/v1/ops/counts"),
        ("get", "/api/v1/ops/surveys/unplanned"),
        ("post", "/api/v1/ops/surveys"),
        ("post", "/api/v1/ops/surveys/{survey_id}/installation"),
        ("post", "/api/v1/ops/assignments/{assignment_id}/reassign"),
        ("get", "/api/v1/ops/people"),
        ("post", "/api/v1/ops/sessions/{session_id}/revoke"),
        ("post", "/api/v1/ops/devices/{device_id}/revoke"),
        ("post", "/api/v1/ops/devices/{device_id}/wipe"),
        ("get", "/api/v1/ops/changes"),
        ("get", "/api/v1/blobs/{sha256}"),
        ("get", "/api/v1/blobs/{sha256}/thumbnail"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
}
