//! The tus headers a client controls (Upload-Offset, Upload-Length,
//! Upload-Checksum, Upload-Metadata), parsed by the server's parsers. The
//! checks live in server/tests/fuzz/tus_headers.rs, shared with the corpus
//! replay that `cargo test` runs (server/tests/fuzz_corpus.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../server/tests/fuzz/tus_headers.rs"]
mod tus_headers;

fuzz_target!(|data: &[u8]| {
    let _ = tus_headers::check(data);
});
