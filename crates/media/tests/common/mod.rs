//! Fixtures generated in code (no binaries committed) and store inspection helpers.
//! Each test binary uses a subset.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageEncoder, RgbImage};

/// Deterministic pseudo-random bytes (xorshift64*), fast enough for gigabytes.
pub struct PseudoRandom(u64);

impl PseudoRandom {
    pub fn new(seed: u64) -> Self {
        PseudoRandom(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A photo-like image: smooth gradients plus sensor-like noise, so it neither
/// compresses to nothing nor is pure noise.
pub fn photo_like_rgb(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut noise = PseudoRandom::new(seed);
    RgbImage::from_fn(width, height, |x, y| {
        let n = noise.next_u64();
        let jitter = |shift: u32| ((n >> shift) & 0x1F) as i32 - 16;
        let gx = (x * 255 / width.max(1)) as i32;
        let gy = (y * 255 / height.max(1)) as i32;
        let channel = |base: i32, shift: u32| (base + jitter(shift)).clamp(0, 255) as u8;
        image::Rgb([channel(gx, 0), channel(gy, 8), channel((gx + gy) / 2, 16)])
    })
}

/// Left half red, right half blue: orientation is visible in a thumbnail.
pub fn red_left_blue_right(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 20, 220])
        }
    })
}

pub fn jpeg_bytes(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .expect("encode JPEG");
    out
}

pub fn png_bytes(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .expect("encode PNG");
    out
}

/// Inserts an EXIF APP1 segment carrying only `orientation` right after SOI.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "not a JPEG");
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2A"); // big-endian TIFF header
    tiff.extend_from_slice(&8u32.to_be_bytes()); // first IFD right after it
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // tag: Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // type: SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD

    let segment_len = u16::try_from(2 + 6 + tiff.len()).unwrap();
    let mut out = Vec::with_capacity(jpeg.len() + tiff.len() + 10);
    out.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE1]);
    out.extend_from_slice(&segment_len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write fixture");
    path
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Blob files in the store (everything except `tmp/` and `thumbs/`).
pub fn blob_files(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|p| !p.starts_with(root.join("tmp")) && !p.starts_with(root.join("thumbs")))
        .collect()
}

/// Asserts a refused import left nothing behind: no temp file, blob or thumbnail.
pub fn assert_store_empty(root: &Path) {
    let leftovers = files_under(root);
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// Peak resident set size of this process so far (Linux `VmHWM`).
pub fn peak_rss_bytes() -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}
