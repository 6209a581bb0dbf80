//! A lost laptop gives nothing away: after a real sync of the demo data and
//! a report with photos, a signature and its certificate, opened the way
//! the app opens its data folder ([`AppContext::open_encrypted`]), no file
//! under the data folder (database, WAL, media, thumbnails, logs, settings)
//! holds a customer's name, phone number, address or gate code, the bearer
//! token, or any of the bytes of the photos, the signature image, the
//! completion certificate's PDF or its page images in plaintext, and no
//! file there is a readable image or PDF. The same holds for a folder
//! written by the unencrypted version and converted on its first encrypted
//! start.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use fieldbook_app::context::{AppContext, LaunchSettings};
use fieldbook_app::{certificates, installations, media, session};
use fieldbook_demo::{DemoConfig, DemoData};
use fieldbook_domain::{InstallationStatus, Sha256Hex};
use fieldbook_store::{InstallationQuery, Store};
use fieldbook_sync::SyncOptions;
use fieldbook_testkit::TestServer;

fn demo() -> DemoData {
    fieldbook_demo::generate(&DemoConfig::new(40, 2, Utc::now().date_naive()))
}

/// What must never be readable on the disk: every demo customer's name,
/// phone, address line and installer notes (one of which holds a gate code).
fn customer_texts(demo: &DemoData) -> Vec<String> {
    let mut texts: Vec<String> = demo
        .leads
        .iter()
        .flat_map(|l| {
            [
                l.customer_name.clone(),
                l.phone.clone(),
                l.address_line1.clone(),
                l.installer_notes.clone(),
            ]
        })
        .filter(|t| t.len() >= 6)
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("gate code is")),
        "the demo data has a gate code to look for"
    );
    texts.sort();
    texts.dedup();
    texts
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// 32-byte pieces from all over each image (header and all): a file that
/// holds any of them holds that image in plaintext.
fn image_pieces(images: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    for image in images {
        assert!(image.len() > 64, "a real image");
        let step = (image.len() - 32) / 12 + 1;
        for start in (0..image.len() - 32).step_by(step) {
            pieces.push(image[start..start + 32].to_vec());
        }
    }
    pieces
}

/// Greps every file under `dir`; returns how many files were read.
fn assert_nothing_readable(dir: &Path, texts: &[String], token: &str, images: &[Vec<u8>]) -> usize {
    let pieces = image_pieces(images);
    let mut files = Vec::new();
    files_under(dir, &mut files);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes.starts_with(b"SQLite format 3"),
            "{} is an unencrypted database",
            file.display()
        );
        for text in texts {
            assert!(
                !contains(&bytes, text.as_bytes()),
                "{} holds {text:?} in plaintext",
                file.display()
            );
        }
        assert!(
            !contains(&bytes, token.as_bytes()),
            "{} holds the bearer token",
            file.display()
        );
        assert!(
            !bytes.starts_with(b"\x89PNG") && !bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            "{} is a readable image",
            file.display()
        );
        assert!(
            !contains(&bytes, b"%PDF-"),
            "{} holds a readable PDF",
            file.display()
        );
        for piece in &pieces {
            assert!(
                !contains(&bytes, piece),
                "{} holds a photo's, the signature's or the certificate's bytes in plaintext",
                file.display()
            );
        }
    }
    files.len()
}

