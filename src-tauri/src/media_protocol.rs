//! The `media://` URI scheme: photos, videos, thumbnails and signatures from
//! the content-addressed media store, named only by their SHA-256
//! (`media://localhost/thumb/<sha256>`, `media://localhost/file/<sha256>`;
//! `http://media.localhost/...` on Windows). No path from the page ever
//! reaches the file system: the hash is validated and the store builds the
//! path.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use fieldbook_media::media_url::{parse_media_path, parse_range, MediaUrlError, MediaUrlTarget};
use fieldbook_media::MediaStore;
use tauri::http::{header, Method, Request, Response, StatusCode};

pub const SCHEME: &str = "media";

/// A whole file is sent only up to this size (every photo fits); beyond it,
/// and for every `Range` request, at most [`MAX_RANGE_BYTES`] per response,
/// so a 2 GB video plays without being read into memory at once.
const MAX_WHOLE_FILE_BYTES: u64 = fieldbook_media::MAX_PHOTO_FILE_BYTES;
const MAX_RANGE_BYTES: u64 = 8 << 20;

/// Content-addressed: a hash always names the same bytes.
const CACHE_FOREVER: &str = "private, max-age=31536000, immutable";

/// Answers one request. Pure over the media store, so it is tested without
/// a webview.
pub fn respond(media: &MediaStore, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
    }
    let target = match parse_media_path(request.uri().path()) {
        Ok(target) => target,
        Err(e @ MediaUrlError::NotAHash) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e) => return plain(StatusCode::NOT_FOUND, &e.to_string()),
    };
    let (path, content_type) = match target {
        MediaUrlTarget::Thumbnail(sha256) => match media.thumbnail_path(&sha256) {
            Some(path) => (path, "image/jpeg"),
            None => return plain(StatusCode::NOT_FOUND, "no thumbnail"),
        },
        MediaUrlTarget::File(sha256) => {
            let path = media.blob_path(&sha256);
            let content_type = sniff_content_type(&path);
            (path, content_type)
        }
    };
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match read_file(&path, range.as_deref(), request.method() == Method::HEAD) {
        Ok(part) => {
            let mut response = Response::builder()
                .status(if part.partial {
                    StatusCode::PARTIAL_CONTENT
                } else {
                    StatusCode::OK
                })
                .header(header::CONTENT_TYPE, content_type)
                .header(header::ACCEPT_RANGES, "bytes")
                .header(header::CACHE_CONTROL, CACHE_FOREVER)
                .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
            if part.partial {
                response = response.header(
                    header::CONTENT_RANGE,
                    format!(
                        "bytes {}-{}/{}",
                        part.start,
                        part.end_inclusive(),
                        part.total
                    ),
                );
            }
            response
                .header(header::CONTENT_LENGTH, part.len)
                .body(part.bytes)
                .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad response"))
        }
        Err(ReadError::NotFound) => plain(StatusCode::NOT_FOUND, "not on this device"),
        Err(ReadError::Unsatisfiable { total }) => Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{total}"))
            .body(Vec::new())
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad response")),
        Err(ReadError::Io(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "media file unreadable");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read",
            )
        }
    }
}

/// The type comes from the bytes (as the import decided), never from a name.
fn sniff_content_type(path: &Path) -> &'static str {
    infer::get_from_path(path)
        .ok()
        .flatten()
        .map(|kind| kind.mime_type())
        .filter(|mime| mime.starts_with("image/") || mime.starts_with("video/"))
        .unwrap_or("application/octet-stream")
}

#[derive(Debug)]
struct FilePart {
    bytes: Vec<u8>,
    start: u64,
    len: u64,
    total: u64,
    partial: bool,
}

impl FilePart {
    fn end_inclusive(&self) -> u64 {
        (self.start + self.len).saturating_sub(1)
    }
}

#[derive(Debug)]
enum ReadError {
    NotFound,
    Unsatisfiable { total: u64 },
    Io(std::io::Error),
}

