//! What the `photo_import` fuzz target checks, shared with its corpus replay
//! (`crates/media/tests/fuzz_corpus.rs`): any bytes imported as a photo or
//! video (truncated files, lying headers, huge declared dimensions, broken
//! EXIF) through the same path as a signature or a picked file.
//!
//! Nothing may panic. An import that succeeds stored exactly the input
//! under its hash, within the size limits, with a thumbnail for a photo; an
//! import that fails says why with a known code and leaves no file behind.

use std::path::Path;

use fieldbook_domain::{MediaType, Sha256Hex};
use fieldbook_media::{MediaStore, MAX_IMAGE_SIDE, THUMBNAIL_MAX_SIDE};

/// A media store in a scratch directory (on a RAM file system where there
/// is one: every import fsyncs).
pub struct PhotoImport {
    _scratch: tempfile::TempDir,
    store: MediaStore,
}

impl PhotoImport {
    pub fn new() -> PhotoImport {
        let scratch = match Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm"),
            false => tempfile::tempdir(),
        }
        .expect("a scratch directory");
        let store = MediaStore::open(scratch.path().join("media")).expect("a media store");
        PhotoImport {
            _scratch: scratch,
            store,
        }
    }

    /// Imports one input; whether it was accepted.
    pub fn check(&self, data: &[u8]) -> bool {
        let sha256 = Sha256Hex::digest(data);
        let accepted = match self.store.import_bytes(data) {
            Ok(imported) => {
                assert_eq!(imported.blob.sha256, sha256);
                assert_eq!(imported.blob.size, data.len() as u64);
                let stored = std::fs::read(self.store.blob_path(&sha256)).expect("the blob");
                assert!(stored == data, "the stored blob is the input");
                if imported.media_type == MediaType::Photo {
                    let (width, height) = (imported.width.unwrap(), imported.height.unwrap());
                    assert!(width > 0 && height > 0, "{width}x{height}");
                    assert!(width <= MAX_IMAGE_SIDE && height <= MAX_IMAGE_SIDE);
                    let thumbnail = imported.thumbnail.expect("a photo has a thumbnail");
                    let thumb = image::open(&thumbnail).expect("the thumbnail decodes");
                    assert!(thumb.width().max(thumb.height()) <= THUMBNAIL_MAX_SIDE);
                    std::fs::remove_file(thumbnail).expect("thumbnail removed");
                }
                // Keep the store empty so the next input is judged alone.
                std::fs::remove_file(self.store.blob_path(&sha256)).expect("blob removed");
                true
            }
            Err(e) => {
                let code = e.code();
                assert!(
                    matches!(
                        code,
                        "empty_file"
                            | "not_media"
                            | "unsupported_photo_format"
                            | "corrupt_image"
                            | "image_too_large"
                    ),
                    "unexpected refusal {code}: {e}"
                );
                assert!(!self.store.contains(&sha256), "a refused file was stored");
                false
            }
        };
        let leftovers = std::fs::read_dir(self.store.root().join("tmp"))
            .expect("the temp directory")
            .count();
        assert_eq!(leftovers, 0, "temp files left behind");
        accepted
    }
}
