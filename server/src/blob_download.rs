//! `GET /api/v1/blobs/{sha256}` and its 320 px thumbnail.
//!
//! Central Ops may read any blob a record names; a technician only blobs of
//! installations in their teams' scope (404 otherwise, as for a blob that
//! does not exist). Blobs never change (the name is the content's hash), so
//! the hash is a strong ETag and responses are `private, immutable`. Byte
//! ranges let the console scrub videos. Thumbnails are made once, written to
//! a temp file in `<data>/blobs/thumbnails/` and renamed into place, so a
//! crash never leaves half a thumbnail behind.

use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use fieldbook_domain::Sha256Hex;
use fieldbook_protocol::{ErrorBody, THUMBNAIL_EDGE_PX};
use futures_util::stream;
use image::{GenericImageView, ImageFormat, ImageReader};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::ApiPath;
use crate::storage::Scope;

const CACHE: &str = "private, max-age=31536000, immutable";
const CHUNK: usize = 64 * 1024;

/// A byte range resolved against the blob's length (inclusive end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    Whole,
    Part { start: u64, end: u64 },
    Unsatisfiable,
}

/// Parses a single `bytes=` range (suffix and open-ended forms included).
/// Several ranges, or a header that is not a byte range, get the whole blob,
/// as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.is_empty(), last.is_empty()) {
        (true, true) => return RangeRequest::Whole,
        // Suffix: the last N bytes.
        (true, false) => match last.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            Err(_) => return RangeRequest::Whole,
        },
        (false, true) => match first.parse::<u64>() {
            Ok(start) => (start, len.saturating_sub(1)),
            Err(_) => return RangeRequest::Whole,
        },
        (false, false) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(start), Ok(end)) if start <= end => (start, end.min(len.saturating_sub(1))),
            _ => return RangeRequest::Whole,
        },
    };
    if len == 0 || range.0 >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part {
        start: range.0,
        end: range.1,
    }
}

fn etag(hash: &Sha256Hex) -> String {
    format!("\"{hash}\"")
}

fn not_modified(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

fn header(value: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(value).map_err(|_| ApiError::internal())
}

/// The blob's hash and MIME type if the caller may read it, else 404.
async fn authorize(
    state: &AppState,
    caller: &Caller,
    sha256: &str,
) -> Result<(Sha256Hex, String), ApiError> {
    let hash: Sha256Hex = sha256.parse().map_err(|_| ApiError::not_found("blob"))?;
    let scope = Scope::for_user(caller.user_id, caller.role);
    let storage = Arc::clone(&state.storage);
    let key = hash.as_str().to_owned();
    let mime = blocking(move || Ok(storage.read(|db| db.blob_mime_in_scope(&key, scope))?)).await?;
    let mime = match mime {
        Some(mime) => mime,
        // Ops may read any stored blob, even one no record names (yet).
        None if scope.everything => "application/octet-stream".to_owned(),
        None => return Err(ApiError::not_found("blob")),
    };
    Ok((hash, mime))
}

/// Streams `len` bytes of `path` from `start`.
async fn file_body(path: PathBuf, start: u64, len: u64) -> Result<Body, ApiError> {
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(error = %e, path = %path.display(), "opening blob");
        ApiError::internal()
    })?;
    file.seek(SeekFrom::Start(start)).await.map_err(|e| {
        tracing::error!(error = %e, "seeking blob");
        ApiError::internal()
    })?;
    let chunks = stream::unfold((file, len), |(mut file, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(remaining as usize)];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), (file, remaining - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Ok(Body::from_stream(chunks))
}

/// Answers a file with ETag, caching, ranges and 304.
async fn serve_file(
    headers: &HeaderMap,
    path: PathBuf,
    tag: &str,
    mime: &str,
) -> Result<Response, ApiError> {
    let len = tokio::fs::metadata(&path)
        .await
        .map_err(|_| ApiError::not_found("blob"))?
        .len();
    let mut response = if not_modified(headers, tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let range = parse_range(headers.get(RANGE).and_then(|v| v.to_str().ok()), len);
        match range {
            RangeRequest::Unsatisfiable => {
                let mut r = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    fieldbook_protocol::ErrorCode::BadRequest,
                    format!("The range is outside the blob's {len} bytes"),
                )
                .into_response();
                r.headers_mut()
                    .insert(CONTENT_RANGE, header(&format!("bytes */{len}"))?);
                return Ok(r);
            }
            RangeRequest::Whole => {
                let mut r = file_body(path, 0, len).await?.into_response();
                r.headers_mut()
                    .insert(CONTENT_LENGTH, header(&len.to_string())?);
                r
            }
            RangeRequest::Part { start, end } => {
                let part = end - start + 1;
                let mut r = (
                    StatusCode::PARTIAL_CONTENT,
                    file_body(path, start, part).await?,
                )
                    .into_response();
                r.headers_mut()
                    .insert(CONTENT_LENGTH, header(&part.to_string())?);
                r.headers_mut().insert(
                    CONTENT_RANGE,
                    header(&format!("bytes {start}-{end}/{len}"))?,
                );
                r
            }
        }
    };
    let h = response.headers_mut();
    h.insert(ETAG, header(tag)?);
    h.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_TYPE, header(mime)?);
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// Download a blob (photo, video, signature) by its SHA-256.
#[utoipa::path(
    get, path = "/api/v1/blobs/{sha256}", tag = "blobs",
    security(("bearer" = []), ("cookie" = [])),
    params(
        ("sha256" = String, Path, description = "The blob's SHA-256, 64 lowercase hex digits"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag you hold"),
    ),
    responses(
        (status = 200, description = "The bytes; `ETag` is the quoted hash, `Cache-Control: private, immutable`"),
        (status = 206, description = "The requested range"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such blob in your scope", body = ErrorBody),
        (status = 416, description = "Range outside the blob", body = ErrorBody),
    )
)]
pub async fn download_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(sha256): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (hash, mime) = authorize(&state, &caller, &sha256).await?;
    let path = state
        .blobs
        .path_of(&hash)
        .ok_or_else(|| ApiError::not_found("blob"))?;
    serve_file(&headers, path, &etag(&hash), &mime).await
}

