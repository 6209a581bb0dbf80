//! The `media://` URI scheme: photos, videos, thumbnails and signatures from
//! the content-addressed media store, named only by their SHA-256
//! (`media://localhost/thumb/<sha256>`, `media://localhost/file/<sha256>`;
//! `http://media.localhost/...` on Windows). No path from the page ever
//! reaches the file system: the hash is validated and the store builds the
//! path.
//!
//! Files are encrypted at rest; they are read through the store's
//! [`MediaReader`], which decrypts only the segments a byte range touches
//! (video seeking stays cheap). A damaged file is answered 422 as damaged,
//! never with part of its bytes: a whole photo is decrypted before the
//! answer starts, and a range's bytes all authenticate or the range fails.

use std::io::{Read, Seek, SeekFrom};

use fieldbook_media::media_url::{parse_media_path, parse_range, MediaUrlError, MediaUrlTarget};
use fieldbook_media::{is_damaged, MediaReader, MediaStore};
use tauri::http::{header, Method, Request, Response, StatusCode};

pub const SCHEME: &str = "media";

/// A whole file is sent only up to this size (every photo fits); beyond it,
/// and for every `Range` request, at most [`MAX_RANGE_BYTES`] per response,
/// so a 2 GB video plays without being read into memory at once.
const MAX_WHOLE_FILE_BYTES: u64 = fieldbook_media::MAX_PHOTO_FILE_BYTES;
const MAX_RANGE_BYTES: u64 = 8 << 20;
/// Leading bytes the content type is told from (as `infer` reads from a path).
const SNIFF_BYTES: u64 = 8192;

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
    let (opened, known_type) = match &target {
        MediaUrlTarget::Thumbnail(sha256) => (media.open_thumbnail(sha256), Some("image/jpeg")),
        MediaUrlTarget::File(sha256) => (media.open_blob(sha256), None),
    };
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let answered = opened.map_err(ReadError::from).and_then(|mut file| {
        let content_type = match known_type {
            Some(known) => known,
            None => sniff_content_type(&mut file)?,
        };
        let part = read_part(
            &mut file,
            range.as_deref(),
            request.method() == Method::HEAD,
        )?;
        Ok((content_type, part))
    });
    match answered {
        Ok((content_type, part)) => {
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
        Err(ReadError::Damaged(e)) => {
            tracing::warn!(?target, error = %e, "media file damaged");
            plain(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this file is damaged on this computer; attach it again from the original",
            )
        }
        Err(ReadError::Io(e)) => {
            tracing::warn!(?target, error = %e, "media file unreadable");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read",
            )
        }
    }
}

/// The type comes from the bytes (as the import decided), never from a name.
fn sniff_content_type(file: &mut MediaReader) -> Result<&'static str, ReadError> {
    let mut head = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.take(SNIFF_BYTES).read_to_end(&mut head)?;
    Ok(infer::get(&head)
        .map(|kind| kind.mime_type())
        .filter(|mime| mime.starts_with("image/") || mime.starts_with("video/"))
        .unwrap_or("application/octet-stream"))
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
    Damaged(std::io::Error),
    Io(std::io::Error),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            ReadError::NotFound
        } else if is_damaged(&e) {
            ReadError::Damaged(e)
        } else {
            ReadError::Io(e)
        }
    }
}

/// The bytes a request asks for: the whole file, or one range of it (only
/// the segments it touches are decrypted).
fn read_part(
    file: &mut MediaReader,
    range: Option<&str>,
    head_only: bool,
) -> Result<FilePart, ReadError> {
    let total = file.len();
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
        file.seek(SeekFrom::Start(start))?;
        bytes.reserve(usize::try_from(len).unwrap_or(0));
        file.take(len).read_to_end(&mut bytes)?;
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

    fn encrypted_store(dir: &std::path::Path) -> MediaStore {
        MediaStore::open_encrypted(dir.join("media"), fieldbook_media::MediaKey::new([8; 32]))
            .unwrap()
    }

    /// An MP4-looking video over several encrypted segments.
    fn video_bytes() -> Vec<u8> {
        let mut bytes = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2".to_vec();
        bytes.extend((0..400_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8));
        bytes
    }

    #[test]
    fn serves_encrypted_files_decrypted_whole_and_in_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let media = encrypted_store(dir.path());
        let png = png_bytes();
        let sha = media.import_bytes(&png).unwrap().blob.sha256;
        assert_ne!(std::fs::read(media.blob_path(&sha)).unwrap(), png);

        let file = get(&media, &format!("media://localhost/file/{sha}"), None);
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.headers()[header::CONTENT_TYPE], "image/png");
        assert_eq!(file.body(), &png);
        let thumb = get(&media, &format!("media://localhost/thumb/{sha}"), None);
        assert_eq!(thumb.status(), StatusCode::OK);
        assert!(thumb.body().starts_with(&[0xFF, 0xD8]), "a decrypted JPEG");

        let video = video_bytes();
        let sha = media.import_bytes(&video).unwrap().blob.sha256;
        let uri = format!("media://localhost/file/{sha}");
        let part = get(&media, &uri, Some("bytes=200000-299999"));
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.headers()[header::CONTENT_TYPE], "video/mp4");
        assert_eq!(part.body(), &video[200_000..300_000]);
        assert_eq!(
            part.headers()[header::CONTENT_RANGE],
            format!("bytes 200000-299999/{}", video.len()).as_str()
        );
        let tail = get(&media, &uri, Some("bytes=-10"));
        assert_eq!(tail.body(), &video[video.len() - 10..]);
    }

    #[test]
    fn a_damaged_encrypted_file_is_answered_as_damaged_not_in_part() {
        let dir = tempfile::tempdir().unwrap();
        let media = encrypted_store(dir.path());
        let png = png_bytes();
        let sha = media.import_bytes(&png).unwrap().blob.sha256;
        let path = media.blob_path(&sha);
        let mut on_disk = std::fs::read(&path).unwrap();
        let last = on_disk.len() - 20;
        on_disk[last] ^= 1;
        std::fs::write(&path, &on_disk).unwrap();

        let response = get(&media, &format!("media://localhost/file/{sha}"), None);
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!response.body().starts_with(b"\x89PNG"));
        assert!(String::from_utf8_lossy(response.body()).contains("damaged"));

        // A video damaged in its middle: ranges before it play, the damaged
        // range is refused rather than served.
        let video = video_bytes();
        let sha = media.import_bytes(&video).unwrap().blob.sha256;
        let path = media.blob_path(&sha);
        let mut on_disk = std::fs::read(&path).unwrap();
        on_disk[200_100] ^= 1;
        std::fs::write(&path, &on_disk).unwrap();
        let uri = format!("media://localhost/file/{sha}");
        let start = get(&media, &uri, Some("bytes=0-999"));
        assert_eq!(start.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(start.body(), &video[..1000]);
        let damaged = get(&media, &uri, Some("bytes=150000-250000"));
        assert_eq!(damaged.status(), StatusCode::UNPROCESSABLE_ENTITY);
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
