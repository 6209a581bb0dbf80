//! Image import: any bytes imported as a photo or video (decode limits,
//! EXIF, huge dimensions, truncated files). The checks live in
//! crates/media/tests/fuzz/photo_import.rs, shared with the corpus replay
//! that `cargo test` runs (crates/media/tests/fuzz_corpus.rs).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/media/tests/fuzz/photo_import.rs"]
mod photo_import;

fuzz_target!(|data: &[u8]| {
    static STORE: OnceLock<photo_import::PhotoImport> = OnceLock::new();
    let store = STORE.get_or_init(photo_import::PhotoImport::new);
    let _ = store.check(data);
});
