//! Photo import of a 12 MP JPEG (hash + store + oriented 320 px thumbnail)
//! against `vipsthumbnail -s 320` on the same file, in the same run.
//!
//! Target (issue 2): our import ≤ 0.6× vipsthumbnail's time.
//!
//! Every import gets new content (a counter in a JPEG comment segment), so
//! the dedupe path never short-circuits the write, fsync and rename; the blob
//! and thumbnail are removed between iterations outside the timed region.
//!
//! Media encryption at rest (issue 11): the same import into an encrypted
//! store, and a `media://`-style range read of a video (open, sniff the
//! first 8 KiB, seek, read the range) from a plain and an encrypted store;
//! best and median of the alternated runs, all in the same run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs;
use std::hint::black_box;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fieldbook_domain::Sha256Hex;
use fieldbook_media::{MediaKey, MediaStore};

const WIDTH: usize = 4000;
const HEIGHT: usize = 3000;
/// Runs averaged for the printed ratio (each side).
const RATIO_RUNS: u32 = 20;
/// The video the range reads come from, and the ranges: a seek's first
/// answer, and the most the `media://` protocol answers at once.
const VIDEO_BYTES: usize = 64 << 20;
const RANGE_RUNS: u32 = 21;

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
    encrypted: MediaStore,
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
        let encrypted =
            MediaStore::open_encrypted(dir.path().join("media-encrypted"), MediaKey::new([9; 32]))
                .unwrap();
        Bench {
            store: MediaStore::open(dir.path().join("media")).unwrap(),
            encrypted,
            dir: dir.path().to_path_buf(),
            _dir: dir,
            jpeg,
            vips_source,
            counter: 0,
        }
    }

    /// One timed import of fresh content; cleanup is not timed.
    fn timed_import(&mut self) -> Duration {
        self.timed_import_into(false)
    }

    /// [`Bench::timed_import`] into the plain or the encrypted store.
    fn timed_import_into(&mut self, encrypted: bool) -> Duration {
        self.counter += 1;
        let source = self.dir.join("import-source.jpg");
        fs::write(&source, variant(&self.jpeg, self.counter)).unwrap();
        let store = if encrypted {
            &self.encrypted
        } else {
            &self.store
        };
        let started = Instant::now();
        let imported = store.import_file(&source).unwrap();
        let elapsed = started.elapsed();
        assert!(!imported.already_present);
        fs::remove_file(store.blob_path(&imported.blob.sha256)).unwrap();
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

    // The ratios from plain means, alternating the sides so that load from
    // anything else on the machine hits them alike.
    bench.timed_import();
    bench.timed_import_into(true);
    bench.timed_vipsthumbnail();
    let (mut ours, mut sealed, mut vips) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RATIO_RUNS {
        ours.push(bench.timed_import());
        sealed.push(bench.timed_import_into(true));
        vips.push(bench.timed_vipsthumbnail());
    }
    let (ours, sealed, vips) = (Runs::of(ours), Runs::of(sealed), Runs::of(vips));
    println!("{RATIO_RUNS} runs each, alternated:");
    println!("photo import (hash + store + fsync + oriented 320 px thumbnail): {ours}");
    println!("photo import, media encrypted at rest:                           {sealed}");
    println!("vipsthumbnail -s 320 (process, same file):                        {vips}");
    println!(
        "ratio import / vipsthumbnail = {:.2} (target ≤ 0.60)",
        ours.mean.as_secs_f64() / vips.mean.as_secs_f64()
    );
    println!(
        "ratio encrypted import / vipsthumbnail = {:.2} (target ≤ 0.60); median {:.2}",
        sealed.mean.as_secs_f64() / vips.mean.as_secs_f64(),
        sealed.median.as_secs_f64() / vips.median.as_secs_f64()
    );
    println!(
        "ratio encrypted / plain import = {:.2} mean, {:.2} median, {:.2} best (target ≤ 1.30)",
        sealed.mean.as_secs_f64() / ours.mean.as_secs_f64(),
        sealed.median.as_secs_f64() / ours.median.as_secs_f64(),
        sealed.best.as_secs_f64() / ours.best.as_secs_f64()
    );
    range_reads(&bench);
}

