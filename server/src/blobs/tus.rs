//! The tus 1.0.0 endpoints (core + creation + checksum + termination, checksum
//! algorithm sha256) over [`BlobStore`].
//!
//! Contract choices (also in the OpenAPI document):
//! - **Dedupe**: `POST` for a hash that is already stored answers
//!   `200 OK` with `Fieldbook-Blob-Exists: true`, `Upload-Offset` =
//!   `Upload-Length` = the blob's size, and no `Location`: nothing was created
//!   and there is nothing to upload. A new upload is `201 Created`.
//! - **Lost Location**: a `POST` by the same user for the same hash and length
//!   while their upload is unfinished returns that upload (`201`, its
//!   `Location`, its current `Upload-Offset`).
//! - **Ownership**: an upload belongs to the user who created it; anyone else
//!   (team-mates included) gets `404` for its id. Team-mates uploading the same
//!   file make their own upload; whoever finishes first makes the other's POST
//!   a dedupe hit.
//! - **Zero bytes**: refused (`400`, code `empty_blob`): media is never empty.
//! - **Cut connections**: see [`BlobStore::write_chunk`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use fieldbook_domain::Sha256Hex;
use serde::Serialize;
use uuid::Uuid;

use super::store::{BlobError, BlobStore, ChunkChecksum, ChunkRequest, CreateOutcome, TusUpload};
use crate::caller::Caller;

pub const TUS_VERSION: &str = "1.0.0";
pub const TUS_EXTENSIONS: &str = "creation,checksum,termination";
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

pub static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub static TUS_VERSION_HEADER: HeaderName = HeaderName::from_static("tus-version");
pub static TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
pub static TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
pub static TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
pub static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
pub static UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
/// Set to `true` on a creation answer when the blob is already stored.
pub static FIELDBOOK_BLOB_EXISTS: HeaderName = HeaderName::from_static("fieldbook-blob-exists");

/// tus' non-standard status for a failed `Upload-Checksum`.
pub const CHECKSUM_MISMATCH: u16 = 460;

/// Error body of every failed blob request (same shape as the rest of the
/// API: branch on `code`, show `message`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlobErrorBody {
    /// Stable machine-readable code, e.g. `offset_mismatch`.
    pub code: String,
    /// What happened and what to do.
    pub message: String,
}

/// A rejected tus request.
#[derive(Debug, thiserror::Error)]
pub enum TusError {
    #[error("send `Tus-Resumable: 1.0.0`; this server speaks tus 1.0.0 only")]
    UnsupportedTusVersion,
    #[error("header {name}: {problem}")]
    InvalidHeader {
        name: &'static str,
        problem: &'static str,
    },
    #[error("Upload-Metadata must carry `sha256` (base64 of the blob's lowercase hex SHA-256)")]
    MissingSha256,
    #[error("only the sha256 and crc32 checksum algorithms are supported")]
    UnsupportedChecksumAlgorithm,
    #[error("PATCH bodies must be sent as Content-Type: application/offset+octet-stream")]
    WrongContentType,
    #[error(transparent)]
    Store(#[from] BlobError),
}

impl TusError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use BlobError as B;
        match self {
            TusError::UnsupportedTusVersion => {
                (StatusCode::PRECONDITION_FAILED, "tus_version_unsupported")
            }
            TusError::InvalidHeader { .. } => (StatusCode::BAD_REQUEST, "invalid_header"),
            TusError::MissingSha256 => (StatusCode::BAD_REQUEST, "missing_sha256"),
            TusError::UnsupportedChecksumAlgorithm => {
                (StatusCode::BAD_REQUEST, "checksum_algorithm_unsupported")
            }
            TusError::WrongContentType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
            ),
            TusError::Store(err) => match err {
                B::UploadNotFound => (StatusCode::NOT_FOUND, "upload_not_found"),
                B::TooManyUnfinishedUploads { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, "too_many_unfinished_uploads")
                }
                B::UploadBytesQuotaExceeded { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, "upload_quota_exceeded")
                }
                B::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "blob_too_large"),
                B::EmptyBlob => (StatusCode::BAD_REQUEST, "empty_blob"),
                B::LengthDiffersFromStoredBlob { .. } => {
                    (StatusCode::CONFLICT, "blob_length_mismatch")
                }
                B::OffsetMismatch { .. } => (StatusCode::CONFLICT, "offset_mismatch"),
                B::ChunkExceedsLength { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "chunk_exceeds_length")
                }
                B::ChecksumMismatch => (
                    StatusCode::from_u16(CHECKSUM_MISMATCH).expect("460 is a valid status"),
                    "checksum_mismatch",
                ),
                B::UploadBusy => (StatusCode::LOCKED, "upload_locked"),
                B::Interrupted { .. } => (StatusCode::BAD_REQUEST, "upload_interrupted"),
                B::WholeFileHashMismatch { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "blob_hash_mismatch")
                }
                // The disk is full: the upload keeps its durable offset and
                // resumes once an operator frees space. 5xx, so clients retry.
                B::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                    (StatusCode::INSUFFICIENT_STORAGE, "server_storage_full")
                }
                B::Io { .. } | B::CorruptRecord { .. } => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "storage_error")
                }
            },
        }
    }
}

