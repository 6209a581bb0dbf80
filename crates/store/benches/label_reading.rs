//! What label reading costs the technician, now that it runs after the
//! import: the import of a 12 MP photo without label reading, the same
//! import with the background reader running (as the app does), the time
//! from "attach" to the serial offer on a label photo, and what the import
//! used to wait for (the uncapped search of a photo without a code).
//!
//! `cargo bench -p fieldbook-store --bench label_reading`
//! (`FIELDBOOK_BENCH_RUNS=N`, default 7). Every measurement is taken in each
//! round, alternating which store goes first, and printed as best / median.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fieldbook_demo::{generate, DemoConfig};
use fieldbook_media::label_codes::SearchDepth;
use fieldbook_store::{run_next_label_search, LabelsRead, Store, LABEL_SEARCH_BUDGET};
use fieldbook_testkit::sign_in_demo_technician;
use uuid::Uuid;

const W: u32 = 4032;
const H: u32 = 3024;

/// A signed-in store with a few jobs; returns it and a job of the technician's team.
fn store(dir: &Path) -> (Store, Uuid) {
    let demo = generate(&DemoConfig::new(
        20,
        2,
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
    ));
    let mut store = Store::open(dir).unwrap();
    let (_, teams) = sign_in_demo_technician(&mut store, &demo);
    let job = demo
        .assignments
        .iter()
        .find(|a| teams.contains(&a.team_id))
        .unwrap()
        .installation_id;
    (store, job)
}

/// A 12 MP phone-like photo of a wall and a charger, no code anywhere.
fn scene_jpeg(dir: &Path, seed: u32) -> PathBuf {
    let img = image::RgbImage::from_fn(W, H, |x, y| {
        let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed) % 23;
        let wall = (150 + (x / 50 + y / 70 + seed) % 40 + noise) as u8;
        let charger = (1500..2500).contains(&x) && (900..2200).contains(&y);
        if charger {
            image::Rgb([40 + (noise as u8), 45, 50])
        } else {
            image::Rgb([wall, wall.saturating_sub(12), wall.saturating_sub(30)])
        }
    });
    let path = dir.join(format!("scene-{seed}.jpg"));
    img.save(&path).unwrap();
    path
}

fn label_jpeg(dir: &Path, seed: u32) -> (PathBuf, String) {
    let serial = format!("WB-PLS-2026-{:07}", 4_217_800 + seed);
    let path = dir.join(format!("label-{seed}.jpg"));
    let jpeg = fieldbook_testkit::qr_label_jpeg(&format!("SN={serial};MODEL=Pulsar Plus"), W, H);
    std::fs::write(&path, jpeg).unwrap();
    (path, serial)
}

/// The app's import: the copy and checks without the store's lock, then the
/// record under it.
fn import(store: &Mutex<Store>, job: Uuid, path: &Path) -> (Duration, Uuid) {
    let started = Instant::now();
    let media = store.lock().unwrap().media_store().clone();
    let imported = media.import_file(path).unwrap();
    let attached = store
        .lock()
        .unwrap()
        .attach_imported_media(job, imported, "")
        .unwrap();
    (started.elapsed(), attached.id)
}

/// The app's background reader: searches every waiting photo when woken.
fn start_reader(store: &Arc<Mutex<Store>>) -> (mpsc::Sender<()>, mpsc::Receiver<LabelsRead>) {
    let (wake, woken) = mpsc::channel::<()>();
    let (done, reads) = mpsc::channel();
    let store = Arc::clone(store);
    std::thread::spawn(move || {
        while woken.recv().is_ok() {
            while let Some(read) = run_next_label_search(&store, LABEL_SEARCH_BUDGET).unwrap() {
                done.send(read).unwrap();
            }
        }
    });
    (wake, reads)
}

fn wait_for(reads: &mpsc::Receiver<LabelsRead>, media_id: Uuid) -> LabelsRead {
    loop {
        let read = reads.recv_timeout(Duration::from_secs(300)).unwrap();
        if read.media_id == media_id {
            return read;
        }
    }
}

fn report(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<58} best {:>8.1} ms   median {:>8.1} ms   (n={})",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        samples.len()
    );
}

