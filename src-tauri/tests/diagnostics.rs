//! The support bundle and the logs against the real server: a technician
//! signs in, syncs the demo schedule, searches for a customer, does a job
//! with notes, captions and the customer's signature, all with tracing at
//! debug level for every crate. Then neither the log file nor any entry of
//! the diagnostics zip may hold the password, the bearer token, or any
//! demo customer's name, phone, email, address, postcode or notes.
//!
//! One test per binary: it installs the process-wide log subscriber.

mod common;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use fieldbook_app::context::{AppContext, LaunchSettings};
use fieldbook_app::{installations, logging, media, session, settings};
use fieldbook_domain::InstallationStatus;
use fieldbook_store::{InstallationQuery, Store};
use fieldbook_sync::{CredentialStore, FileCredentialStore, SyncOptions};
use fieldbook_testkit::{drawn_signature, png_bytes, TestServer};

fn device(dir: &Path, log_dir: &Path) -> AppContext {
    let mut options = SyncOptions::new(dir);
    options.debounce = Duration::from_millis(100);
    options.http_timeout = Duration::from_secs(10);
    AppContext::with_sync_options(
        Store::open(dir).unwrap(),
        LaunchSettings {
            log_dir: Some(log_dir.to_path_buf()),
            ..LaunchSettings::default()
        },
        options,
    )
    .unwrap()
}

/// Entries of the zip at `path`: name and text.
fn zip_entries(path: &Path) -> Vec<(String, String)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (
                entry.name().unwrap().into_owned(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_and_logs_carry_no_customer_data_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("logs");
    let log_guard = logging::init_with_filter(&log_dir, "debug").unwrap();

    let demo = fieldbook_demo::generate(&fieldbook_demo::DemoConfig::new(
        40,
        2,
        Utc::now().date_naive(),
    ));
    let server = TestServer::start_with_demo(&demo).await;
    let url = server.base_url();
    let technician = demo.technicians().next().unwrap().clone();

    let device_dir = dir.path().join("device");
    let ctx = device(&device_dir, &log_dir);
    session::sign_in(
        &ctx,
        url.clone(),
        technician.user.username.clone(),
        technician.password.clone(),
    )
    .await
    .unwrap();
    ctx.sync().sync_once().await.unwrap();

    // A confirmed job of this technician, found the way the UI finds it:
    // by searching for its customer.
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
    let job = confirmed.items[0].id;
    let detail = installations::get_installation(&ctx, job).await.unwrap();
    let customer = detail.lead.clone().expect("the job's lead was pulled");
    let found = installations::list_installations(
        &ctx,
        InstallationQuery {
            text: customer.customer_name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(found.items.iter().any(|i| i.id == job));

    // Typed by the technician: must not leak either.
    let notes = "Key under the blue flowerpot, gate code 4471";
    let issues = "Neighbour's van blocks the drive on Tuesdays";
    let caption = "Meter cupboard at Flat 3B";
    common::start_and_fill_report(&ctx, job, |draft| {
        draft.general_notes = notes.into();
        draft.issues_encountered = issues.into();
    })
    .await;
    let photo = device_dir.join(format!("{}-meter.png", customer.postcode));
    std::fs::write(&photo, png_bytes(48, 32, 1)).unwrap();
    let attached = media::attach_media(&ctx, job, vec![photo.display().to_string()], |_| {})
        .await
        .unwrap();
    media::set_media_caption(&ctx, attached[0].id, caption.into())
        .await
        .unwrap();
    common::finish_sign_and_submit(&ctx, job, &customer.customer_name, drawn_signature()).await;
    let summary = ctx.sync().sync_once().await.unwrap();
    assert_eq!(summary.refused, 0, "{summary:?}");

    let token = FileCredentialStore::new(&device_dir)
        .load()
        .unwrap()
        .expect("the token is saved");
    // Flushes the log file.
    drop(log_guard);

    let out = dir.path().join("support").join("fieldbook-diagnostics");
    let saved = settings::save_diagnostics(&ctx, out.display().to_string())
        .await
        .unwrap();
    assert!(
        saved.path.ends_with("fieldbook-diagnostics.zip"),
        "{saved:?}"
    );
    let entries = zip_entries(Path::new(&saved.path));
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "summary.json",
        "sync-status.json",
        "database.json",
        "queues.json",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let logs: Vec<&(String, String)> = entries
        .iter()
        .filter(|(n, _)| n.starts_with("logs/fieldbook"))
        .collect();
    assert!(!logs.is_empty(), "the log file is in the zip: {names:?}");
    let log_text: String = logs.iter().map(|(_, t)| t.as_str()).collect();
    // The log did record the session at debug level (so the checks below
    // look at a real log, not an empty one).
    assert!(log_text.contains("sign_in"), "{log_text}");
    assert!(log_text.contains("DEBUG"), "{log_text}");

    let database: serde_json::Value = serde_json::from_str(
        &entries
            .iter()
            .find(|(n, _)| n == "database.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(database["integrity_check"], serde_json::json!(["ok"]));
    assert!(database["table_counts"]["leads"].as_u64().unwrap() > 1);
    assert!(
        database["table_counts"]["installation_media"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let summary: serde_json::Value =
        serde_json::from_str(&entries.iter().find(|(n, _)| n == "summary.json").unwrap().1)
            .unwrap();
    assert_eq!(summary["app_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(summary["server_url"], url.as_str());

    // What must appear nowhere: secrets, and every demo customer's data
    // (the device holds the leads of its teams' jobs).
    let mut forbidden: Vec<(String, String)> = vec![
        ("password".into(), technician.password.clone()),
        ("bearer token".into(), token.clone()),
        ("report notes".into(), notes.into()),
        ("report issues".into(), issues.into()),
        ("caption".into(), caption.into()),
    ];
    for lead in &demo.leads {
        for (what, value) in [
            ("customer name", &lead.customer_name),
            ("phone", &lead.phone),
            ("email", &lead.email),
            ("address", &lead.address_line1),
            ("postcode", &lead.postcode),
            ("installer notes", &lead.installer_notes),
        ] {
            if value.trim().len() >= 4 {
                forbidden.push((format!("{what} of lead {}", lead.id), value.clone()));
            }
        }
    }
    for survey in &demo.surveys {
        if survey.surveyor_notes.trim().len() >= 4 {
            forbidden.push((
                format!("surveyor notes of survey {}", survey.id),
                survey.surveyor_notes.clone(),
            ));
        }
    }
    let log_file_text: String = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for (what, value) in &forbidden {
        assert!(
            !log_file_text.contains(value.as_str()),
            "the log file holds the {what}: {value:?}"
        );
        for (name, text) in &entries {
            assert!(
                !text.contains(value.as_str()),
                "{name} in the diagnostics zip holds the {what}: {value:?}"
            );
        }
    }
    drop(server);
}