impl IntoResponse for TusError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INSUFFICIENT_STORAGE {
            tracing::error!(error = %self, "blob request failed: the server's disk is full");
            "the server's disk is full; what was received up to Upload-Offset is kept: retry \
             later and resume from there"
                .to_owned()
        } else if status.is_server_error() {
            tracing::error!(error = %self, "blob request failed");
            "the server could not store the upload; retry later".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (
            status,
            axum::Json(BlobErrorBody {
                code: code.to_owned(),
                message,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            TusError::UnsupportedTusVersion => {
                headers.insert(
                    TUS_VERSION_HEADER.clone(),
                    HeaderValue::from_static(TUS_VERSION),
                );
            }
            TusError::Store(BlobError::OffsetMismatch { current, .. })
            | TusError::Store(BlobError::Interrupted { offset: current }) => {
                headers.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(*current));
            }
            _ => {}
        }
        response
    }
}

/// Adds `Tus-Resumable` to every response of the blob routes.
pub async fn add_tus_resumable(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(TUS_RESUMABLE.clone(), HeaderValue::from_static(TUS_VERSION));
    response
}

fn require_tus_resumable(headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get(&TUS_RESUMABLE) {
        Some(v) if v.as_bytes() == TUS_VERSION.as_bytes() => Ok(()),
        _ => Err(TusError::UnsupportedTusVersion),
    }
}

fn header_str<'a>(
    headers: &'a HeaderMap,
    name: &'static HeaderName,
) -> Result<Option<&'a str>, TusError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| TusError::InvalidHeader {
                name: name.as_str(),
                problem: "not ASCII",
            })
        })
        .transpose()
}

fn parse_tus_u64(headers: &HeaderMap, name: &'static HeaderName) -> Result<Option<u64>, TusError> {
    let Some(raw) = header_str(headers, name)? else {
        return Ok(None);
    };
    parse_tus_number(name.as_str(), raw).map(Some)
}

/// A tus length/offset (`Upload-Offset`, `Upload-Length`): a non-negative
/// decimal integer, nothing else (Rust's parser would accept a leading `+`).
/// Public for the `tus_headers` fuzz target.
pub fn parse_tus_number(name: &'static str, raw: &str) -> Result<u64, TusError> {
    let invalid = TusError::InvalidHeader {
        name,
        problem: "must be a non-negative decimal integer",
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    raw.parse().map_err(|_| invalid)
}

/// What the client declared in `Upload-Metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadMetadata {
    pub sha256: Sha256Hex,
    pub mime: Option<String>,
}

/// Parses `Upload-Metadata: key base64value,key2 base64value2`. `sha256` is
/// required; `mime` is optional; other keys (tus clients add `filename`) are
/// ignored.
pub fn parse_upload_metadata(raw: Option<&str>) -> Result<UploadMetadata, TusError> {
    const NAME: &str = "upload-metadata";
    let invalid = |problem| TusError::InvalidHeader {
        name: NAME,
        problem,
    };
    let mut sha256 = None;
    let mut mime = None;
    let mut seen = Vec::new();
    for pair in raw.unwrap_or("").split(',').map(str::trim) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        if seen.contains(&key) {
            return Err(invalid("keys must be unique"));
        }
        seen.push(key);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| invalid("values must be base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| invalid("values must be UTF-8"));
        match key {
            "sha256" => {
                sha256 = Some(
                    text?
                        .parse::<Sha256Hex>()
                        .map_err(|_| invalid("sha256 must be 64 lowercase hex characters"))?,
                )
            }
            "mime" => {
                let text = text?;
                if text.is_empty()
                    || text.len() > 255
                    || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
                {
                    return Err(invalid("mime must be 1-255 printable ASCII characters"));
                }
                mime = Some(text);
            }
            _ => {}
        }
    }
    Ok(UploadMetadata {
        sha256: sha256.ok_or(TusError::MissingSha256)?,
        mime,
    })
}

