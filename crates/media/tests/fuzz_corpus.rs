//! Replays the committed seed corpora of the media fuzz targets
//! (`fuzz/corpus/photo_import`, `fuzz/corpus/media_url`) through the same
//! checks the targets run (crates/media/tests/fuzz/), on every `cargo test`.

use std::path::{Path, PathBuf};

use fieldbook_media::MediaStore;

#[path = "fuzz/media_url.rs"]
mod media_url;
#[path = "fuzz/photo_import.rs"]
mod photo_import;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
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
fn the_photo_import_seed_corpus_replays_cleanly() {
    let import = photo_import::PhotoImport::new();
    let seeds = seeds("photo_import");
    let accepted = seeds.iter().filter(|(_, data)| import.check(data)).count();
    // Whole photos of each format are accepted; the broken ones refused.
    assert!(seeds.len() >= 8, "{} seeds", seeds.len());
    assert!(accepted >= 3, "only {accepted} seeds imported");
    assert!(accepted < seeds.len(), "no seed was refused");
}

#[test]
fn the_media_url_seed_corpus_replays_cleanly() {
    let scratch = tempfile::tempdir().unwrap();
    let store = MediaStore::open(scratch.path().join("media")).unwrap();
    let seeds = seeds("media_url");
    let named = seeds
        .iter()
        .filter(|(_, data)| media_url::check(&store, data))
        .count();
    assert!(seeds.len() >= 8, "{} seeds", seeds.len());
    assert!(named >= 2, "only {named} seeds name a file");
    assert!(named < seeds.len(), "no seed was refused");
}