/// Best, median and mean of some timed runs.
struct Runs {
    best: Duration,
    median: Duration,
    mean: Duration,
}

impl Runs {
    fn of(mut runs: Vec<Duration>) -> Runs {
        runs.sort();
        Runs {
            best: runs[0],
            median: runs[runs.len() / 2],
            mean: runs.iter().sum::<Duration>() / runs.len() as u32,
        }
    }
}

impl std::fmt::Display for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "best {:.2} ms, median {:.2} ms, mean {:.2} ms",
            ms(self.best),
            ms(self.median),
            ms(self.mean)
        )
    }
}

/// What the `media://` protocol does for one `Range` request: open the
/// blob, sniff its type from the first 8 KiB, seek, read the range.
fn timed_range_read(store: &MediaStore, sha256: &Sha256Hex, start: u64, len: u64) -> Duration {
    let started = Instant::now();
    let mut file = store.open_blob(sha256).unwrap();
    let mut head = Vec::new();
    (&mut file).take(8192).read_to_end(&mut head).unwrap();
    file.seek(SeekFrom::Start(start)).unwrap();
    let mut bytes = Vec::with_capacity(len as usize);
    (&mut file).take(len).read_to_end(&mut bytes).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(black_box(bytes).len() as u64, len);
    assert_eq!(black_box(head).len(), 8192);
    elapsed
}

fn range_reads(bench: &Bench) {
    let source = bench.dir.join("walkthrough.mp4");
    {
        let mut out = fs::File::create(&source).unwrap();
        out.write_all(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41")
            .unwrap();
        let mut chunk = vec![0u8; 1 << 20];
        common::PseudoRandom::new(7).fill(&mut chunk);
        for index in 0..(VIDEO_BYTES >> 20) as u64 {
            chunk[..8].copy_from_slice(&index.to_le_bytes());
            out.write_all(&chunk).unwrap();
        }
    }
    let plain = bench.store.import_file(&source).unwrap().blob.sha256;
    let sealed = bench.encrypted.import_file(&source).unwrap().blob.sha256;
    assert_eq!(plain, sealed);
    // Not a segment boundary: a seek lands anywhere.
    let middle = (VIDEO_BYTES / 2 + 12_345) as u64;
    for (what, start, len) in [
        ("1 MiB range in the middle", middle, 1 << 20),
        ("8 MiB range (the most one answer holds)", middle, 8 << 20),
        (
            "64 KiB range at the end",
            (VIDEO_BYTES - (64 << 10)) as u64,
            64 << 10,
        ),
    ] {
        // Warm (page cache) for both, then alternated.
        timed_range_read(&bench.store, &plain, start, len);
        timed_range_read(&bench.encrypted, &sealed, start, len);
        let (mut ours, mut encrypted) = (Vec::new(), Vec::new());
        for _ in 0..RANGE_RUNS {
            ours.push(timed_range_read(&bench.store, &plain, start, len));
            encrypted.push(timed_range_read(&bench.encrypted, &sealed, start, len));
        }
        let (ours, encrypted) = (Runs::of(ours), Runs::of(encrypted));
        println!("media:// {what} of a 64 MiB video, {RANGE_RUNS} runs each:");
        println!("  plain:     {ours}");
        println!("  encrypted: {encrypted}");
        println!(
            "  ratio encrypted / plain = {:.2} median, {:.2} best",
            encrypted.median.as_secs_f64() / ours.median.as_secs_f64(),
            encrypted.best.as_secs_f64() / ours.best.as_secs_f64()
        );
    }
    fs::remove_file(bench.store.blob_path(&plain)).unwrap();
    fs::remove_file(bench.encrypted.blob_path(&sealed)).unwrap();
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