/// The `Upload-Checksum` algorithms this server checks chunks with
/// (`Tus-Checksum-Algorithm`).
pub const CHECKSUM_ALGORITHMS: &str = "sha256,crc32";

/// Parses `Upload-Checksum: sha256 <base64 of the 32-byte digest>` or
/// `Upload-Checksum: crc32 <base64 of the 4-byte big-endian CRC-32>`.
pub fn parse_upload_checksum(raw: Option<&str>) -> Result<Option<ChunkChecksum>, TusError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let invalid = TusError::InvalidHeader {
        name: "upload-checksum",
        problem: "must be `sha256 <base64 of the 32-byte digest>` or `crc32 <base64 of the 4-byte big-endian CRC-32>`",
    };
    let (algorithm, value) = raw.trim().split_once(' ').ok_or(invalid)?;
    if algorithm != "sha256" && algorithm != "crc32" {
        return Err(TusError::UnsupportedChecksumAlgorithm);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| TusError::InvalidHeader {
            name: "upload-checksum",
            problem: "the checksum must be base64",
        })?;
    if algorithm == "crc32" {
        return <[u8; 4]>::try_from(bytes.as_slice())
            .map(|b| Some(ChunkChecksum::Crc32(u32::from_be_bytes(b))))
            .map_err(|_| TusError::InvalidHeader {
                name: "upload-checksum",
                problem: "a crc32 checksum is 4 bytes",
            });
    }
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(|b| Some(ChunkChecksum::Sha256(b)))
        .map_err(|_| TusError::InvalidHeader {
            name: "upload-checksum",
            problem: "a sha256 digest is 32 bytes",
        })
}

/// Upload ids are UUIDs; anything else cannot name an upload.
fn parse_upload_id(raw: &str) -> Result<Uuid, TusError> {
    Uuid::parse_str(raw).map_err(|_| TusError::Store(BlobError::UploadNotFound))
}

fn encode_metadata(upload: &TusUpload) -> String {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut out = format!("sha256 {}", b64.encode(upload.sha256.as_str()));
    if let Some(mime) = &upload.mime {
        out.push_str(&format!(",mime {}", b64.encode(mime)));
    }
    out
}

/// Discover the server's tus capabilities.
#[utoipa::path(
    options,
    path = "/api/v1/blobs",
    tag = "blobs",
    responses(
        (status = 204, description = "tus capabilities",
         headers(
             ("Tus-Resumable" = String, description = "1.0.0"),
             ("Tus-Version" = String, description = "1.0.0"),
             ("Tus-Extension" = String, description = "creation,checksum,termination"),
             ("Tus-Checksum-Algorithm" = String, description = "sha256,crc32"),
             ("Tus-Max-Size" = u64, description = "Largest accepted blob, in bytes"),
         )),
    )
)]
pub async fn tus_options(State(store): State<Arc<BlobStore>>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        TUS_VERSION_HEADER.clone(),
        HeaderValue::from_static(TUS_VERSION),
    );
    headers.insert(
        TUS_EXTENSION.clone(),
        HeaderValue::from_static(TUS_EXTENSIONS),
    );
    headers.insert(
        TUS_CHECKSUM_ALGORITHM.clone(),
        HeaderValue::from_static(CHECKSUM_ALGORITHMS),
    );
    headers.insert(
        TUS_MAX_SIZE.clone(),
        HeaderValue::from(store.max_blob_bytes()),
    );
    response
}

