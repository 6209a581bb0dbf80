//! The push handler's mutation application: a fuzzed push body applied by
//! the real server against a seeded database. The checks live in
//! server/tests/fuzz/push_apply.rs, shared with the corpus replay that
//! `cargo test` runs (server/tests/fuzz_corpus.rs).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../server/tests/fuzz/push_apply.rs"]
mod push_apply;

fuzz_target!(|data: &[u8]| {
    static WORLD: OnceLock<push_apply::PushWorld> = OnceLock::new();
    let world = WORLD.get_or_init(push_apply::PushWorld::new);
    let _ = world.check(data);
});
