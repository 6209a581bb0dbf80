//! Decompression bombs are refused from their headers, before any pixel buffer
//! is allocated. Own test binary (own process) so peak RSS measures only this.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use fieldbook_media::{MediaError, MediaStore};

/// A genuine PNG, valid to the last byte: 12000×12000 RGBA of zeros is 549 MiB
/// decoded (over the 512 MiB budget) but well under a megabyte on disk.
/// Streamed row by row so generating it does not allocate it either.
fn real_png_bomb() -> Vec<u8> {
    const SIDE: u32 = 12_000;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIDE, SIDE);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let row = vec![0u8; SIDE as usize * 4];
    for _ in 0..SIDE {
        stream.write_all(&row).unwrap();
    }
    stream.finish().unwrap();
    writer.finish().unwrap();
    out
}

/// A PNG whose header claims 100000×100000 pixels (40 GB RGBA) and has no data.
fn png_header_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 100_000, 100_000);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    // Writes the signature and IHDR; dropping the writer ends the file.
    drop(encoder.write_header().unwrap());
    out
}

/// Patches the frame header (SOF0/SOF2) of a real JPEG to claim other dimensions.
fn jpeg_claiming(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out
        .windows(2)
        .position(|w| w[0] == 0xFF && (w[1] == 0xC0 || w[1] == 0xC2))
        .expect("JPEG has a frame header");
    // FF Cx, length (2), precision (1), height (2), width (2)
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

fn progressive_jpeg() -> Vec<u8> {
    let image = photo_like_rgb(64, 64, 1);
    let mut compressor = turbojpeg::Compressor::new().unwrap();
    compressor.set_progressive(true).unwrap();
    compressor.set_quality(85).unwrap();
    compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: image.as_raw().as_slice(),
            width: 64,
            pitch: 64 * 3,
            height: 64,
            format: turbojpeg::PixelFormat::RGB,
        })
        .unwrap()
}

#[test]
fn bombs_are_refused_quickly_without_allocating_their_pixels() {
    // Build every bomb first so their (small) construction is not measured.
    let baseline_jpeg = jpeg_bytes(&photo_like_rgb(64, 64, 2), 85);
    let bombs: Vec<(&str, Vec<u8>)> = vec![
        ("real 12000×12000 PNG", real_png_bomb()),
        ("PNG header claiming 100000×100000", png_header_bomb()),
        (
            "baseline JPEG claiming 60000×60000",
            jpeg_claiming(&baseline_jpeg, 60_000, 60_000),
        ),
        (
            "progressive JPEG claiming 16000×16000",
            jpeg_claiming(&progressive_jpeg(), 16_000, 16_000),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let store = MediaStore::open(dir.path().join("media")).unwrap();
    let peak_before = peak_rss_bytes();

    for (name, bytes) in &bombs {
        assert!(
            bytes.len() < 2 << 20,
            "{name} should be small on disk, is {} bytes",
            bytes.len()
        );
        let source = write_file(dir.path(), "bomb.png", bytes);
        let started = Instant::now();

        let error = store.import_file(&source).unwrap_err();

        let elapsed = started.elapsed();
        assert!(
            matches!(error, MediaError::ImageTooLarge { .. }),
            "{name}: expected image_too_large, got {}: {error}",
            error.code()
        );
        assert!(error.to_string().contains("too large"), "{name}: {error}");
        assert!(elapsed < Duration::from_secs(1), "{name} took {elapsed:?}");
        assert_store_empty(store.root());
    }

    let growth = peak_rss_bytes().saturating_sub(peak_before);
    assert!(
        growth < 64 << 20,
        "peak RSS grew by {} MiB while refusing bombs",
        growth >> 20
    );
}