/// Create an upload for a blob (tus creation), or learn it is already stored.
///
/// The size limit is checked from `Upload-Length` alone, before any body is
/// read. Dedupe costs one `stat`.
#[utoipa::path(
    post,
    path = "/api/v1/blobs",
    tag = "blobs",
    params(
        ("Tus-Resumable" = String, Header, description = "Must be 1.0.0"),
        ("Upload-Length" = u64, Header, description = "Size of the whole blob in bytes (1 ..= Tus-Max-Size); Upload-Defer-Length is not supported"),
        ("Upload-Metadata" = String, Header, description = "tus metadata: `sha256` (required; base64 of the blob's lowercase hex SHA-256, its identity) and `mime` (optional). Other keys are ignored."),
    ),
    responses(
        (status = 201, description = "Upload created, or the caller's unfinished upload of the same hash and length returned so it can be resumed",
         headers(
             ("Location" = String, description = "The upload's URL: /api/v1/blobs/{upload_id}"),
             ("Upload-Offset" = u64, description = "Where to resume (0 for a new upload)"),
         )),
        (status = 200, description = "Dedupe: the blob is already stored; nothing was created and nothing needs uploading",
         headers(
             ("Fieldbook-Blob-Exists" = String, description = "true"),
             ("Upload-Offset" = u64, description = "Equals Upload-Length"),
             ("Upload-Length" = u64, description = "The stored blob's size"),
         )),
        (status = 400, description = "Missing/invalid header, missing sha256, or Upload-Length 0 (`empty_blob`: zero-byte blobs are refused)", body = BlobErrorBody),
        (status = 409, description = "A blob with this hash is stored with a different length (`blob_length_mismatch`)", body = BlobErrorBody),
        (status = 412, description = "Tus-Resumable missing or not 1.0.0", body = BlobErrorBody),
        (status = 413, description = "Upload-Length exceeds Tus-Max-Size (`blob_too_large`)", body = BlobErrorBody),
        (status = 429, description = "The caller's unfinished uploads are at their limit: too many at once (`too_many_unfinished_uploads`) or too many bytes reserved (`upload_quota_exceeded`); finish or DELETE some first", body = BlobErrorBody),
        (status = 507, description = "The server's disk is full (`server_storage_full`); nothing was created: retry later", body = BlobErrorBody),
    )
)]
pub async fn create_upload(
    State(store): State<Arc<BlobStore>>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, TusError> {
    require_tus_resumable(&headers)?;
    if headers.contains_key(&UPLOAD_DEFER_LENGTH) {
        return Err(TusError::InvalidHeader {
            name: "upload-defer-length",
            problem: "deferred lengths are not supported; send Upload-Length",
        });
    }
    let length = parse_tus_u64(&headers, &UPLOAD_LENGTH)?.ok_or(TusError::InvalidHeader {
        name: "upload-length",
        problem: "required",
    })?;
    // Size first: an oversized upload is refused before anything else.
    if length > store.max_blob_bytes() {
        return Err(BlobError::TooLarge {
            length,
            max: store.max_blob_bytes(),
        }
        .into());
    }
    let metadata = parse_upload_metadata(header_str(&headers, &UPLOAD_METADATA)?)?;
    // Creating an upload fsyncs two files; keep that off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        store.create_upload(caller.user_id, metadata.sha256, length, metadata.mime)
    })
    .await
    .map_err(|join| BlobError::Io {
        context: "creating an upload".into(),
        source: std::io::Error::other(join.to_string()),
    })??;
    let upload = match outcome {
        CreateOutcome::AlreadyStored { length } => {
            let mut response = StatusCode::OK.into_response();
            let h = response.headers_mut();
            h.insert(
                FIELDBOOK_BLOB_EXISTS.clone(),
                HeaderValue::from_static("true"),
            );
            h.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(length));
            h.insert(UPLOAD_LENGTH.clone(), HeaderValue::from(length));
            return Ok(response);
        }
        CreateOutcome::Created(upload) | CreateOutcome::Resumed(upload) => upload,
    };
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), upload.id);
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|_| TusError::InvalidHeader {
            name: "location",
            problem: "request path is not a valid header value",
        })?,
    );
    h.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(upload.offset));
    Ok(response)
}

