//! Findings 4 and 5 of issue 15: unbounded strings were stored and fanned
//! out to every team-mate's pull, pull pages were bounded by count only,
//! and a cursor above i64::MAX wrapped.

use fieldbook_domain::Mutation;
use fieldbook_protocol::{MutationOutcome, RejectCode};
use fieldbook_testkit::{
    finish, is_applied, photo, signed_report, start, ProtocolDevice, TestServer, TwoTeams, TECH_A,
    TECH_A2,
};
use reqwest::StatusCode;

fn reject_code(outcome: &MutationOutcome) -> Option<RejectCode> {
    match outcome {
        MutationOutcome::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_strings_are_rejected_and_never_reach_a_team_mate() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let job = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let outcomes = device.push(&server, vec![start(job), finish(job)]).await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");

    let mut huge_mime = photo(job, b"huge mime");
    huge_mime.file.mime = format!("image/{}", "x".repeat(2 * MIB));
    let mut report = signed_report(job, &[]);
    if let Some(signature) = report.customer_signature.as_mut() {
        signature.strokes[0].pen_color = "#".repeat(2 * MIB);
    }
    let outcomes = device
        .push(
            &server,
            vec![
                Mutation::MediaAttach {
                    media: huge_mime.clone(),
                },
                Mutation::ReportSubmit {
                    report: Box::new(report),
                },
            ],
        )
        .await;
    for outcome in &outcomes {
        assert_eq!(
            reject_code(outcome),
            Some(RejectCode::ValidationFailed),
            "{outcome:?}"
        );
    }
    // Nothing of either is in the team-mate's pull.
    let mate = server.token(TECH_A2).await;
    let pages = server.pull_all(&mate, 0, 1000).await;
    assert!(pages
        .iter()
        .all(|p| p.media.is_empty() && p.reports.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_pages_are_bounded_in_bytes_and_a_larger_record_still_comes_alone() {
    const BUDGET: usize = 2048;
    let server = TestServer::start_with(|c| c.pull_page_bytes = BUDGET).await;
    let world = TwoTeams::create(&server).await;
    let job = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    for i in 0..12 {
        let mut media = photo(job, format!("photo {i}").as_bytes());
        media.caption = format!("{i} {}", "c".repeat(240));
        assert!(is_applied(
            &device
                .push_one(&server, Mutation::MediaAttach { media })
                .await
        ));
    }
    let token = server.token(TECH_A2).await;
    let pages = server.pull_all(&token, 0, 1000).await;
    assert!(pages.len() > 2, "{} pages", pages.len());
    for page in &pages {
        let bytes = serde_json::to_vec(page).unwrap().len();
        // The page's envelope (cursors, empty lists) comes on top of the
        // records' budget; a single record may pass it alone.
        assert!(
            bytes <= BUDGET + 512 || page.len() == 1,
            "a page of {} records has {bytes} bytes",
            page.len()
        );
    }
    let media: usize = pages.iter().map(|p| p.media.len()).sum();
    assert_eq!(media, 12, "every media record arrives once");

    // With a budget below one record, every page still carries one.
    let tiny = TestServer::start_with(|c| c.pull_page_bytes = 1).await;
    let world = TwoTeams::create(&tiny).await;
    tiny.confirmed_installation(&world.ops, world.team_a).await;
    let token = tiny.token(TECH_A).await;
    let pages = tiny.pull_all(&token, 0, 1000).await;
    assert!(pages.iter().all(|p| p.len() <= 1));
    assert!(pages.iter().map(|p| p.installations.len()).sum::<usize>() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_above_i64_max_and_limits_out_of_range_are_refused() {
    let server = TestServer::start().await;
    let token = server.token(fieldbook_testkit::OPS_USER).await;
    for cursor in [u64::MAX, i64::MAX as u64 + 1] {
        let (status, body) = server
            .get(&format!("/api/v1/sync/pull?cursor={cursor}"), &token)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "cursor {cursor}: {body}");
        assert_eq!(body["code"], "invalid_cursor");
    }
    let (status, body) = server
        .get(&format!("/api/v1/sync/pull?cursor={}", i64::MAX), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["next_cursor"], i64::MAX);
    for limit in [0, 1001] {
        let (status, body) = server
            .get(&format!("/api/v1/sync/pull?limit={limit}"), &token)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit {limit}: {body}");
        assert_eq!(body["code"], "bad_request");
    }
}
