//! Completion certificates on the real server: the device says which blob is
//! the report's certificate (`report.certificate`), the PDF arrives on the
//! blob upload path, and Central Ops download it byte for byte. A
//! certificate for a job without a report, or for another version of the
//! report, is refused; one held with its report (the job left the team
//! meanwhile) becomes the job's when ops accept the held work.

use chrono::Utc;
use fieldbook_domain::{BlobRef, InstallationReport, InstallationStatus, Mutation, Sha256Hex};
use fieldbook_protocol::{MutationOutcome, RejectCode};
use fieldbook_testkit::{
    finish, is_applied, signed_report, start, ProtocolDevice, TestServer, TwoTeams, TECH_A,
};
use reqwest::StatusCode;
use uuid::Uuid;

/// A job of team A with a submitted report; the device that did it.
async fn submitted_job(
    server: &TestServer,
    world: &TwoTeams,
) -> (Uuid, ProtocolDevice, InstallationReport) {
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(server, TECH_A).await;
    let report = signed_report(installation, &[]);
    let outcomes = device
        .push(
            server,
            vec![
                start(installation),
                finish(installation),
                Mutation::ReportSubmit {
                    report: Box::new(report.clone()),
                },
            ],
        )
        .await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");
    (installation, device, report)
}

fn certificate(installation_id: Uuid, pdf: &[u8], content_hash: &Sha256Hex) -> Mutation {
    Mutation::ReportCertificate {
        installation_id,
        file: BlobRef {
            sha256: Sha256Hex::digest(pdf),
            size: pdf.len() as u64,
            mime: "application/pdf".to_owned(),
        },
        report_content_hash: content_hash.clone(),
        made_at: Utc::now(),
    }
}