/// The upload's durable offset (tus HEAD).
#[utoipa::path(
    head,
    path = "/api/v1/blobs/{upload_id}",
    tag = "blobs",
    params(
        ("upload_id" = Uuid, Path, description = "From the creation's Location"),
        ("Tus-Resumable" = String, Header, description = "Must be 1.0.0"),
    ),
    responses(
        (status = 200, description = "Upload-Offset counts only bytes fsynced to disk; once the blob is complete it equals Upload-Length",
         headers(
             ("Upload-Offset" = u64, description = "Bytes durably received"),
             ("Upload-Length" = u64, description = "Declared size"),
             ("Upload-Metadata" = String, description = "sha256 (and mime) as declared"),
             ("Cache-Control" = String, description = "no-store"),
         )),
        (status = 404, description = "Unknown, expired, rejected, or another user's upload"),
        (status = 412, description = "Tus-Resumable missing or not 1.0.0"),
    )
)]
pub async fn upload_status(
    State(store): State<Arc<BlobStore>>,
    Extension(caller): Extension<Caller>,
    Path(upload_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TusError> {
    require_tus_resumable(&headers)?;
    let id = parse_upload_id(&upload_id)?;
    // Blocking with an object store (and it may finish an upload a crash
    // left complete but unpublished).
    let user_id = caller.user_id;
    let upload = tokio::task::spawn_blocking(move || store.upload_status(id, user_id))
        .await
        .map_err(|join| BlobError::Io {
            context: "reading an upload's status".into(),
            source: std::io::Error::other(join.to_string()),
        })??;
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    h.insert(UPLOAD_OFFSET.clone(), HeaderValue::from(upload.offset));
    h.insert(UPLOAD_LENGTH.clone(), HeaderValue::from(upload.length));
    if let Ok(metadata) = HeaderValue::from_str(&encode_metadata(&upload)) {
        h.insert(UPLOAD_METADATA.clone(), metadata);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Append a chunk (tus PATCH), streamed to disk.
///
/// A connection cut mid-body keeps the bytes that arrived if the request had
/// no Upload-Checksum, and discards them if it had one; HEAD tells where to
/// resume either way. The chunk that reaches Upload-Length triggers the
/// whole-file SHA-256 check; only then does the blob become visible.
#[utoipa::path(
    patch,
    path = "/api/v1/blobs/{upload_id}",
    tag = "blobs",
    params(
        ("upload_id" = Uuid, Path, description = "From the creation's Location"),
        ("Tus-Resumable" = String, Header, description = "Must be 1.0.0"),
        ("Upload-Offset" = u64, Header, description = "Must equal the upload's current offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64 digest of this chunk>`; on mismatch the chunk is discarded"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream",
                 description = "The bytes from Upload-Offset on; at most Upload-Length - Upload-Offset"),
    responses(
        (status = 204, description = "Chunk stored durably; when Upload-Offset = Upload-Length the blob was verified and is stored",
         headers(("Upload-Offset" = u64, description = "New offset"))),
        (status = 400, description = "Invalid header or unsupported checksum algorithm", body = BlobErrorBody),
        (status = 404, description = "Unknown, expired, rejected, or another user's upload", body = BlobErrorBody),
        (status = 409, description = "Upload-Offset differs from the current offset (`offset_mismatch`; the response's Upload-Offset is the current one)", body = BlobErrorBody),
        (status = 412, description = "Tus-Resumable missing or not 1.0.0", body = BlobErrorBody),
        (status = 413, description = "The chunk goes past Upload-Length (`chunk_exceeds_length`); checked from Content-Length before reading", body = BlobErrorBody),
        (status = 415, description = "Content-Type is not application/offset+octet-stream", body = BlobErrorBody),
        (status = 422, description = "All bytes arrived but their SHA-256 is not the declared hash (`blob_hash_mismatch`); the upload was removed", body = BlobErrorBody),
        (status = 423, description = "Another PATCH on this upload is still running (`upload_locked`); retry later", body = BlobErrorBody),
        (status = 460, description = "The chunk does not match Upload-Checksum (`checksum_mismatch`); discarded, offset unchanged", body = BlobErrorBody),
        (status = 507, description = "The server's disk is full (`server_storage_full`); the offset stays where the last durable bytes end: retry later and resume from Upload-Offset", body = BlobErrorBody),
    )
)]
pub async fn append_chunk(
    State(store): State<Arc<BlobStore>>,
    Extension(caller): Extension<Caller>,
    Path(upload_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, TusError> {
    require_tus_resumable(&headers)?;
    let content_type = header_str(&headers, &header::CONTENT_TYPE)?;
    if content_type != Some(OFFSET_OCTET_STREAM) {
        return Err(TusError::WrongContentType);
    }
    let id = parse_upload_id(&upload_id)?;
    let offset = parse_tus_u64(&headers, &UPLOAD_OFFSET)?.ok_or(TusError::InvalidHeader {
        name: "upload-offset",
        problem: "required",
    })?;
    let checksum = parse_upload_checksum(header_str(&headers, &UPLOAD_CHECKSUM)?)?;
    let content_length = parse_tus_u64(&headers, &header::CONTENT_LENGTH)?;
    let chunk = ChunkRequest {
        offset,
        checksum,
        content_length,
    };
    let upload = store.write_chunk(id, caller.user_id, chunk, body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(UPLOAD_OFFSET.clone(), HeaderValue::from(upload.offset));
    Ok(response)
}

/// Abandon an upload (tus termination). A completed blob stays stored.
#[utoipa::path(
    delete,
    path = "/api/v1/blobs/{upload_id}",
    tag = "blobs",
    params(
        ("upload_id" = Uuid, Path, description = "From the creation's Location"),
        ("Tus-Resumable" = String, Header, description = "Must be 1.0.0"),
    ),
    responses(
        (status = 204, description = "Upload removed"),
        (status = 404, description = "Unknown, expired, rejected, or another user's upload", body = BlobErrorBody),
        (status = 412, description = "Missing or unsupported Tus-Resumable", body = BlobErrorBody),
        (status = 423, description = "A PATCH on this upload is still running", body = BlobErrorBody),
    )
)]
pub async fn terminate_upload(
    State(store): State<Arc<BlobStore>>,
    Extension(caller): Extension<Caller>,
    Path(upload_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TusError> {
    require_tus_resumable(&headers)?;
    let id = parse_upload_id(&upload_id)?;
    store.terminate_upload(id, caller.user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn metadata_requires_a_valid_sha256() {
        let hash = Sha256Hex::digest(b"x");
        let raw = format!(
            "filename {},sha256 {},mime {}",
            b64("a.jpg"),
            b64(hash.as_str()),
            b64("image/jpeg")
        );
        let parsed = parse_upload_metadata(Some(&raw)).unwrap();
        assert_eq!(parsed.sha256, hash);
        assert_eq!(parsed.mime.as_deref(), Some("image/jpeg"));

        assert!(matches!(
            parse_upload_metadata(Some(&format!("mime {}", b64("image/png")))),
            Err(TusError::MissingSha256)
        ));
        assert!(matches!(
            parse_upload_metadata(None),
            Err(TusError::MissingSha256)
        ));
        let upper = format!("sha256 {}", b64(&hash.as_str().to_uppercase()));
        assert!(parse_upload_metadata(Some(&upper)).is_err());
        let traversal = format!("sha256 {}", b64("../../etc/passwd"));
        assert!(parse_upload_metadata(Some(&traversal)).is_err());
        let twice = format!("sha256 {0},sha256 {0}", b64(hash.as_str()));
        assert!(parse_upload_metadata(Some(&twice)).is_err());
        assert!(parse_upload_metadata(Some("sha256 not-base64!")).is_err());
    }

    #[test]
    fn checksum_header_accepts_sha256_digests_and_crc32_checksums() {
        let digest = Sha256Hex::digest(b"chunk").to_bytes();
        let b64d = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(
            parse_upload_checksum(Some(&format!("sha256 {b64d}"))).unwrap(),
            Some(ChunkChecksum::Sha256(digest))
        );
        let crc = crc32fast::hash(b"chunk");
        let b64c = base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes());
        assert_eq!(
            parse_upload_checksum(Some(&format!("crc32 {b64c}"))).unwrap(),
            Some(ChunkChecksum::Crc32(crc))
        );
        // A digest of the other algorithm's size is refused, not truncated.
        assert!(parse_upload_checksum(Some(&format!("crc32 {b64d}"))).is_err());
        assert!(parse_upload_checksum(Some(&format!("sha256 {b64c}"))).is_err());
        assert_eq!(parse_upload_checksum(None).unwrap(), None);
        assert!(matches!(
            parse_upload_checksum(Some(&format!("md5 {b64d}"))),
            Err(TusError::UnsupportedChecksumAlgorithm)
        ));
        assert!(parse_upload_checksum(Some("sha256 AAAA")).is_err());
        assert!(parse_upload_checksum(Some("sha256")).is_err());
    }

    #[test]
    fn tus_integers_reject_signs_and_garbage() {
        let mut headers = HeaderMap::new();
        for (raw, ok) in [
            ("0", Some(0)),
            ("42", Some(42)),
            ("+5", None),
            ("-1", None),
            ("", None),
            ("1e3", None),
        ] {
            headers.insert(UPLOAD_LENGTH.clone(), HeaderValue::from_static(raw));
            assert_eq!(
                parse_tus_u64(&headers, &UPLOAD_LENGTH).ok().flatten(),
                ok,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn upload_ids_must_be_uuids() {
        assert!(parse_upload_id("../uploads/x").is_err());
        assert!(parse_upload_id(&Uuid::new_v4().to_string()).is_ok());
    }
}