/// Where thumbnails are cached.
fn thumbnail_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("blobs").join("thumbnails")
}

/// The cached thumbnail of `hash` if it was made (JPEG or PNG).
fn cached_thumbnail(dir: &Path, hash: &Sha256Hex) -> Option<(PathBuf, &'static str)> {
    [("jpg", "image/jpeg"), ("png", "image/png")]
        .into_iter()
        .map(|(ext, mime)| (dir.join(format!("{hash}-{THUMBNAIL_EDGE_PX}.{ext}")), mime))
        .find(|(path, _)| path.is_file())
}

/// Makes (once) the thumbnail of an image blob: at most 320 px on its longer
/// side, JPEG, or PNG when the image has transparency (signatures). `None`
/// when the blob is not an image the server can read.
pub fn make_thumbnail(
    blob: &Path,
    dir: &Path,
    hash: &Sha256Hex,
) -> Result<Option<(PathBuf, &'static str)>, std::io::Error> {
    if let Some(found) = cached_thumbnail(dir, hash) {
        return Ok(Some(found));
    }
    let Ok(reader) = ImageReader::open(blob).and_then(|r| r.with_guessed_format()) else {
        return Ok(None);
    };
    let Ok(image) = reader.decode() else {
        return Ok(None);
    };
    let (w, h) = image.dimensions();
    let small = if w > THUMBNAIL_EDGE_PX || h > THUMBNAIL_EDGE_PX {
        image.thumbnail(THUMBNAIL_EDGE_PX, THUMBNAIL_EDGE_PX)
    } else {
        image
    };
    let (ext, mime, format, small) = if small.color().has_alpha() {
        ("png", "image/png", ImageFormat::Png, small)
    } else {
        (
            "jpg",
            "image/jpeg",
            ImageFormat::Jpeg,
            image::DynamicImage::ImageRgb8(small.to_rgb8()),
        )
    };
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{hash}-{THUMBNAIL_EDGE_PX}.{ext}"));
    let mut tmp = tempfile_in(dir)?;
    small
        .write_to(&mut std::io::BufWriter::new(&mut tmp.1), format)
        .map_err(std::io::Error::other)?;
    tmp.1.flush()?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, &path)?;
    Ok(Some((path, mime)))
}

/// A new temp file in `dir` (removed by the caller's rename, or left for the
/// next make to overwrite: names are random).
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

/// A thumbnail of an image blob, at most 320 px on its longer side.
#[utoipa::path(
    get, path = "/api/v1/blobs/{sha256}/thumbnail", tag = "blobs",
    security(("bearer" = []), ("cookie" = [])),
    params(("sha256" = String, Path, description = "The image blob's SHA-256")),
    responses(
        (status = 200, description = "JPEG (or PNG with transparency), cached on the server"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such blob in your scope, or not an image", body = ErrorBody),
    )
)]
pub async fn thumbnail_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(sha256): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (hash, mime) = authorize(&state, &caller, &sha256).await?;
    if !(mime.starts_with("image/") || mime == "application/octet-stream") {
        return Err(ApiError::not_found("thumbnail (the blob is not an image)"));
    }
    let blob = state
        .blobs
        .path_of(&hash)
        .ok_or_else(|| ApiError::not_found("blob"))?;
    let dir = thumbnail_dir(&state.config.data_dir);
    let key = hash.clone();
    let made = blocking(move || {
        make_thumbnail(&blob, &dir, &key).map_err(|e| {
            tracing::error!(error = %e, "making thumbnail");
            ApiError::internal()
        })
    })
    .await?;
    let (path, thumb_mime) =
        made.ok_or_else(|| ApiError::not_found("thumbnail (the blob is not an image)"))?;
    let tag = format!("\"{hash}-{THUMBNAIL_EDGE_PX}\"");
    serve_file(&headers, path, &tag, thumb_mime).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10),
            Part { start: 0, end: 3 }
        );
        assert_eq!(parse_range(Some("bytes=4-"), 10), Part { start: 4, end: 9 });
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part { start: 7, end: 9 });
        assert_eq!(
            parse_range(Some("bytes=5-100"), 10),
            Part { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), Whole);
        assert_eq!(parse_range(Some("bytes=3-1"), 10), Whole);
    }

    #[test]
    fn thumbnails_are_made_once_and_keep_transparency_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        let big = image::RgbaImage::from_pixel(1000, 500, image::Rgba([0, 0, 0, 0]));
        big.save_with_format(&blob, ImageFormat::Png).unwrap();
        let hash = Sha256Hex::digest(&std::fs::read(&blob).unwrap());
        let thumbs = dir.path().join("thumbs");
        let (path, mime) = make_thumbnail(&blob, &thumbs, &hash).unwrap().unwrap();
        assert_eq!(mime, "image/png");
        let small = image::open(&path).unwrap();
        assert_eq!(small.dimensions(), (320, 160));
        let again = make_thumbnail(&blob, &thumbs, &hash).unwrap().unwrap();
        assert_eq!(again.0, path);
        let leftovers: Vec<_> = std::fs::read_dir(&thumbs)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());

        std::fs::write(dir.path().join("text"), b"not an image").unwrap();
        let text_hash = Sha256Hex::digest(b"not an image");
        assert!(
            make_thumbnail(&dir.path().join("text"), &thumbs, &text_hash)
                .unwrap()
                .is_none()
        );
    }
}
