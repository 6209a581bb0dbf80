//! The app's `media://` URL parsing (path and Range header). The checks
//! live in crates/media/tests/fuzz/media_url.rs, shared with the corpus
//! replay that `cargo test` runs (crates/media/tests/fuzz_corpus.rs).
#![no_main]

use std::sync::OnceLock;

use fieldbook_media::MediaStore;
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/media/tests/fuzz/media_url.rs"]
mod media_url;

fuzz_target!(|data: &[u8]| {
    static STORE: OnceLock<(tempfile::TempDir, MediaStore)> = OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let scratch = tempfile::tempdir().expect("a scratch directory");
        let store = MediaStore::open(scratch.path().join("media")).expect("a media store");
        (scratch, store)
    });
    let _ = media_url::check(store, data);
});
