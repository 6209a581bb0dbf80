//! Photo import of a 12 MP JPEG (hash + store + oriented 320 px thumbnail)
//! against `vipsthumbnail -s 320` on the same file, in the same run.
//!
//! Target (issue 2): our import ≤ 0.6× vipsthumbnail's time.
//!
//! Every import gets new content (a counter in a JPEG comment segment), so
//! the dedupe path never short-circuits the write, fsync and rename; the blob
//! and thumbnail are removed between iterations outside the timed region.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fieldbook_media::MediaStore;

const WIDTH: usize = 4000;
const HEIGHT: usize = 3000;
/// Runs averaged for the printed ratio (each side).
const RATIO_RUNS: u32 = 20;

/// A 12 MP camera-like JPEG: quality 90, 4:2:0, EXIF orientation 6 (portrait
/// shot), gradients plus noise so it is megabytes like a real photo.
fn camera_jpeg() -> Vec<u8> {
    let image = common::photo_like_rgb(WIDTH as u32, HEIGHT as u32, 2024);
    let mut compressor = turbojpeg::Compressor::new().unwrap();
    compressor.set_quality(90).unwrap();
    compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap();
    let jpeg = compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: image.as_raw().as_slice(),
            width: WIDTH,
            pitch: WIDTH * 3,
            height: HEIGHT,
            format: turbojpeg::PixelFormat::RGB,
        })
        .unwrap();
    common::with_exif_orientation(&jpeg, 6)
}

/// The same photo with a comment segment holding `counter`, so its hash differs.
fn variant(jpeg: &[u8], counter: u64) -> Vec<u8> {
    let comment = counter.to_be_bytes();
    let mut out = Vec::with_capacity(jpeg.len() + 12);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&(2 + comment.len() as u16).to_be_bytes());
    out.extend_from_slice(&comment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

struct Bench {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    store: MediaStore,
    jpeg: Vec<u8>,
    vips_source: PathBuf,
    counter: u64,
}

impl Bench {
    fn new() -> Self {
        // On the target dir's disk, not a tmpfs: fsync must cost what it costs.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let jpeg = camera_jpeg();
        let vips_source = dir.path().join("camera.jpg");
        fs::write(&vips_source, &jpeg).unwrap();
        Bench {
            store: MediaStore::open(dir.path().join("media")).unwrap(),
            dir: dir.path().to_path_buf(),
            _dir: dir,
            jpeg,
            vips_source,
            counter: 0,
        }
    }

    /// One timed import of fresh content; cleanup is not timed.
    fn timed_import(&mut self) -> Duration {
        self.counter += 1;
        let source = self.dir.join("import-source.jpg");
        fs::write(&source, variant(&self.jpeg, self.counter)).unwrap();
        let started = Instant::now();
        let imported = self.store.import_file(&source).unwrap();
        let elapsed = started.elapsed();
        assert!(!imported.already_present);
        fs::remove_file(self.store.blob_path(&imported.blob.sha256)).unwrap();
        fs::remove_file(imported.thumbnail.unwrap()).unwrap();
        elapsed
    }

    fn timed_vipsthumbnail(&self) -> Duration {
        let output = self.dir.join("vips-thumb.jpg");
        let started = Instant::now();
        let status = Command::new("vipsthumbnail")
            .arg("-s")
            .arg("320")
            .arg("-o")
            .arg(&output)
            .arg(&self.vips_source)
            .status()
            .expect("vipsthumbnail (libvips-tools) must be installed");
        let elapsed = started.elapsed();
        assert!(status.success(), "vipsthumbnail failed");
        elapsed
    }
}

fn photo_import(c: &mut Criterion) {
    let mut bench = Bench::new();
    println!(
        "12 MP JPEG: {}×{}, {:.2} MiB, EXIF orientation 6",
        WIDTH,
        HEIGHT,
        bench.jpeg.len() as f64 / (1 << 20) as f64
    );
    check_vips_output(&mut bench);

    let mut group = c.benchmark_group("photo_import_12mp");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("fieldbook_import", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bench.timed_import()).sum())
    });
    group.bench_function("vipsthumbnail_s320", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bench.timed_vipsthumbnail()).sum())
    });
    group.finish();

    // The ratio from plain means, alternating the two so that load from
    // anything else on the machine hits both sides alike.
    bench.timed_import();
    bench.timed_vipsthumbnail();
    let (mut ours, mut vips) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..RATIO_RUNS {
        ours += bench.timed_import();
        vips += bench.timed_vipsthumbnail();
    }
    let (ours, vips) = (ours / RATIO_RUNS, vips / RATIO_RUNS);
    println!(
        "photo import (hash + store + fsync + oriented 320 px thumbnail): {:.1} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "vipsthumbnail -s 320 (process, same file):                        {:.1} ms",
        vips.as_secs_f64() * 1e3
    );
    println!(
        "ratio import / vipsthumbnail = {:.2} (target ≤ 0.60)",
        ours.as_secs_f64() / vips.as_secs_f64()
    );
}

/// Sanity check that both sides do the same job: vips also honours the EXIF
/// orientation, so both thumbnails are portrait 240×320.
fn check_vips_output(bench: &mut Bench) {
    bench.timed_vipsthumbnail();
    let vips = image::open(bench.dir.join("vips-thumb.jpg")).unwrap();
    let ours = bench.store.import_file(&bench.vips_source).unwrap();
    let ours_thumb = image::open(ours.thumbnail.as_ref().unwrap()).unwrap();
    assert_eq!((vips.width(), vips.height()), (240, 320));
    assert_eq!((ours_thumb.width(), ours_thumb.height()), (240, 320));
    assert_eq!((ours.width, ours.height), (Some(3000), Some(4000)));
}

criterion_group!(benches, photo_import);
criterion_main!(benches);