/// Signs in, pulls the schedule, does one job with 3 photos, a signature
/// and the certificate, and pushes it all (the uploads read the media as
/// stored); returns the photos', the signature's, the certificate PDF's and
/// its page images' bytes.
async fn work_a_day(
    ctx: &AppContext,
    server: &TestServer,
    demo: &DemoData,
    dir: &Path,
) -> Vec<Vec<u8>> {
    let technician = demo.technicians().next().unwrap().clone();
    session::sign_in(
        ctx,
        server.base_url(),
        technician.user.username.clone(),
        technician.password.clone(),
    )
    .await
    .unwrap();
    ctx.sync().sync_once().await.unwrap();
    let confirmed = installations::list_installations(
        ctx,
        InstallationQuery {
            statuses: vec![InstallationStatus::Confirmed],
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let job = confirmed.items[0].id;
    common::start_and_fill_report(ctx, job, |_| {}).await;
    let mut paths = Vec::new();
    let mut images = Vec::new();
    for seed in 1..=3u8 {
        let path = dir.join(format!("photo-{seed}.png"));
        let photo = fieldbook_testkit::png_bytes(48, 32, seed);
        std::fs::write(&path, &photo).unwrap();
        paths.push(path.to_string_lossy().into_owned());
        images.push(photo);
    }
    images.push(fieldbook_testkit::signature_png());
    media::attach_media(ctx, job, paths, |_| {}).await.unwrap();
    common::finish_sign_and_submit(
        ctx,
        job,
        "Dana Customer",
        (
            fieldbook_testkit::signature_png(),
            fieldbook_testkit::signature_strokes(),
        ),
    )
    .await;
    // The completion certificate (a PDF made on the device from the
    // photos' thumbnails and the signature), its pages drawn for the full
    // screen, and a copy saved outside the data folder: the plain PDF.
    let certificate = certificates::make_certificate(ctx, job).await.unwrap();
    let pages = certificates::certificate_pages(ctx, job).await.unwrap();
    let copy = dir.join("certificate-copy.pdf");
    certificates::save_certificate_copy(ctx, job, copy.to_string_lossy().into_owned())
        .await
        .unwrap();
    let pdf = std::fs::read(&copy).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "the copy is a readable PDF");
    assert_eq!(Sha256Hex::digest(&pdf), certificate.file.sha256);
    images.push(pdf);
    for page in &pages {
        let png = ctx.media().read_blob(&page.image.sha256).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a page drawn as a PNG");
        images.push(png);
    }
    let summary = ctx.sync().sync_once().await.unwrap();
    assert_eq!(summary.refused, 0, "{summary:?}");
    // The server checks each blob's SHA-256: the uploads were the plaintext
    // (3 photos, the signature and the certificate).
    assert_eq!(summary.uploaded_blobs, 5, "{summary:?}");
    assert_eq!(
        server.blob_digest(&certificate.file.sha256).as_ref(),
        Some(&certificate.file.sha256)
    );
    images
}

/// The media read back through the app's store, decrypted.
fn assert_media_read_back(ctx: &AppContext, images: &[Vec<u8>]) {
    for image in images {
        let sha = Sha256Hex::digest(image);
        assert_eq!(&ctx.media().read_blob(&sha).unwrap(), image);
    }
}

fn token_of(ctx: &AppContext) -> String {
    ctx.secrets()
        .expect("opened encrypted")
        .token()
        .unwrap()
        .expect("signed in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_day_of_work_no_customer_data_or_token_is_readable_in_the_data_folder() {
    let demo = demo();
    let texts = customer_texts(&demo);
    let server = TestServer::start_with_demo(&demo).await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let keys = root.path().join("data-keys");
    let photos = root.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let _logs = fieldbook_app::logging::init_with_filter(&data.join("logs"), "debug").unwrap();

    let ctx = AppContext::open_encrypted(&data, &keys, LaunchSettings::default()).unwrap();
    let images = work_a_day(&ctx, &server, &demo, &photos).await;
    let token = token_of(&ctx);
    // While open (the WAL holds the latest pages) and after closing.
    assert!(assert_nothing_readable(&data, &texts, &token, &images) >= 5);
    assert_media_read_back(&ctx, &images);
    drop(ctx);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_nothing_readable(&data, &texts, &token, &images);

    // The keys are where Settings says they are, never in the data folder.
    let ctx = AppContext::open_encrypted(&data, &keys, LaunchSettings::default()).unwrap();
    let storage = fieldbook_app::settings::key_storage(&ctx);
    match ctx.key_backend().unwrap() {
        fieldbook_secrets::KeyBackend::File { path } => {
            assert!(path.starts_with(&keys), "{}", path.display());
            assert_eq!(storage.kind, "file");
            assert!(storage.description.contains("no keyring is available"));
        }
        fieldbook_secrets::KeyBackend::OsKeyring => assert_eq!(storage.kind, "os_keyring"),
    }
    // Still signed in with the token from the key store.
    assert!(session::current_session(&ctx).await.unwrap().is_some());
    ctx.sync().sync_once().await.unwrap();
    ctx.secrets().unwrap().forget_everything().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_the_unencrypted_version_is_converted_and_then_gives_nothing_away() {
    let demo = demo();
    let texts = customer_texts(&demo);
    let server = TestServer::start_with_demo(&demo).await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let keys = root.path().join("data-keys");
    let photos = root.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();

    // Today's version: plaintext database and media, token in a 0600 file beside it.
    let images = {
        let ctx = AppContext::with_sync_options(
            Store::open(&data).unwrap(),
            LaunchSettings::default(),
            SyncOptions::new(&data),
        )
        .unwrap();
        work_a_day(&ctx, &server, &demo, &photos).await
    };
    let old_token =
        std::fs::read_to_string(data.join(fieldbook_sync::credentials::TOKEN_FILE)).unwrap();
    let database = std::fs::read(data.join("fieldbook.sqlite3")).unwrap();
    assert!(
        texts.iter().any(|t| contains(&database, t.as_bytes())),
        "the old version's database is readable (else this test proves nothing)"
    );
    let photo_on_disk = data
        .join("media")
        .join(&Sha256Hex::digest(&images[0]).as_str()[..2])
        .join(Sha256Hex::digest(&images[0]).as_str());
    assert_eq!(
        std::fs::read(photo_on_disk).unwrap(),
        images[0],
        "the old version's photos are readable (else this test proves nothing)"
    );

    let ctx = AppContext::open_encrypted(&data, &keys, LaunchSettings::default()).unwrap();
    // The technician stays signed in: the token moved into the key store.
    assert!(session::current_session(&ctx).await.unwrap().is_some());
    ctx.sync().sync_once().await.unwrap();
    assert_eq!(token_of(&ctx), old_token.trim());
    assert!(!data.join(fieldbook_sync::credentials::TOKEN_FILE).exists());
    assert_nothing_readable(&data, &texts, old_token.trim(), &images);
    assert_media_read_back(&ctx, &images);
    ctx.secrets().unwrap().forget_everything().unwrap();
}
