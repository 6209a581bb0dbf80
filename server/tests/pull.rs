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
