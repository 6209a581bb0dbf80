//! The device's disk fills up while the technician works: importing a photo,
//! autosaving a report draft and applying a pull page each meet a full disk
//! (a small tmpfs, see no_space/disk.rs). Each must refuse with a clear
//! `disk_full` error, leave nothing half-written (no file, row, outbox
//! entry or cursor move of the failed step, the earlier state intact), and
//! succeed when it is simply tried again once space is back.

mod common;
#[path = "no_space/disk.rs"]
mod disk;

use std::path::Path;

use chrono::Utc;
use common::{t0, v, Fixture};
use fieldbook_domain::{
    InstallationAssignment, InstallationId, InstallationStatus, ReportDraft, Survey,
};
use fieldbook_store::{ServerBatch, Store, StoreError};
use uuid::Uuid;

/// A few MiB: the store, a photo and a pull page fit with room to spare.
const DISK_MIB: u32 = 16;

fn assert_full_disk_refusal(disk: &disk::Disk, e: &StoreError) {
    assert!(
        disk.full_codes().contains(&e.code()),
        "refused with {} ({e}), not as a full disk",
        e.code()
    );
    if e.code() == "disk_full" {
        let message = e.to_string();
        assert!(message.contains("disk is full") || message.contains("disk is not full"));
        assert!(message.contains("free some space") || message.contains("Check that the disk"));
    }
}

