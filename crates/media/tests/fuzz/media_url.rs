//! What the `media_url` fuzz target checks, shared with its corpus replay
//! (`crates/media/tests/fuzz_corpus.rs`): the path and `Range` header of a
//! `media://` request as the page sends them. An input is UTF-8 text: the
//! URL path on the first line, the `Range` header on the second, and the
//! file's size (decimal) on the third.
//!
//! Nothing may panic; a path names a file only by a valid hash, and the
//! file's path is then always inside the media store; a resolved range lies
//! inside the file.

use std::path::Component;

use fieldbook_media::media_url::{parse_media_path, parse_range, MediaUrlTarget};
use fieldbook_media::MediaStore;

/// Whether the path named a file of `store`.
pub fn check(store: &MediaStore, data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or("");
    let range = lines.next();
    let total: u64 = lines
        .next()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1000);

    if let Some(range) = range.and_then(parse_range) {
        if let Some((start, end)) = range.resolve(total) {
            assert!(
                start <= end && end < total,
                "{range:?} of {total}: {start}-{end}"
            );
        }
    }
    let Ok(target) = parse_media_path(path) else {
        return false;
    };
    let sha256 = match &target {
        MediaUrlTarget::Thumbnail(sha256) | MediaUrlTarget::File(sha256) => sha256,
    };
    assert!(path.ends_with(sha256.as_str()), "{path:?} names {sha256}");
    let file = store.blob_path(sha256);
    assert!(file.starts_with(store.root()));
    assert!(file.strip_prefix(store.root()).is_ok_and(|inside| inside
        .components()
        .all(|c| matches!(c, Component::Normal(_)))));
    true
}