fn rejection(outcome: &MutationOutcome) -> (RejectCode, String) {
    match outcome {
        MutationOutcome::Rejected { code, reason, .. } => (*code, reason.clone()),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// GET with a bearer token: status, headers and the raw body.
async fn download(
    server: &TestServer,
    path: &str,
    token: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_download_the_certificate_the_device_sent_byte_for_byte() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let (installation, mut device, report) = submitted_job(&server, &world).await;
    let route = format!("/api/v1/ops/installations/{installation}/certificate");
    let detail = format!("/api/v1/ops/installations/{installation}");

    // Nothing sent yet: a 404 that says when it comes.
    let (status, body) = server.get(&route, &world.ops).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    assert!(
        body["message"].as_str().unwrap().contains("syncs"),
        "{body}"
    );
    let (_, view) = server.get(&detail, &world.ops).await;
    assert!(view["report"].get("certificate").is_none(), "{view}");

    let pdf = b"%PDF-1.7\n% the certificate of the job\n%%EOF\n".to_vec();
    let outcome = device
        .push_one(
            &server,
            certificate(installation, &pdf, &report.content_hash),
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");

    // The record is here, its bytes not yet.
    let (status, body) = server.get(&route, &world.ops).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("uploading"),
        "{body}"
    );
    let (_, view) = server.get(&detail, &world.ops).await;
    let shown = &view["report"]["certificate"];
    assert_eq!(shown["sha256"], Sha256Hex::digest(&pdf).as_str());
    assert_eq!(shown["report_content_hash"], report.content_hash.as_str());
    assert_eq!(shown["blob_available"], false);

    server.upload_blob(&device.token, &pdf).await;
    let (status, headers, bytes) = download(&server, &route, &world.ops).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, pdf);
    assert_eq!(headers["content-type"], "application/pdf");
    let number = server
        .installation(installation)
        .installation_id
        .to_string();
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"certificate-{number}.pdf\"")
    );
    let (_, view) = server.get(&detail, &world.ops).await;
    assert_eq!(view["report"]["certificate"]["blob_available"], true);

    // The technician's team reads the blob like the job's photos; the ops
    // route is not theirs.
    let blob = format!("/api/v1/blobs/{}", Sha256Hex::digest(&pdf));
    let (status, headers, bytes) = download(&server, &blob, &device.token).await;
    assert_eq!((status, bytes), (StatusCode::OK, pdf.clone()));
    assert_eq!(headers["content-type"], "application/pdf");
    let (status, _) = server.get(&route, &device.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // What the certificate's QR code opens: public, and it says only
    // whether the server holds this report with this hash.
    let verify = |hash: &str| {
        format!(
            "{}/verify?installation={number}&sha256={hash}",
            server.base_url()
        )
    };
    let page = reqwest::get(verify(report.content_hash.as_str()))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Certificate matches"));
    let other = Sha256Hex::digest(b"another report");
    let page = reqwest::get(verify(other.as_str())).await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.text().await.unwrap().contains("No matching report"));
    let page = reqwest::get(verify("not-a-hash")).await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);

    // A team-mate's device making its own copy of the same report's
    // certificate changes nothing: the first one stays.
    let mut other = ProtocolDevice::login(&server, TECH_A).await;
    let copy = b"%PDF-1.7\n% made again elsewhere\n%%EOF\n".to_vec();
    let outcome = other
        .push_one(
            &server,
            certificate(installation, &copy, &report.content_hash),
        )
        .await;
    assert!(is_applied(&outcome), "{outcome:?}");
    let (_, _, bytes) = download(&server, &route, &world.ops).await;
    assert_eq!(bytes, pdf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_without_a_report_or_of_another_report_version_is_refused() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let pdf = b"%PDF-1.7\n%%EOF\n".to_vec();

    // A finished job whose report the server does not have.
    let installation = server
        .confirmed_installation(&world.ops, world.team_a)
        .await;
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let outcomes = device
        .push(&server, vec![start(installation), finish(installation)])
        .await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");
    let some_hash = Sha256Hex::digest(b"a report");
    let outcome = device
        .push_one(&server, certificate(installation, &pdf, &some_hash))
        .await;
    let (code, reason) = rejection(&outcome);
    assert_eq!(code, RejectCode::NotFound);
    assert!(reason.contains("no submitted report"), "{reason}");

    // Another version of the report than the server holds.
    let (installation, mut device, report) = submitted_job(&server, &world).await;
    let outcome = device
        .push_one(&server, certificate(installation, &pdf, &some_hash))
        .await;
    let (code, reason) = rejection(&outcome);
    assert_eq!(code, RejectCode::ValidationFailed);
    assert!(reason.contains("another version of the report"), "{reason}");

    // Not a PDF.
    let mut not_pdf = certificate(installation, &pdf, &report.content_hash);
    if let Mutation::ReportCertificate { file, .. } = &mut not_pdf {
        file.mime = "image/png".to_owned();
    }
    let (code, reason) = rejection(&device.push_one(&server, not_pdf).await);
    assert_eq!(code, RejectCode::ValidationFailed);
    assert!(reason.contains("PDF"), "{reason}");

    // Another team's job looks like one that does not exist.
    let theirs = server
        .confirmed_installation(&world.ops, world.team_b)
        .await;
    let outcome = device
        .push_one(&server, certificate(theirs, &pdf, &report.content_hash))
        .await;
    assert_eq!(rejection(&outcome).0, RejectCode::NotFound);
    let route = format!("/api/v1/ops/installations/{installation}/certificate");
    let (status, _) = server.get(&route, &world.ops).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_held_with_its_report_is_the_jobs_once_ops_accept_the_work() {
    let server = TestServer::start().await;
    let world = TwoTeams::create(&server).await;
    let installation = server.create_installation(&world.ops, "Ada Customer").await;
    let assignment = server.assign(&world.ops, installation, world.team_a).await;
    let (status, body) = server
        .transition(&world.ops, installation, InstallationStatus::Confirmed)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut device = ProtocolDevice::login(&server, TECH_A).await;
    let outcomes = device
        .push(&server, vec![start(installation), finish(installation)])
        .await;
    assert!(outcomes.iter().all(is_applied), "{outcomes:?}");

    // Ops take the job off the team while the technician submits offline.
    server.withdraw(&world.ops, assignment).await;
    let report = signed_report(installation, &[]);
    let pdf = b"%PDF-1.7\n% held with its report\n%%EOF\n".to_vec();
    let outcomes = device
        .push(
            &server,
            vec![
                Mutation::ReportSubmit {
                    report: Box::new(report.clone()),
                },
                certificate(installation, &pdf, &report.content_hash),
            ],
        )
        .await;
    let held: Vec<Uuid> = outcomes
        .iter()
        .map(|o| match o {
            MutationOutcome::Held { held_work_id, .. } => *held_work_id,
            other => panic!("expected held work, got {other:?}"),
        })
        .collect();
    assert_eq!(held[0], held[1], "one held record for the job");
    server.upload_blob(&device.token, &pdf).await;
    let route = format!("/api/v1/ops/installations/{installation}/certificate");
    let (status, _) = server.get(&route, &world.ops).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not the job's before ops decide"
    );

    let (status, body) = server
        .post(
            &format!("/api/v1/admin/held-work/{}/accept", held[0]),
            &world.ops,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, bytes) = download(&server, &route, &world.ops).await;
    assert_eq!((status, bytes), (StatusCode::OK, pdf));
}