/// Files under the media store's blob shards (neither temp files nor thumbnails).
fn blob_files(store: &Store) -> Vec<String> {
    let root = store.media_store().root();
    let mut files = Vec::new();
    for shard in std::fs::read_dir(root).unwrap() {
        let shard = shard.unwrap().path();
        let name = shard.file_name().unwrap().to_string_lossy().into_owned();
        if name == "thumbs" || name == "tmp" || !shard.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&shard).unwrap() {
            files.push(file.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    files
}

fn temp_files(store: &Store) -> usize {
    std::fs::read_dir(store.media_store().root().join("tmp"))
        .unwrap()
        .count()
}

fn write_photo(dir: &Path) -> std::path::PathBuf {
    let image = image::RgbImage::from_fn(400, 300, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 13 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let path = dir.join("IMG_0001.png");
    image.save(&path).unwrap();
    path
}

#[test]
fn importing_a_photo_on_a_full_disk_fails_cleanly_and_works_once_space_returns() {
    let Some(mut disk) = disk::child_disk() else {
        disk::run_on_small_disk(
            "importing_a_photo_on_a_full_disk_fails_cleanly_and_works_once_space_returns",
            DISK_MIB,
        );
        return;
    };
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let photo = write_photo(disk.dir());

    disk.fill();
    let e = f
        .store
        .attach_media(job.id, &photo, "Charger on the wall")
        .expect_err("no space for the photo");
    assert_full_disk_refusal(&disk, &e);
    assert!(f.store.get_installation(job.id).unwrap().media.is_empty());
    assert!(f.store.pending_outbox(usize::MAX).unwrap().is_empty());
    assert!(f.store.blobs_pending_upload(usize::MAX).unwrap().is_empty());
    assert_eq!(blob_files(&f.store), Vec::<String>::new(), "no blob kept");
    assert_eq!(temp_files(&f.store), 0, "no temp file left");

    disk.free();
    let media = f
        .store
        .attach_media(job.id, &photo, "Charger on the wall")
        .expect("the photo imports once space is back");
    assert_eq!(f.store.get_installation(job.id).unwrap().media.len(), 1);
    assert_eq!(f.store.pending_outbox(usize::MAX).unwrap().len(), 1);
    assert_eq!(blob_files(&f.store), vec![media.file.sha256.to_string()]);
    eprintln!(
        "photo import on a full disk ({:?}): refused with {}",
        disk.mode,
        e.code()
    );
}

#[test]
fn autosaving_a_draft_on_a_full_disk_keeps_the_last_saved_one_and_saves_once_space_returns() {
    let Some(mut disk) = disk::child_disk() else {
        disk::run_on_small_disk(
            "autosaving_a_draft_on_a_full_disk_keeps_the_last_saved_one_and_saves_once_space_returns",
            DISK_MIB,
        );
        return;
    };
    let mut f = Fixture::new();
    let job = f.add_job(InstallationStatus::InProgress, "Ada Lovelace");
    let mut draft = ReportDraft::new(job.id, Utc::now());
    draft.charger_serial_number = "SN-1".into();
    draft.general_notes = "Cable run along the garage wall.".into();
    f.store.save_report_draft(&draft).unwrap();
    let saved = f.store.get_installation(job.id).unwrap().report_draft;

    disk.fill();
    let mut typed = draft.clone();
    typed.charger_serial_number = "SN-2".into();
    // A long note: the save needs new pages, not only a rewritten one.
    typed.general_notes = "Customer asked for the charger to be moved. ".repeat(80);
    let e = f
        .store
        .save_report_draft(&typed)
        .expect_err("no space for the draft");
    assert_full_disk_refusal(&disk, &e);
    assert_eq!(
        f.store.get_installation(job.id).unwrap().report_draft,
        saved,
        "the last saved draft is intact"
    );

    disk.free();
    f.store
        .save_report_draft(&typed)
        .expect("the draft saves once space is back");
    let now = f
        .store
        .get_installation(job.id)
        .unwrap()
        .report_draft
        .unwrap();
    assert_eq!(now.charger_serial_number, "SN-2");
    assert_eq!(now.general_notes, typed.general_notes);
    eprintln!(
        "draft autosave on a full disk ({:?}): refused with {}",
        disk.mode,
        e.code()
    );
}

/// A pull page of `jobs` new installations for the fixture's team.
fn page_of_new_jobs(f: &Fixture, jobs: u32, cursor: i64) -> ServerBatch {
    let mut page = ServerBatch {
        scope: "installations".into(),
        cursor,
        ..Default::default()
    };
    for n in 0..jobs {
        let lead = fieldbook_domain::Lead {
            id: Uuid::new_v4(),
            customer_name: format!("Customer {n}"),
            phone: "+44 20 7946 0000".into(),
            email: format!("customer{n}@example.com"),
            address_line1: format!("{n} Acacia Avenue"),
            address_line2: String::new(),
            city: "Leeds".into(),
            postcode: "LS1 4AB".into(),
            latitude: Some(53.8),
            longitude: Some(-1.55),
            installer_notes: "Garage on the left. ".repeat(10),
        };
        let survey = Survey {
            id: Uuid::new_v4(),
            lead_id: lead.id,
            approved_at: t0(),
            surveyor_notes: "Wall is brick".into(),
            recommended_charger_model: "Zappi 7kW".into(),
            main_fuse_amps: 100,
            supply_capacity_kva: 23.0,
            cable_run_length_m: 8.5,
            photos_count: 4,
        };
        let installation = fieldbook_domain::Installation {
            id: Uuid::new_v4(),
            installation_id: InstallationId::new(2026, 5000 + n).unwrap(),
            survey_id: survey.id,
            lead_id: lead.id,
            scheduled_date: common::day(2),
            scheduled_time_slot: fieldbook_domain::TimeSlot::Morning,
            status: InstallationStatus::Confirmed,
            material_ready: true,
            customer_confirmed: false,
            demo_completed: false,
            created_by: f.ops.id,
            created_at: t0(),
            updated_at: t0(),
            status_reason: None,
            ops_review_note: None,
            report_template_id: None,
        };
        let assignment = InstallationAssignment {
            id: Uuid::new_v4(),
            installation_id: installation.id,
            team_id: f.team.id,
            assigned_by: f.ops.id,
            is_primary: true,
            assigned_at: t0(),
            status: fieldbook_domain::AssignmentStatus::Assigned,
            decline_reason: None,
            responded_at: None,
        };
        page.leads.push(v(lead, cursor));
        page.surveys.push(v(survey, cursor));
        page.installations.push(v(installation, cursor));
        page.assignments.push(v(assignment, cursor));
    }
    page
}

#[test]
fn applying_a_pull_page_on_a_full_disk_keeps_none_of_it_and_applies_once_space_returns() {
    let Some(mut disk) = disk::child_disk() else {
        disk::run_on_small_disk(
            "applying_a_pull_page_on_a_full_disk_keeps_none_of_it_and_applies_once_space_returns",
            DISK_MIB,
        );
        return;
    };
    let mut f = Fixture::new();
    f.add_job(InstallationStatus::Confirmed, "Ada Lovelace");
    let cursor_before = f.store.sync_cursor("installations").unwrap();
    let all = fieldbook_store::InstallationQuery {
        limit: 1000,
        ..Default::default()
    };
    let jobs_before = f.store.list_installations(&all).unwrap().len();
    let page = page_of_new_jobs(&f, 200, 1_000);

    disk.fill();
    let e = f
        .store
        .apply_server_batch(&page)
        .expect_err("no space for the page");
    assert_full_disk_refusal(&disk, &e);
    assert_eq!(f.store.sync_cursor("installations").unwrap(), cursor_before);
    assert_eq!(
        f.store.list_installations(&all).unwrap().len(),
        jobs_before,
        "nothing of the page kept"
    );

    disk.free();
    f.store
        .apply_server_batch(&page)
        .expect("the page applies once space is back");
    assert_eq!(f.store.sync_cursor("installations").unwrap(), Some(1_000));
    assert_eq!(
        f.store.list_installations(&all).unwrap().len(),
        jobs_before + 200
    );
    let raw = f.raw_connection();
    let integrity: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    eprintln!(
        "pull page on a full disk ({:?}): refused with {}",
        disk.mode,
        e.code()
    );
}
