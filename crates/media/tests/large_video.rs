//! A 1 GiB video imports with flat memory. Own test binary (own process) so
//! the peak RSS measured is this import's alone.

mod common;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::time::Instant;

use common::*;
use fieldbook_domain::MediaType;
use fieldbook_media::MediaStore;
use sha2::{Digest, Sha256};

const PAYLOAD_BYTES: u64 = 1 << 30;

#[test]
fn one_gib_video_imports_with_flat_memory_and_complete_progress() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("site-walkthrough.mp4");

    // An MP4-looking file: a valid `ftyp` box, then 1 GiB of pseudo-random
    // data written 1 MiB at a time (the test never holds it in memory either).
    // One random chunk with a per-chunk counter keeps generation fast while
    // no two chunks are alike.
    let mut expected = Sha256::new();
    {
        let mut out = BufWriter::new(File::create(&source).unwrap());
        let ftyp = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";
        out.write_all(ftyp).unwrap();
        expected.update(ftyp);
        let mut chunk = vec![0u8; 1 << 20];
        PseudoRandom::new(42).fill(&mut chunk);
        for index in 0..PAYLOAD_BYTES / chunk.len() as u64 {
            chunk[..8].copy_from_slice(&index.to_le_bytes());
            out.write_all(&chunk).unwrap();
            expected.update(&chunk);
        }
        out.flush().unwrap();
    }
    let total_size = std::fs::metadata(&source).unwrap().len();
    let expected_sha = hex_lower(&expected.finalize());

    let store = MediaStore::open(dir.path().join("media")).unwrap();
    let peak_before = peak_rss_bytes();
    let mut progress: Vec<(u64, u64)> = Vec::new();
    let started = Instant::now();

    let imported = store
        .import_file_with_progress(&source, &mut |done, total| progress.push((done, total)))
        .unwrap();

    let elapsed = started.elapsed();
    let growth = peak_rss_bytes().saturating_sub(peak_before);
    eprintln!(
        "1 GiB video import: {elapsed:?}, peak RSS growth {} MiB, {} progress calls",
        growth >> 20,
        progress.len()
    );
    assert!(
        growth < 64 << 20,
        "peak RSS grew by {} MiB importing a 1 GiB video",
        growth >> 20
    );

    assert_eq!(imported.media_type, MediaType::Video);
    assert_eq!(imported.blob.mime, "video/mp4");
    assert_eq!(imported.blob.size, total_size);
    assert_eq!(imported.blob.sha256.as_str(), expected_sha);
    assert_eq!(imported.thumbnail, None);
    assert!(!imported.already_present);

    assert!(progress.len() > 100, "progress reported in chunks");
    assert!(
        progress.windows(2).all(|w| w[0].0 < w[1].0),
        "progress is strictly increasing"
    );
    assert!(progress.iter().all(|&(done, total)| done <= total));
    assert_eq!(progress.last(), Some(&(total_size, total_size)));

    // The stored blob is the same bytes: compare its hash, streaming.
    let blob_path = store.blob_path(&imported.blob.sha256);
    assert_eq!(std::fs::metadata(&blob_path).unwrap().len(), total_size);
    let mut stored = Sha256::new();
    let mut blob = File::open(&blob_path).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let read = blob.read(&mut chunk).unwrap();
        if read == 0 {
            break;
        }
        stored.update(&chunk[..read]);
    }
    assert_eq!(hex_lower(&stored.finalize()), expected_sha);
    assert!(files_under(&store.root().join("tmp")).is_empty());
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
