//! Finding 3 of issue 15: a failure inside one mutation failed the whole
//! push with a 500; the retry failed the same way and the device's queue
//! never drained. Now it is that mutation's rejection and the batch and the
//! device's sequence go on.

use fieldbook_domain::Mutation;
use fieldbook_protocol::{MutationOutcome, RejectCode};
use fieldbook_testkit::{
    finish, is_applied, photo, signed_report, start, ProtocolDevice, TestServer, TwoTeams, TECH_A,
};

fn reject_code(outcome: &MutationOutcome) -> Option<RejectCode> {
    match outcome {
        MutationOutcome::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

/// Two confirmed jobs of team A, both started and finished by its technician.
async fn two_finished_jobs(
    server: &TestServer,
    world: &TwoTeams,
) -> (ProtocolDevice, [uuid::Uuid; 2]) {
    let mut device = ProtocolDevice::login(server, TECH_A).await;
    let mut jobs = [uuid::Uuid::nil(); 2];
    for job in &mut jobs {
        *job = server
            .confirmed_installation(&world.ops, world.team_a)
            .await;
        let outcomes = device.push(server, vec![start(*job), finish(*job)]).await;
        assert!(outcomes.iter().all(is_applied), "{outcomes:?}");
    }
    (device, jobs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_whose_id_belongs_to_another_report_is_rejected_and_the_queue_goes_on() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (mut device, [first, second]) = two_finished_jobs(&server, &world).await;
    let report = signed_report(first, &[]);
    let submitted = device
        .push_one(
            &server,
            Mutation::ReportSubmit {
                report: Box::new(report.clone()),
            },
        )
        .await;
    assert!(is_applied(&submitted), "{submitted:?}");

    // The second job's report reuses the first report's id.
    let mut clash = signed_report(second, &[]);
    clash.id = report.id;
    let batch = device.envelopes(vec![
        Mutation::ReportSubmit {
            report: Box::new(clash),
        },
        Mutation::MediaAttach {
            media: photo(second, b"after the clash"),
        },
    ]);
    let outcomes = device.push_envelopes(&server, &batch).await;
    assert_eq!(
        reject_code(&outcomes[0]),
        Some(RejectCode::ValidationFailed),
        "{outcomes:?}"
    );
    assert!(is_applied(&outcomes[1]), "{outcomes:?}");
    // The retry gets the same answers, and the sequence goes on.
    assert_eq!(device.push_envelopes(&server, &batch).await, outcomes);
    let next = device
        .push_one(
            &server,
            Mutation::MediaAttach {
                media: photo(second, b"and the next one"),
            },
        )
        .await;
    assert!(is_applied(&next), "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_error_inside_one_mutation_is_its_rejection_and_leaves_nothing_behind() {
    if fieldbook_testkit::skip_unless_sqlite(
        "a_storage_error_inside_one_mutation_is_its_rejection_and_leaves_nothing_behind",
    ) {
        return;
    }
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (mut device, [job, _]) = two_finished_jobs(&server, &world).await;
    // Make every media insert fail inside the database, as a full disk or
    // a broken constraint would.
    let db =
        rusqlite::Connection::open(fieldbook_server::storage::database_path(server.data_dir()))
            .unwrap();
    db.execute_batch(
        "CREATE TRIGGER injected_failure BEFORE INSERT ON media \
         BEGIN SELECT RAISE(ABORT, 'injected storage failure'); END;",
    )
    .unwrap();
    let failing = photo(job, b"cannot be stored");
    let batch = device.envelopes(vec![
        Mutation::MediaAttach {
            media: failing.clone(),
        },
        Mutation::ReportSubmit {
            report: Box::new(signed_report(job, &[])),
        },
    ]);
    let outcomes = device.push_envelopes(&server, &batch).await;
    assert_eq!(
        reject_code(&outcomes[0]),
        Some(RejectCode::StorageFailed),
        "{outcomes:?}"
    );
    assert!(is_applied(&outcomes[1]), "{outcomes:?}");
    let stored = server
        .state
        .storage
        .read(|db| db.media(failing.id))
        .unwrap();
    assert!(stored.is_none(), "the failed mutation left a media record");

    // Once the cause is gone the retry still gets the recorded answers, and
    // the device's next mutation is applied.
    db.execute_batch("DROP TRIGGER injected_failure").unwrap();
    assert_eq!(device.push_envelopes(&server, &batch).await, outcomes);
    let next = device
        .push_one(
            &server,
            Mutation::MediaAttach {
                media: photo(job, b"stored now"),
            },
        )
        .await;
    assert!(is_applied(&next), "{next:?}");
}
