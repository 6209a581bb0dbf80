//! Pull paging: bounded pages, and no row missed or duplicated while ops keep
//! writing during the pull.

use std::collections::{BTreeMap, BTreeSet};

use fieldbook_testkit::{TestServer, TwoTeams, TECH_A};
use reqwest::StatusCode;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_under_concurrent_writes_misses_and_repeats_nothing() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let mut expected = BTreeSet::new();
    for n in 0..60 {
        let id = server
            .create_installation(&world.ops, &format!("Before {n}"))
            .await;
        server.assign(&world.ops, id, world.team_a).await;
        expected.insert(id);
    }
    let token = server.token(TECH_A).await;

    // Ops keep planning and assigning while the device pages through.
    let writer = {
        let ops = world.ops.clone();
        let team = world.team_a;
        let other_team = world.team_b;
        let server = &server;
        async move {
            let mut created = Vec::new();
            for n in 0..60 {
                let id = server
                    .create_installation(&ops, &format!("During {n}"))
                    .await;
                // Every third goes to the other team: never in this scope.
                let to = if n % 3 == 0 { other_team } else { team };
                server.assign(&ops, id, to).await;
                if to == team {
                    created.push(id);
                }
            }
            created
        }
    };
    let reader = async {
        let mut seen: Vec<(Uuid, u64)> = Vec::new();
        let mut cursor = 0;
        let mut pages = 0;
        loop {
            let page = server.pull(&token, cursor, 7).await;
            assert!(page.len() <= 7, "page of {} > limit", page.len());
            assert!(page.next_cursor >= cursor);
            for record in &page.installations {
                assert!(record.version > cursor, "record older than the cursor");
                assert!(record.version <= page.next_cursor);
                seen.push((record.record.id, record.version));
            }
            cursor = page.next_cursor;
            pages += 1;
            if !page.has_more {
                break;
            }
        }
        (seen, cursor, pages)
    };
    let (created_during, (mut seen, mut cursor, pages)) = tokio::join!(writer, reader);
    assert!(pages > 1);
    expected.extend(created_during);

    // Catch up with whatever landed after the reader's last page.
    loop {
        let page = server.pull(&token, cursor, 7).await;
        seen.extend(page.installations.iter().map(|r| (r.record.id, r.version)));
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }

    // Each installation was written once (create) and touched once (assign)
    // before it entered the scope, so it must arrive exactly once.
    let mut times: BTreeMap<Uuid, usize> = BTreeMap::new();
    for (id, _) in &seen {
        *times.entry(*id).or_default() += 1;
    }
    let duplicated: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "delivered twice: {duplicated:?}");
    let got: BTreeSet<Uuid> = times.keys().copied().collect();
    assert_eq!(got, expected, "missed or foreign installations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_bounded_and_bad_cursors_are_clear_errors() {
    let server = TestServer::start().await;
    let token = server.token(fieldbook_testkit::OPS_USER).await;
    for n in 0..3 {
        server.create_installation(&token, &format!("C{n}")).await;
    }
    let page = server.pull(&token, 0, 1).await;
    assert_eq!(page.len(), 1);
    assert!(page.has_more);

    // Out of range limits are refused, not clamped (issue 15).
    for limit in [0, 1_000_000] {
        let (status, body) = server
            .get(&format!("/api/v1/sync/pull?cursor=0&limit={limit}"), &token)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit {limit}: {body}");
    }
    let page = server
        .pull(&token, 0, fieldbook_protocol::MAX_PULL_LIMIT)
        .await;
    assert!(!page.has_more);

    // Past the end: an empty last page that keeps the cursor.
    let beyond = server.pull(&token, page.next_cursor + 100, 10).await;
    assert!(beyond.is_empty());
    assert_eq!(beyond.next_cursor, page.next_cursor + 100);

    for query in ["cursor=-1", "cursor=abc", "limit=x"] {
        let (status, body) = server
            .get(&format!("/api/v1/sync/pull?{query}"), &token)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["code"], "bad_request");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_near_window_holds_the_callers_jobs_of_those_days_and_what_their_rows_need() {
    let server = TestServer::start().await;
    let teams = TwoTeams::create(&server).await;
    // Every fixture job is scheduled on 2026-12-01.
    let mine = server
        .confirmed_installation(&teams.ops, teams.team_a)
        .await;
    let theirs = server
        .confirmed_installation(&teams.ops, teams.team_b)
        .await;
    let token = server.token(TECH_A).await;
    let near = |from: &str, days: u32| {
        let path = format!("/api/v1/sync/near-window?from={from}&days={days}");
        let (server, token) = (&server, &token);
        async move { server.get(&path, token).await }
    };

    let (status, body) = near("2026-11-25", 14).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: fieldbook_protocol::PullPage = serde_json::from_value(body).unwrap();
    let ids: Vec<Uuid> = page.installations.iter().map(|v| v.record.id).collect();
    assert_eq!(ids, vec![mine], "only team A's job, not {theirs}");
    assert_eq!(page.assignments.len(), 1);
    assert_eq!(page.assignments[0].record.installation_id, mine);
    assert_eq!(page.leads.len(), 1);
    assert_eq!(page.surveys.len(), 1);
    assert_eq!(page.teams.len(), 1, "the caller's own team");
    assert!(page.users.iter().any(|u| u.record.id == teams.tech_a));
    assert!(!page.has_more);
    assert_eq!(page.cursor, 0);
    // Each record has the version the change feed gives it.
    let feed = server
        .pull(&token, 0, fieldbook_protocol::MAX_PULL_LIMIT)
        .await;
    let in_feed = feed
        .installations
        .iter()
        .find(|v| v.record.id == mine)
        .unwrap();
    assert_eq!(page.installations[0].version, in_feed.version);
    assert!(page.next_cursor >= in_feed.version);

    // A window that ends the day before, or starts the day after, is empty.
    for (from, days) in [("2026-11-17", 14), ("2026-12-02", 14)] {
        let (status, body) = near(from, days).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["installations"].as_array().unwrap().len(), 0, "{from}");
    }
    // The last day of the window is in it.
    let (_, body) = near("2026-11-18", 14).await;
    assert_eq!(body["installations"].as_array().unwrap().len(), 1);

    for query in [
        "from=2026-11-25&days=0",
        "from=2026-11-25&days=63",
        "from=tomorrow&days=3",
        "days=3",
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/sync/near-window?{query}"), &token)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], "bad_request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_closed_or_cancelled_before_the_retention_window_are_not_pulled_but_can_be_found() {
    if fieldbook_testkit::skip_unless_sqlite(
        "jobs_closed_or_cancelled_before_the_retention_window_are_not_pulled_but_can_be_found",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let teams = TwoTeams::create(&server).await;
    let token = server.token(TECH_A).await;
    let old_cancelled = server
        .confirmed_installation(&teams.ops, teams.team_a)
        .await;
    let new_cancelled = server
        .confirmed_installation(&teams.ops, teams.team_a)
        .await;
    let old_open = server
        .confirmed_installation(&teams.ops, teams.team_a)
        .await;
    for id in [old_cancelled, new_cancelled] {
        let (status, body) = server
            .transition(
                &teams.ops,
                id,
                fieldbook_domain::InstallationStatus::Cancelled,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Two of them were last changed long ago (written straight into the database).
    let db =
        rusqlite::Connection::open(fieldbook_server::storage::database_path(server.data_dir()))
            .unwrap();
    for id in [old_cancelled, old_open] {
        db.execute(
            "UPDATE installations SET body = json_set(body, '$.updated_at', '2026-01-05T10:00:00Z') WHERE id = ?1",
            [id.to_string()],
        )
        .unwrap();
    }

    let pages = server.pull_all(&token, 0, 1000).await;
    let pulled: BTreeSet<Uuid> = pages
        .iter()
        .flat_map(|p| p.installations.iter().map(|v| v.record.id))
        .collect();
    assert_eq!(pulled, BTreeSet::from([new_cancelled, old_open]));
    let leads = pages.iter().map(|p| p.leads.len()).sum::<usize>();
    let assignments = pages.iter().map(|p| p.assignments.len()).sum::<usize>();
    assert_eq!(
        (leads, assignments),
        (2, 2),
        "the retired job's lead and assignment stay too"
    );
    assert!(pages.iter().all(|p| p.retention_days == Some(30)));

    // Still readable on the server: by id, and by search.
    let (status, _) = server
        .get(&format!("/api/v1/installations/{old_cancelled}"), &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .get("/api/v1/installations/search?q=ada%20cust", &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found: fieldbook_protocol::InstallationSearchResults =
        serde_json::from_value(body).unwrap();
    let found: BTreeSet<Uuid> = found
        .items
        .iter()
        .map(|f| f.installation.record.id)
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([old_cancelled, new_cancelled, old_open])
    );
    // Team B sees none of them; a one-letter search is refused.
    let bob = server.token(fieldbook_testkit::TECH_B).await;
    let (_, body) = server.get("/api/v1/installations/search?q=ada", &bob).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
    let (status, body) = server.get("/api/v1/installations/search?q=a", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// Pages read a window of sequence numbers, not every table's next page
/// (crates/server storage/pull.rs). Where the caller sees few of the
/// server's changes (one team of several), the window widens, so pages stay
/// full instead of coming back nearly empty: few round trips, and still
/// every change of the scope exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_that_sees_few_changes_still_gets_full_pages_and_everything_once() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let mut mine = BTreeSet::new();
    for n in 0..200 {
        let id = server
            .create_installation(&world.ops, &format!("Job {n}"))
            .await;
        // One job in ten is team A's; the rest (and their changes) are not
        // in this scope.
        let team = if n % 10 == 0 {
            world.team_a
        } else {
            world.team_b
        };
        server.assign(&world.ops, id, team).await;
        if team == world.team_a {
            mine.insert(id);
        }
    }
    let token = server.token(TECH_A).await;
    let limit = 8;
    let (mut cursor, mut pages, mut seen) = (0, 0, Vec::new());
    loop {
        let page = server.pull(&token, cursor, limit).await;
        assert!(page.len() <= limit as usize);
        assert!(
            page.next_cursor > cursor || !page.has_more,
            "no progress at {cursor}"
        );
        seen.extend(page.installations.iter().map(|r| r.record.id));
        cursor = page.next_cursor;
        pages += 1;
        if !page.has_more {
            break;
        }
    }
    let got: BTreeSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(seen.len(), got.len(), "an installation came twice");
    assert_eq!(got, mine);
    // 20 installations with their assignments, leads, surveys, users and
    // team: about 90 records, so about 12 full pages of 8. Windows of a
    // fixed width would take one page per 8 sequence numbers: over 100.
    assert!(pages <= 25, "{pages} pages for a scope of about 90 records");
}
