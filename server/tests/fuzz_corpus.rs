//! Replays the committed seed corpora of the server's fuzz targets
//! (`fuzz/corpus/push_apply`, `fuzz/corpus/tus_headers`) through the same
//! checks the targets run (server/tests/fuzz/), on every `cargo test`.

use std::path::{Path, PathBuf};

#[path = "fuzz/push_apply.rs"]
mod push_apply;
#[path = "fuzz/tus_headers.rs"]
mod tus_headers;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("the committed seed corpus {}: {e}", corpus.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn the_push_apply_seed_corpus_replays_cleanly() {
    let world = push_apply::PushWorld::new();
    let seeds = seeds("push_apply");
    let mut decoded = 0;
    let mut applied = 0;
    for (path, data) in &seeds {
        let outcome = world.check(data);
        eprintln!("{}: {outcome:?} applied", path.display());
        if let Some(n) = outcome {
            decoded += 1;
            applied += n;
        }
    }
    // The seeds name the seeded installations, so they reach past the
    // sequence and scope checks into the lifecycle.
    assert!(seeds.len() >= 10, "{} seeds", seeds.len());
    assert!(
        decoded >= 8,
        "only {decoded} of {} seeds decode",
        seeds.len()
    );
    assert!(applied >= 8, "only {applied} mutations applied");
}

#[test]
fn the_tus_headers_seed_corpus_replays_cleanly() {
    let seeds = seeds("tus_headers");
    let mut accepted = 0;
    for (_, data) in &seeds {
        accepted += tus_headers::check(data).unwrap_or(0);
    }
    assert!(seeds.len() >= 8, "{} seeds", seeds.len());
    assert!(accepted >= 8, "only {accepted} headers accepted");
}
