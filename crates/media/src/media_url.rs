//! What a `media://` URL asks for, parsed without any knowledge of the
//! webview: the app's protocol handler (src-tauri/src/media_protocol.rs)
//! answers from it, and the `media_url` fuzz target feeds it anything.
//!
//! A URL names a file only by its SHA-256 (`/thumb/<sha256>`,
//! `/file/<sha256>`): no part of it ever becomes a path; the store builds the
//! path from the validated hash.

use fieldbook_domain::Sha256Hex;

/// The file a `media://` URL's path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaUrlTarget {
    /// The JPEG thumbnail of a photo.
    Thumbnail(Sha256Hex),
    /// The blob itself (photo, video or signature image).
    File(Sha256Hex),
}

/// Why a `media://` path names nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaUrlError {
    #[error("expected /thumb/<sha256> or /file/<sha256>")]
    NotAMediaPath,
    #[error("not a SHA-256 hash")]
    NotAHash,
    #[error("unknown media kind")]
    UnknownKind,
}

/// Parses the path of a `media://localhost/<kind>/<sha256>` URL.
pub fn parse_media_path(path: &str) -> Result<MediaUrlTarget, MediaUrlError> {
    let mut parts = path.trim_start_matches('/').split('/');
    let (kind, hash) = match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(hash), None) => (kind, hash),
        _ => return Err(MediaUrlError::NotAMediaPath),
    };
    let sha256 = hash
        .parse::<Sha256Hex>()
        .map_err(|_| MediaUrlError::NotAHash)?;
    match kind {
        "thumb" => Ok(MediaUrlTarget::Thumbnail(sha256)),
        "file" => Ok(MediaUrlTarget::File(sha256)),
        _ => Err(MediaUrlError::UnknownKind),
    }
}

/// One `bytes=` range of a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    From { start: u64, end: Option<u64> },
    Last(u64),
}

impl ByteRange {
    /// Inclusive bounds within a file of `total` bytes, if any byte is in it.
    pub fn resolve(self, total: u64) -> Option<(u64, u64)> {
        if total == 0 {
            return None;
        }
        match self {
            ByteRange::From { start, end } => {
                (start < total).then(|| (start, end.unwrap_or(u64::MAX).min(total - 1)))
            }
            ByteRange::Last(0) => None,
            ByteRange::Last(n) => Some((total.saturating_sub(n), total - 1)),
        }
    }
}

/// Parses a `Range` header; several ranges (or anything else) are answered
/// as if there were none, so `None`.
pub fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        return end.parse().ok().map(ByteRange::Last);
    }
    let start: u64 = start.parse().ok()?;
    let end = if end.is_empty() {
        None
    } else {
        Some(end.parse::<u64>().ok().filter(|end| *end >= start)?)
    };
    Some(ByteRange::From { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_file_only_by_a_valid_hash() {
        let sha = Sha256Hex::digest(b"photo");
        assert_eq!(
            parse_media_path(&format!("/file/{sha}")),
            Ok(MediaUrlTarget::File(sha.clone()))
        );
        assert_eq!(
            parse_media_path(&format!("/thumb/{sha}")),
            Ok(MediaUrlTarget::Thumbnail(sha.clone()))
        );
        assert_eq!(
            parse_media_path("/file/../secret.txt"),
            Err(MediaUrlError::NotAMediaPath)
        );
        assert_eq!(
            parse_media_path("/file/%2e%2e%2fsecret.txt"),
            Err(MediaUrlError::NotAHash)
        );
        assert_eq!(
            parse_media_path(&format!("/other/{sha}")),
            Err(MediaUrlError::UnknownKind)
        );
        assert_eq!(
            parse_media_path(&format!("/file/{}", "G".repeat(64))),
            Err(MediaUrlError::NotAHash)
        );
    }

    #[test]
    fn parses_only_single_byte_ranges() {
        assert_eq!(
            parse_range("bytes=0-99"),
            Some(ByteRange::From {
                start: 0,
                end: Some(99)
            })
        );
        assert_eq!(
            parse_range("bytes=5-"),
            Some(ByteRange::From {
                start: 5,
                end: None
            })
        );
        assert_eq!(parse_range("bytes=-7"), Some(ByteRange::Last(7)));
        assert_eq!(parse_range("bytes=9-3"), None);
        assert_eq!(parse_range("bytes=0-1,4-5"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(ByteRange::Last(50).resolve(10), Some((0, 9)));
        assert_eq!(
            ByteRange::From {
                start: 0,
                end: Some(500)
            }
            .resolve(10),
            Some((0, 9))
        );
    }
}
