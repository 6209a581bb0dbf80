//! The command bodies against the real server (started on port 0 with demo
//! data): sign in, pull the schedule, do a job with its report, photos and
//! signature and its certificate, and see the server accept all of it. No
//! Tauri, no window.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use fieldbook_app::context::{AppContext, LaunchSettings};
use fieldbook_app::{certificates, installations, media, session, sync};
use fieldbook_domain::InstallationStatus;
use fieldbook_store::{InstallationQuery, Store};
use fieldbook_sync::SyncOptions;
use fieldbook_testkit::TestServer;

fn device(dir: &Path) -> AppContext {
    let mut options = SyncOptions::new(dir);
    options.debounce = Duration::from_millis(100);
    options.http_timeout = Duration::from_secs(10);
    AppContext::with_sync_options(
        Store::open(dir).unwrap(),
        LaunchSettings::default(),
        options,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_made_through_the_commands_reaches_the_server() {
    let demo = fieldbook_demo::generate(&fieldbook_demo::DemoConfig::new(
        40,
        2,
        Utc::now().date_naive(),
    ));
    let server = TestServer::start_with_demo(&demo).await;
    let url = server.base_url();
    let technician = demo.technicians().next().unwrap().clone();

    let device_dir = tempfile::tempdir().unwrap();
    let ctx = device(device_dir.path());
    let wrong = session::sign_in(
        &ctx,
        url.clone(),
        technician.user.username.clone(),
        "nope".into(),
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.code, fieldbook_app::error::ErrorCode::BadCredentials);
    let signed_in = session::sign_in(
        &ctx,
        url.clone(),
        technician.user.username.clone(),
        technician.password.clone(),
    )
    .await
    .unwrap();
    assert_eq!(signed_in.user.id, technician.user.id);
    assert_eq!(
        session::app_info(&ctx).default_server_url.as_deref(),
        Some(url.as_str())
    );
    ctx.sync().sync_once().await.unwrap();

    let confirmed = installations::list_installations(
        &ctx,
        InstallationQuery {
            statuses: vec![InstallationStatus::Confirmed],
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        confirmed.total >= 1,
        "the pulled schedule has a confirmed job"
    );
    let job = confirmed.items[0].id;

    common::start_and_fill_report(&ctx, job, |_| {}).await;
    let mut paths = Vec::new();
    for seed in 1..=3u8 {
        let path = device_dir.path().join(format!("photo-{seed}.png"));
        std::fs::write(&path, fieldbook_testkit::png_bytes(48, 32, seed)).unwrap();
        paths.push(path.to_string_lossy().into_owned());
    }
    let photos = media::attach_media(&ctx, job, paths, |_| {}).await.unwrap();
    assert_eq!(photos.len(), 3);
    common::finish_sign_and_submit(
        &ctx,
        job,
        "Dana Customer",
        (
            fieldbook_testkit::signature_png(),
            fieldbook_testkit::signature_strokes(),
        ),
    )
    .await;
    // The certificate, made offline right after submit; its pages drawn
    // for the screen.
    let certificate = certificates::make_certificate(&ctx, job).await.unwrap();
    let pages = certificates::certificate_pages(&ctx, job).await.unwrap();
    assert!(!pages.is_empty());
    assert!(ctx.media().contains(&pages[0].image.sha256));
    let queued = ctx.with_store(|store| store.outbox_counts()).await.unwrap();
    assert_eq!(
        queued.pending, 7,
        "start, 3 photos, finish, submit and the certificate wait"
    );

    // Pushes the mutations, uploads the 3 photos, the signature and the
    // certificate.
    let summary = ctx.sync().sync_once().await.unwrap();
    assert_eq!(summary.refused, 0, "{summary:?}");
    assert_eq!(summary.uploaded_blobs, 5, "{summary:?}");
    // The server knows which blob is the certificate and has its bytes,
    // hash-equal to the file on the laptop.
    let sha256 = &certificate.file.sha256;
    assert_eq!(
        server.count(
            "SELECT count(*) FROM report_certificates WHERE sha256 = ?1",
            sha256.as_str()
        ),
        1
    );
    assert_eq!(server.blob_digest(sha256).as_ref(), Some(sha256));
    let on_laptop = ctx.media().read_blob(sha256).unwrap();
    assert_eq!(&fieldbook_domain::Sha256Hex::digest(&on_laptop), sha256);
    let after = sync::sync_status(&ctx);
    assert_eq!(
        (after.pending_mutations, after.pending_blobs),
        (0, 0),
        "{after:?}"
    );
    assert!(sync::needs_attention(&ctx).await.unwrap().is_empty());
    let detail = installations::get_installation(&ctx, job).await.unwrap();
    assert!(
        detail.report_server_version.is_some(),
        "the server accepted the report"
    );
    assert_eq!(
        detail.installation.status,
        InstallationStatus::ReportSubmitted
    );

    // Nothing left unsent: signing out needs no force.
    session::sign_out(&ctx, false).await.unwrap();
    assert!(session::current_session(&ctx).await.unwrap().is_none());
    drop(server);
}