fn read_file(path: &Path, range: Option<&str>, head_only: bool) -> Result<FilePart, ReadError> {
    let mut file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e),
    })?;
    let total = file.metadata().map_err(ReadError::Io)?.len();
    let (start, len, partial) = match range.and_then(parse_range) {
        Some(requested) => {
            let (start, end_inclusive) = requested
                .resolve(total)
                .ok_or(ReadError::Unsatisfiable { total })?;
            (
                start,
                (end_inclusive - start + 1).min(MAX_RANGE_BYTES),
                true,
            )
        }
        None if total <= MAX_WHOLE_FILE_BYTES => (0, total, false),
        None => (0, MAX_RANGE_BYTES, true),
    };
    let mut bytes = Vec::new();
    if !head_only {
        file.seek(SeekFrom::Start(start)).map_err(ReadError::Io)?;
        bytes.reserve(usize::try_from(len).unwrap_or(0));
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(ReadError::Io)?;
    }
    Ok(FilePart {
        len: if head_only { len } else { bytes.len() as u64 },
        bytes,
        start,
        total,
        partial,
    })
}

fn plain(status: StatusCode, message: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(message.as_bytes().to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldbook_domain::Sha256Hex;

    fn get(media: &MediaStore, uri: &str, range: Option<&str>) -> Response<Vec<u8>> {
        let mut request = Request::builder().method(Method::GET).uri(uri);
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        respond(media, &request.body(Vec::new()).unwrap())
    }

    fn png_bytes() -> Vec<u8> {
        let image =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 90]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn serves_a_photo_and_its_thumbnail_by_hash_with_their_types() {
        let dir = tempfile::tempdir().unwrap();
        let media = MediaStore::open(dir.path().join("media")).unwrap();
        let png = png_bytes();
        let imported = media.import_bytes(&png).unwrap();
        let sha = imported.blob.sha256.as_str();

        let file = get(&media, &format!("media://localhost/file/{sha}"), None);
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.headers()[header::CONTENT_TYPE], "image/png");
        assert_eq!(file.body(), &png);

        let thumb = get(&media, &format!("http://media.localhost/thumb/{sha}"), None);
        assert_eq!(thumb.status(), StatusCode::OK);
        assert_eq!(thumb.headers()[header::CONTENT_TYPE], "image/jpeg");
        assert!(thumb.body().starts_with(&[0xFF, 0xD8]), "a JPEG thumbnail");
    }

    #[test]
    fn refuses_anything_but_a_hash_of_a_stored_file() {
        let dir = tempfile::tempdir().unwrap();
        let media = MediaStore::open(dir.path().join("media")).unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "not for the page").unwrap();
        for uri in [
            "media://localhost/file/../secret.txt",
            "media://localhost/file/%2e%2e%2fsecret.txt",
            "media://localhost/file/ABCDEF",
            &format!("media://localhost/file/{}", "G".repeat(64)),
            &format!("media://localhost/file{}", secret.display()),
        ] {
            let response = get(&media, uri, None);
            assert!(
                response.status() == StatusCode::BAD_REQUEST
                    || response.status() == StatusCode::NOT_FOUND,
                "{uri}: {}",
                response.status()
            );
            assert!(!response.body().starts_with(b"not for the page"));
        }
        let unknown = Sha256Hex::digest(b"never imported");
        let response = get(&media, &format!("media://localhost/file/{unknown}"), None);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = get(&media, &format!("media://localhost/other/{unknown}"), None);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn answers_byte_ranges_for_video_playback() {
        let dir = tempfile::tempdir().unwrap();
        let media = MediaStore::open(dir.path().join("media")).unwrap();
        let png = png_bytes();
        let sha = media.import_bytes(&png).unwrap().blob.sha256;
        let uri = format!("media://localhost/file/{sha}");
        let total = png.len();

        let part = get(&media, &uri, Some("bytes=10-19"));
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.body(), &png[10..20]);
        assert_eq!(
            part.headers()[header::CONTENT_RANGE],
            format!("bytes 10-19/{total}").as_str()
        );

        let tail = get(&media, &uri, Some("bytes=-5"));
        assert_eq!(tail.body(), &png[total - 5..]);
        let open = get(&media, &uri, Some("bytes=100-"));
        assert_eq!(open.body(), &png[100..]);

        let beyond = get(&media, &uri, Some(&format!("bytes={total}-")));
        assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(
            beyond.headers()[header::CONTENT_RANGE],
            format!("bytes */{total}").as_str()
        );
    }
}
