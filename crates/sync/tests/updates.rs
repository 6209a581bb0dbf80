//! App updates against the real server: ops publish a build signed the way
//! `cargo tauri signer sign --app-version` signs it; a device on the older
//! version finds it, downloads it (pausing and resuming with `Range`),
//! verifies it and says when installing is safe. A tampered artifact, a
//! signature from another key and a signature for another version are
//! refused and deleted.

mod common;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use common::{Device, TestServer};
use fieldbook_server::updates::{publish, PublishRequest, DEFAULT_TARGET};
use fieldbook_sync::updates::{
    check_for_update, download_update, install_readiness, may_download, update_target,
    DownloadOutcome, InstallReadiness, UpdateOptions, Updater,
};
use fieldbook_sync::{ConnectionState, SyncStatus};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A key pair as `cargo tauri signer generate` makes one: the public key
/// base64 of the minisign public key file (what `tauri.conf.json` holds).
struct SigningKey {
    pair: minisign::KeyPair,
    public_key: String,
}

impl SigningKey {
    fn generate() -> SigningKey {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let public_key = B64.encode(pair.pk.to_box().unwrap().to_string());
        SigningKey { pair, public_key }
    }

    /// The `.sig` file's content for `file` signed as `version`.
    fn sign(&self, file: &Path, version: &str) -> String {
        let name = file.file_name().unwrap().to_str().unwrap();
        let comment = format!("timestamp:1764460800\tfile:{name}\tversion:{version}");
        let signature = minisign::sign(
            None,
            &self.pair.sk,
            std::fs::File::open(file).unwrap(),
            Some(&comment),
            Some("signature from tauri secret key"),
        )
        .unwrap();
        B64.encode(signature.to_string())
    }
}

/// A pseudo-random artifact big enough for several download chunks.
fn artifact(dir: &Path, version: &str, len: usize) -> std::path::PathBuf {
    let path = dir.join(format!("Fieldbook_{version}_amd64.deb"));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_update_is_found_downloaded_resumed_and_verified() {
    let server = TestServer::start().await;
    let key = SigningKey::generate();
    let build = tempfile::tempdir().unwrap();
    let file = artifact(build.path(), "0.2.0", 3 * 1024 * 1024 + 17);
    let signature = key.sign(&file, "0.2.0");
    publish(
        server.data_dir(),
        &PublishRequest {
            target: DEFAULT_TARGET,
            file: &file,
            signature: &signature,
            version: "0.2.0",
            notes: Some("Faster photo uploads"),
        },
    )
    .unwrap();

    let http = http();
    let url = server.base_url();
    // Same and newer versions, and other targets, get 204.
    assert!(check_for_update(&http, &url, DEFAULT_TARGET, "0.2.0")
        .await
        .unwrap()
        .is_none());
    assert!(check_for_update(&http, &url, DEFAULT_TARGET, "0.3.0")
        .await
        .unwrap()
        .is_none());
    assert!(
        check_for_update(&http, &url, "windows-x86_64-nsis", "0.1.0")
            .await
            .unwrap()
            .is_none()
    );
    let manifest = check_for_update(&http, &url, DEFAULT_TARGET, "0.1.0")
        .await
        .unwrap()
        .expect("0.2.0 is offered to 0.1.0");
    assert_eq!(manifest.version, "0.2.0");
    assert_eq!(manifest.notes.as_deref(), Some("Faster photo uploads"));
    assert_eq!(manifest.signature, signature);
    assert!(
        manifest.url.starts_with(&url),
        "{} is on the server the device asked",
        manifest.url
    );
    // The manifest is the plugin's "dynamic" release format.
    let raw = serde_json::to_value(&manifest).unwrap();
    for field in ["version", "notes", "pub_date", "url", "signature"] {
        assert!(raw.get(field).is_some(), "{field} in {raw}");
    }

    // First attempt: the technician's upload starts after 1 MiB.
    let device_dir = tempfile::tempdir().unwrap();
    let downloads = device_dir.path().join("updates");
    let done_so_far = std::cell::Cell::new(0u64);
    let outcome = download_update(
        &http,
        &manifest,
        &key.public_key,
        &downloads,
        || done_so_far.get() < 1024 * 1024,
        |done, _| done_so_far.set(done),
    )
    .await
    .unwrap();
    let paused_at = match outcome {
        DownloadOutcome::Paused { bytes_done } => bytes_done,
        other => panic!("expected a pause, got {other:?}"),
    };
    assert!(paused_at > 0 && paused_at < manifest.size, "{paused_at}");

    // Then it resumes where it stopped, not from zero.
    let mut first_reported = None;
    let outcome = download_update(
        &http,
        &manifest,
        &key.public_key,
        &downloads,
        || true,
        |done, _| {
            first_reported.get_or_insert(done);
        },
    )
    .await
    .unwrap();
    assert_eq!(
        first_reported,
        Some(paused_at),
        "resumed from the part file"
    );
    let DownloadOutcome::Verified(path) = outcome else {
        panic!("expected the verified file, got {outcome:?}");
    };
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&file).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_artifact_or_signature_is_refused_and_deleted() {
    let server = TestServer::start().await;
    let key = SigningKey::generate();
    let build = tempfile::tempdir().unwrap();
    let file = artifact(build.path(), "0.2.0", 200_000);
    let signature = key.sign(&file, "0.2.0");
    publish(
        server.data_dir(),
        &PublishRequest {
            target: DEFAULT_TARGET,
            file: &file,
            signature: &signature,
            version: "0.2.0",
            notes: None,
        },
    )
    .unwrap();
    let http = http();
    let manifest = check_for_update(&http, &server.base_url(), DEFAULT_TARGET, "0.1.0")
        .await
        .unwrap()
        .unwrap();
    let device_dir = tempfile::tempdir().unwrap();
    let downloads = device_dir.path().join("updates");

    // Someone with access to the server's disk swaps one byte.
    let published = server
        .data_dir()
        .join("updates")
        .join(DEFAULT_TARGET)
        .join(file.file_name().unwrap());
    let mut bytes = std::fs::read(&published).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&published, &bytes).unwrap();
    let err = download_update(
        &http,
        &manifest,
        &key.public_key,
        &downloads,
        || true,
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "update_rejected", "{err}");
    assert_eq!(
        std::fs::read_dir(&downloads).unwrap().count(),
        0,
        "the refused file is deleted"
    );
    std::fs::write(&published, std::fs::read(&file).unwrap()).unwrap();

    // A signature made with another key (the server's disk, or a mirror,
    // cannot make one with the fleet's key).
    let intruder = SigningKey::generate();
    let mut forged = manifest.clone();
    forged.signature = intruder.sign(&file, "0.2.0");
    let err = download_update(
        &http,
        &forged,
        &key.public_key,
        &downloads,
        || true,
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "update_rejected", "{err}");

    // A genuine signature of an older build announced as a newer version.
    let mut relabelled = manifest.clone();
    relabelled.version = "0.9.0".into();
    relabelled.signature = key.sign(&file, "0.1.5");
    let err = download_update(
        &http,
        &relabelled,
        &key.public_key,
        &downloads,
        || true,
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("signed as version 0.1.5"), "{err}");

    // The untouched artifact with its own signature passes.
    let outcome = download_update(
        &http,
        &manifest,
        &key.public_key,
        &downloads,
        || true,
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, DownloadOutcome::Verified(_)),
        "{outcome:?}"
    );
}