fn main() {
    let runs: u32 = std::env::var("FIELDBOOK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let photos = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (plain, job_a) = store(dir_a.path());
    let plain = Mutex::new(plain);
    let (reading, job_b) = store(dir_b.path());
    let reading = Arc::new(Mutex::new(reading));
    let (wake, reads) = start_reader(&reading);

    let mut without = Vec::new();
    let mut with_reader = Vec::new();
    let mut label_import = Vec::new();
    let mut to_offer = Vec::new();
    let mut background = Vec::new();
    let mut old_wait = Vec::new();
    let mut capped_passes = Vec::new();
    let mut behind_scene = Vec::new();
    for run in 0..runs {
        let scene_a = scene_jpeg(photos.path(), 2 * run);
        let scene_b = scene_jpeg(photos.path(), 2 * run + 1);
        let (label, serial) = label_jpeg(photos.path(), run);
        let mut measure_without = || without.push(import(&plain, job_a, &scene_a).0);
        if run % 2 == 0 {
            measure_without();
        }
        // The same import with the reader on: it returns as before, the
        // search runs after it.
        let (took, media_id) = import(&reading, job_b, &scene_b);
        with_reader.push(took);
        let searching = Instant::now();
        wake.send(()).unwrap();
        wait_for(&reads, media_id);
        background.push(searching.elapsed());
        if run % 2 == 1 {
            measure_without();
        }

        // A label photo: from "attach" to the serial on offer.
        let started = Instant::now();
        let (took, media_id) = import(&reading, job_b, &label);
        label_import.push(took);
        wake.send(()).unwrap();
        let read = wait_for(&reads, media_id);
        to_offer.push(started.elapsed());
        assert_eq!(read.codes, 1, "the label photo's QR code was not read");
        let offers = reading.lock().unwrap().label_offers(job_b).unwrap();
        assert!(offers
            .iter()
            .any(|o| o.serial_number.as_deref() == Some(serial.as_str())));

        // A label photographed right after a code-less photo (both
        // attached, then the reader woken): the label's quick look comes
        // before the other photo's full search.
        let scene_c = scene_jpeg(photos.path(), 1000 + run);
        let (second_label, second_serial) = label_jpeg(photos.path(), 1000 + run);
        let started = Instant::now();
        import(&reading, job_b, &scene_c);
        let (_, media_id) = import(&reading, job_b, &second_label);
        wake.send(()).unwrap();
        wait_for(&reads, media_id);
        behind_scene.push(started.elapsed());
        let offers = reading.lock().unwrap().label_offers(job_b).unwrap();
        assert!(offers
            .iter()
            .any(|o| o.serial_number.as_deref() == Some(second_serial.as_str())));
        // Let the code-less photo's search finish before the next round.
        while reading
            .lock()
            .unwrap()
            .next_label_search()
            .unwrap()
            .is_some()
        {
            std::thread::sleep(Duration::from_millis(20));
        }

        // What the import used to wait for: every pass, no cap.
        let media = reading.lock().unwrap().media_store().clone();
        let sha = fieldbook_domain::Sha256Hex::digest(&std::fs::read(&scene_b).unwrap());
        let started = Instant::now();
        let search = media
            .search_label_codes(&sha, SearchDepth::Full, Duration::from_secs(3600))
            .unwrap();
        old_wait.push(started.elapsed());
        assert!(search.complete && search.codes.is_empty());
        let capped = media
            .search_label_codes(&sha, SearchDepth::Full, LABEL_SEARCH_BUDGET)
            .unwrap();
        capped_passes.push(capped.passes);
    }
    println!(
        "label reading, {W}×{H} JPEG photos, {runs} rounds (search cap {LABEL_SEARCH_BUDGET:?}):"
    );
    report("import, no label reading", &mut without);
    report(
        "import, background label reader on (code-less photo)",
        &mut with_reader,
    );
    report(
        "import, background label reader on (label photo)",
        &mut label_import,
    );
    report("attach label photo -> serial offered", &mut to_offer);
    report(
        "attach code-less + label photo -> serial offered",
        &mut behind_scene,
    );
    report(
        "background search of a code-less photo (capped)",
        &mut background,
    );
    report(
        "uncapped search of a code-less photo (old import wait)",
        &mut old_wait,
    );
    capped_passes.sort();
    println!("passes run by the capped search of a code-less photo: {capped_passes:?}");
}
