//! A technician's device for the console's browser end-to-end test
//! (`console/e2e/`): the real store and sync engine in a data dir that
//! persists between invocations, one step per run, so the test can act in the
//! browser between the device's steps.
//!
//! ```text
//! console_device sign-in --data DIR --server URL --user NAME --password PW
//! console_device sync    --data DIR
//! console_device status  --data DIR --installation UUID
//! console_device work-offline --data DIR --installation UUID --photos N
//! ```
//!
//! Every step prints one JSON object on stdout. `work-offline` touches only
//! the local store (no network), as on a site without coverage: start, finish,
//! N photos, the report, the customer's signature and the submission wait in
//! the outbox for the next `sync`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{InstallationStatus, ReportDraft};
use fieldbook_store::{SignatureInput, Store};
use fieldbook_sync::{SharedStore, SyncEngine, SyncOptions};
use serde_json::json;
use uuid::Uuid;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or(USAGE)?;
    let flags = parse_flags(args)?;
    let data_dir = PathBuf::from(flags.get("data").ok_or("--data DIR is required")?);
    std::fs::create_dir_all(&data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store: SharedStore = Arc::new(Mutex::new(Store::open(&data_dir)?));
    let engine = SyncEngine::new(Arc::clone(&store), SyncOptions::new(&data_dir))?;
    let output = match command.as_str() {
        "sign-in" => runtime.block_on(sign_in(&engine, &flags))?,
        "sync" => runtime.block_on(sync(&engine))?,
        "status" => status(&store, installation(&flags)?)?,
        "work-offline" => {
            let photos: u8 = flags.get("photos").map_or(Ok(3), |n| n.parse())?;
            work_offline(&store, &data_dir, installation(&flags)?, photos)?
        }
        _ => return Err(USAGE.into()),
    };
    println!("{output}");
    Ok(())
}

const USAGE: &str = "usage: console_device sign-in|sync|status|work-offline --data DIR [...]";

fn parse_flags(args: impl Iterator<Item = String>) -> Result<HashMap<String, String>, Error> {
    let args: Vec<String> = args.collect();
    let mut flags = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [name, value] if name.starts_with("--") => {
                flags.insert(name.trim_start_matches("--").to_owned(), value.clone());
            }
            _ => return Err(format!("expected `--name value` pairs, got {pair:?}").into()),
        }
    }
    Ok(flags)
}

fn installation(flags: &HashMap<String, String>) -> Result<Uuid, Error> {
    Ok(flags
        .get("installation")
        .ok_or("--installation UUID is required")?
        .parse()?)
}

async fn sign_in(
    engine: &SyncEngine,
    flags: &HashMap<String, String>,
) -> Result<serde_json::Value, Error> {
    let server = flags.get("server").ok_or("--server URL is required")?;
    let user = flags.get("user").ok_or("--user NAME is required")?;
    let password = flags.get("password").ok_or("--password PW is required")?;
    let session = engine.sign_in(server, user, password).await?;
    let summary = engine.sync_once().await?;
    Ok(json!({
        "user": session.user.username,
        "device_id": engine.store().lock().expect("store lock").device_id(),
        "pulled_records": summary.pulled_records,
    }))
}

async fn sync(engine: &SyncEngine) -> Result<serde_json::Value, Error> {
    let summary = engine.sync_once().await?;
    let status = engine.status();
    Ok(json!({
        "pushed": summary.pushed,
        "refused": summary.refused,
        "pulled_records": summary.pulled_records,
        "uploaded_blobs": summary.uploaded_blobs,
        "pending_mutations": status.pending_mutations,
        "pending_blobs": status.pending_blobs,
        "needs_attention": status.needs_attention,
    }))
}

fn status(store: &SharedStore, id: Uuid) -> Result<serde_json::Value, Error> {
    let store = store.lock().expect("store lock");
    match store.get_installation(id) {
        Ok(detail) => Ok(json!({
            "present": true,
            "status": detail.installation.status,
            "installation_id": detail.installation.installation_id,
        })),
        // Not (or no longer) in this device's scope.
        Err(fieldbook_store::StoreError::NotFound { .. }) => Ok(json!({ "present": false })),
        Err(e) => Err(e.into()),
    }
}

fn work_offline(
    store: &SharedStore,
    data_dir: &Path,
    id: Uuid,
    photos: u8,
) -> Result<serde_json::Value, Error> {
    let mut store = store.lock().expect("store lock");
    let current = store.get_installation(id)?.installation.status;
    // A job ops have not marked confirmed yet is started with the override
    // the app offers ("start anyway"), which the report records.
    let start = StartRequest {
        override_reason: (current != InstallationStatus::Confirmed)
            .then(|| "Customer was home and ready early".to_owned()),
    };
    store.start_installation(id, &start)?;
    store.finish_installation(id)?;

    let camera = data_dir.join("camera");
    std::fs::create_dir_all(&camera)?;
    let captions = [
        "Charger on the garage wall",
        "Consumer unit with the new RCBO",
        "Cable run along the fence",
    ];
    let mut photo_hashes = Vec::new();
    for n in 0..photos {
        let path = camera.join(format!("photo-{n}.jpg"));
        photo(n).save_with_format(&path, image::ImageFormat::Jpeg)?;
        let caption = captions[usize::from(n) % captions.len()];
        let media = store.attach_media(id, &path, caption)?;
        photo_hashes.push(media.file.sha256);
    }

    let mut draft = ReportDraft::new(id, chrono::Utc::now());
    draft.charger_serial_number = "ZP-2026-004217".into();
    draft.charger_model = "Zappi 2 7kW tethered".into();
    draft.installation_successful = Some(true);
    fieldbook_testkit::fill_default_template(&mut draft);
    draft.demo_given = true;
    draft.issues_encountered = "Cable run 3 m longer than surveyed; used spare SWA.".into();
    draft.general_notes =
        "Installed on the garage wall, 1.2 m high. App paired with the customer's phone.".into();
    store.save_report_draft(&draft)?;
    let (png, strokes) = fieldbook_testkit::drawn_signature();
    let signed = store.sign_report(
        id,
        &SignatureInput {
            png,
            strokes,
            signer_name: "Ada Customer".into(),
        },
    )?;
    let signature_sha = signed
        .customer_signature
        .ok_or("the signed draft has no signature")?
        .png
        .sha256;
    let report = store.submit_report(id)?;
    Ok(json!({
        "report_id": report.id,
        "photos": photo_hashes,
        "signature": signature_sha,
        "status": store.get_installation(id)?.installation.status,
    }))
}

/// A 960×640 photo-like JPEG, different for each `n`: sky, wall, a charger.
fn photo(n: u8) -> image::RgbImage {
    let tint = u32::from(n) * 40;
    image::RgbImage::from_fn(960, 640, |x, y| {
        let in_box = (380..580).contains(&x) && (180..470).contains(&y);
        if in_box {
            let edge = !(392..=567).contains(&x) || !(192..=457).contains(&y);
            return if edge {
                image::Rgb([30, 40, 52])
            } else {
                image::Rgb([236, 240, 242])
            };
        }
        if y < 220 {
            let v = 180 + (y * 60 / 220);
            image::Rgb([
                (120 + tint % 60) as u8,
                (160 + tint % 40) as u8,
                v.min(255) as u8,
            ])
        } else {
            let brick = ((x / 48) + (y / 24)) % 2;
            let base = 150 + brick * 18 + (tint % 30);
            image::Rgb([
                base.min(255) as u8,
                (base / 2 + 30) as u8,
                (base / 3 + 20) as u8,
            ])
        }
    })
}