#[test]
fn downloads_wait_for_the_technicians_uploads_and_installs_for_sent_work() {
    let idle_online = SyncStatus {
        connection: ConnectionState::Online,
        ..SyncStatus::default()
    };
    assert!(may_download(&idle_online));
    assert_eq!(install_readiness(&idle_online), InstallReadiness::Ready);

    let uploading = SyncStatus {
        phase: fieldbook_sync::SyncPhase::Uploading,
        pending_blobs: 2,
        ..idle_online.clone()
    };
    assert!(!may_download(&uploading));
    assert!(matches!(
        install_readiness(&uploading),
        InstallReadiness::Wait { .. }
    ));
    let photos_waiting = SyncStatus {
        pending_blobs: 1,
        ..idle_online.clone()
    };
    assert!(!may_download(&photos_waiting));
    let InstallReadiness::Wait { reason } = install_readiness(&photos_waiting) else {
        panic!("unsent photos block the install");
    };
    assert!(reason.contains("not reached the server"), "{reason}");
    let refused = SyncStatus {
        needs_attention: 1,
        ..idle_online.clone()
    };
    assert!(matches!(
        install_readiness(&refused),
        InstallReadiness::Wait { .. }
    ));
    let offline = SyncStatus {
        connection: ConnectionState::Offline,
        ..SyncStatus::default()
    };
    assert!(!may_download(&offline));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_updater_of_a_signed_in_device_gets_the_update_ready() {
    let server = TestServer::start().await;
    server.add_technician("tech");
    let key = SigningKey::generate();
    let build = tempfile::tempdir().unwrap();
    let file = artifact(build.path(), "0.2.0", 100_000);
    publish(
        server.data_dir(),
        &PublishRequest {
            target: &update_target("deb"),
            file: &file,
            signature: &key.sign(&file, "0.2.0"),
            version: "0.2.0",
            notes: None,
        },
    )
    .unwrap();
    let device = Device::signed_in(&server, "tech").await;
    let updater = Updater::new(
        device.engine.clone(),
        UpdateOptions {
            current_version: "0.1.0".into(),
            target: update_target("deb"),
            public_key: key.public_key.clone(),
            dir: device.data_dir().join("updates"),
            check_interval: Duration::from_secs(3600),
            pause_poll: Duration::from_millis(50),
        },
    );
    assert!(matches!(
        updater.install_readiness(),
        InstallReadiness::Wait { .. }
    ));
    let ready = updater.check_and_download().await.unwrap().unwrap();
    assert_eq!(ready.manifest.version, "0.2.0");
    assert_eq!(
        std::fs::read(&ready.path).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let status = updater.status();
    assert!(status.downloaded, "{status:?}");
    assert_eq!(status.available_version.as_deref(), Some("0.2.0"));
    assert_eq!(status.bytes_done, 100_000);
    assert_eq!(updater.install_readiness(), InstallReadiness::Ready);
}
