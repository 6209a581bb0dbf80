//! The tus 1.0.0 requests (creation, HEAD, PATCH with `Upload-Checksum`)
//! against the server's `/api/v1/blobs`, and how their answers are sorted.

use std::time::Duration;

use base64::Engine as _;
use fieldbook_domain::Sha256Hex;
use fieldbook_media::MediaStore;
use fieldbook_store::BlobUpload;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER,
};
use reqwest::{Response, StatusCode, Url};

use super::chunk_body::{Chunk, ChunkCheck, FileRegion};
use super::retry::Step;
use super::BlobUploader;
use crate::SyncError;

const TUS_VERSION: &str = "1.0.0";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
static TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
static UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
static UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
static UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
static UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
static TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
static FIELDBOOK_BLOB_EXISTS: HeaderName = HeaderName::from_static("fieldbook-blob-exists");
/// tus' status for a chunk that does not match its `Upload-Checksum`.
const CHECKSUM_MISMATCH: u16 = 460;

impl BlobUploader {
    pub(super) fn endpoint(&self) -> Result<Endpoint, SyncError> {
        let invalid = |reason: &str| SyncError::InvalidServerUrl {
            url: self.server_url.clone(),
            reason: reason.to_owned(),
        };
        let mut root = Url::parse(&self.server_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(root.scheme(), "http" | "https") {
            return Err(invalid("only http and https addresses work"));
        }
        // `join` replaces the last path segment unless the path ends in '/'.
        if !root.path().ends_with('/') {
            let path = format!("{}/", root.path());
            root.set_path(&path);
        }
        let collection = root
            .join("api/v1/blobs")
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Endpoint { root, collection })
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(&self.token)
            .header(&TUS_RESUMABLE, TUS_VERSION)
    }

    pub(super) async fn create(
        &self,
        endpoint: &Endpoint,
        blob: &BlobUpload,
    ) -> Result<Created, Step> {
        let response = self
            .request(reqwest::Method::POST, endpoint.collection.clone())
            .header(&UPLOAD_LENGTH, blob.blob.size)
            .header(
                &UPLOAD_METADATA,
                upload_metadata(&blob.blob.sha256, &blob.blob.mime),
            )
            .send()
            .await
            .map_err(Step::transport)?;
        let status = response.status();
        if status == StatusCode::OK && header_is_true(response.headers(), &FIELDBOOK_BLOB_EXISTS) {
            return Ok(Created::AlreadyStored);
        }
        if status == StatusCode::CREATED {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Step::protocol("an upload was created without a Location"))?
                .to_owned();
            let offset = header_u64(response.headers(), &UPLOAD_OFFSET).unwrap_or(0);
            return Ok(Created::Upload { location, offset });
        }
        // Nothing in a refused creation is worth retrying (too large, empty,
        // a stored blob of another length): report it.
        let refusal = classify(response).await?;
        Ok(Created::Refused {
            code: refusal.code(),
            message: refusal.message(),
        })
    }

    /// The server's offset, or `None` when the upload is gone.
    pub(super) async fn head(&self, endpoint: &Endpoint, url: &str) -> Result<Option<u64>, Step> {
        let target = endpoint.resolve(url).map_err(Step::Fatal)?;
        let response = self
            .request(reqwest::Method::HEAD, target)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .send()
            .await
            .map_err(Step::transport)?;
        if response.status() == StatusCode::OK {
            return header_u64(response.headers(), &UPLOAD_OFFSET)
                .map(Some)
                .ok_or_else(|| Step::protocol("HEAD answered without Upload-Offset"));
        }
        match classify(response).await? {
            Refusal::Gone => Ok(None),
            refusal => Err(Step::protocol(&format!(
                "HEAD of an upload was refused: {}",
                refusal.message()
            ))),
        }
    }

    /// How this server wants chunks checked: asks once (OPTIONS, tus
    /// discovery) per uploader. Anything but a clear offer of CRC-32 (an
    /// older server, a failed request) means SHA-256, which every version
    /// of the server checks.
    pub(super) async fn chunk_check(&self, endpoint: &Endpoint) -> ChunkCheck {
        *self
            .chunk_check
            .get_or_init(|| async {
                let response = self
                    .request(reqwest::Method::OPTIONS, endpoint.collection.clone())
                    .send()
                    .await;
                let algorithms = response.ok().and_then(|r| {
                    r.headers()
                        .get(&TUS_CHECKSUM_ALGORITHM)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                });
                ChunkCheck::offered_by(algorithms.as_deref())
            })
            .await
    }

    pub(super) async fn patch(
        &self,
        target: &Url,
        media: &MediaStore,
        sha256: &Sha256Hex,
        chunk: Chunk,
    ) -> Result<Patched, Step> {
        let checksum = chunk.digest.header_value();
        let response = self
            .request(reqwest::Method::PATCH, target.clone())
            .timeout(self.patch_timeout)
            .header(CONTENT_TYPE, OFFSET_OCTET_STREAM)
            .header(&UPLOAD_OFFSET, chunk.offset)
            .header(&UPLOAD_CHECKSUM, checksum)
            .header(CONTENT_LENGTH, chunk.len)
            .body(reqwest::Body::wrap_stream(FileRegion::spawn(
                media.clone(),
                sha256.clone(),
                chunk.offset,
                chunk.len,
            )))
            .send()
            .await
            .map_err(Step::transport)?;
        if response.status() == StatusCode::NO_CONTENT {
            return header_u64(response.headers(), &UPLOAD_OFFSET)
                .map(Patched::Offset)
                .ok_or_else(|| Step::protocol("PATCH answered without Upload-Offset"));
        }
        Ok(match classify(response).await? {
            Refusal::Gone => Patched::Gone,
            Refusal::Conflict(current) => Patched::OffsetMismatch(current),
            Refusal::ChecksumMismatch => Patched::ChecksumMismatch,
            Refusal::HashMismatch => Patched::HashMismatch,
            // 413 means the offsets disagree: resync from HEAD.
            Refusal::Other { status, .. } if status == StatusCode::PAYLOAD_TOO_LARGE => {
                Patched::OffsetMismatch(None)
            }
            refusal => Patched::Refused {
                code: refusal.code(),
                message: refusal.message(),
            },
        })
    }
}

/// The server root and the tus collection under it.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    root: Url,
    collection: Url,
}

impl Endpoint {
    /// Upload URLs are stored as the server gave them (a path): resolving
    /// them against the current server address keeps them valid when the
    /// server comes back on another address.
    pub(super) fn resolve(&self, location: &str) -> Result<Url, SyncError> {
        self.root
            .join(location)
            .map_err(|e| SyncError::Protocol(format!("upload location {location:?}: {e}")))
    }
}

pub(super) enum Created {
    Upload { location: String, offset: u64 },
    AlreadyStored,
    Refused { code: String, message: String },
}

pub(super) enum Patched {
    Offset(u64),
    OffsetMismatch(Option<u64>),
    ChecksumMismatch,
    HashMismatch,
    Gone,
    Refused { code: String, message: String },
}

/// A non-success answer, sorted by what the uploader does about it.
enum Refusal {
    /// 404 / 410: the upload no longer exists.
    Gone,
    /// 409 with the server's current offset (if it said).
    Conflict(Option<u64>),
    ChecksumMismatch,
    /// 422: the whole file's hash differs from the declared one.
    HashMismatch,
    Other {
        status: StatusCode,
        code: String,
        message: String,
    },
}

impl Refusal {
    fn code(&self) -> String {
        match self {
            Refusal::Gone => "upload_not_found".into(),
            Refusal::Conflict(_) => "offset_mismatch".into(),
            Refusal::ChecksumMismatch => "checksum_mismatch".into(),
            Refusal::HashMismatch => "blob_hash_mismatch".into(),
            Refusal::Other { code, .. } => code.clone(),
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::Other {
                status, message, ..
            } => format!("the server refused the file (HTTP {status}): {message}"),
            other => format!("the server refused the request ({})", other.code()),
        }
    }
}

/// Sorts an error answer: transient ones and 401 become a [`Step`], the
/// rest a [`Refusal`] for the caller to act on.
async fn classify(response: Response) -> Result<Refusal, Step> {
    let status = response.status();
    let headers = response.headers().clone();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    let code = body["code"].as_str().unwrap_or("").to_owned();
    let message = body["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| status.to_string());
    match status.as_u16() {
        401 => Err(Step::Fatal(SyncError::Unauthorized)),
        404 | 410 => Ok(Refusal::Gone),
        409 if code == "blob_length_mismatch" => Ok(Refusal::Other {
            status,
            code,
            message,
        }),
        409 => Ok(Refusal::Conflict(header_u64(&headers, &UPLOAD_OFFSET))),
        422 => Ok(Refusal::HashMismatch),
        // Another PATCH of this upload still runs (typically ours, cut a
        // moment ago, not yet noticed by the server): wait, then HEAD.
        423 => Err(Step::Transient {
            error: SyncError::Server {
                status: 423,
                message,
                retry_after: None,
            },
            wait: None,
        }),
        429 => {
            let retry_after = header_u64(&headers, &RETRY_AFTER).map(Duration::from_secs);
            Err(Step::Transient {
                error: SyncError::RateLimited {
                    message,
                    retry_after,
                },
                wait: retry_after,
            })
        }
        CHECKSUM_MISMATCH => Ok(Refusal::ChecksumMismatch),
        500..=599 => {
            let retry_after = header_u64(&headers, &RETRY_AFTER).map(Duration::from_secs);
            Err(Step::Transient {
                error: SyncError::Server {
                    status: status.as_u16(),
                    message,
                    retry_after,
                },
                wait: retry_after,
            })
        }
        _ => Ok(Refusal::Other {
            status,
            code: if code.is_empty() {
                format!("http_{}", status.as_u16())
            } else {
                code
            },
            message,
        }),
    }
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn header_is_true(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
}

/// `sha256 <base64 of the hex digest>[,mime <base64>]`. A mime type the
/// server would refuse is left out rather than failing the upload over it.
fn upload_metadata(sha256: &Sha256Hex, mime: &str) -> HeaderValue {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut value = format!("sha256 {}", b64.encode(sha256.as_str()));
    let sendable_mime = !mime.is_empty()
        && mime.len() <= 255
        && mime.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if sendable_mime {
        value.push_str(",mime ");
        value.push_str(&b64.encode(mime));
    }
    HeaderValue::from_str(&value).expect("base64 and ASCII letters are valid header text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_carries_the_hex_hash_in_base64_and_a_sane_mime() {
        let hash = Sha256Hex::digest(b"photo");
        let b64 = &base64::engine::general_purpose::STANDARD;
        let value = upload_metadata(&hash, "image/jpeg");
        assert_eq!(
            value.to_str().unwrap(),
            format!(
                "sha256 {},mime {}",
                b64.encode(hash.as_str()),
                b64.encode("image/jpeg")
            )
        );
        let without_mime = upload_metadata(&hash, "bad\nmime");
        assert_eq!(
            without_mime.to_str().unwrap(),
            format!("sha256 {}", b64.encode(hash.as_str()))
        );
    }

    #[test]
    fn upload_locations_resolve_against_the_current_server() {
        for (server, expected_collection) in [
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/api/v1/blobs",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/api/v1/blobs",
            ),
            (
                "https://example.com/fieldbook",
                "https://example.com/fieldbook/api/v1/blobs",
            ),
        ] {
            let uploader = BlobUploader::new(reqwest::Client::new(), server, "t".into());
            let endpoint = uploader.endpoint().unwrap();
            assert_eq!(endpoint.collection.as_str(), expected_collection);
        }
        let uploader = BlobUploader::new(reqwest::Client::new(), "http://10.0.0.2:9", "t".into());
        let endpoint = uploader.endpoint().unwrap();
        assert_eq!(
            endpoint.resolve("/api/v1/blobs/abc").unwrap().as_str(),
            "http://10.0.0.2:9/api/v1/blobs/abc"
        );
        let invalid = BlobUploader::new(reqwest::Client::new(), "ftp://x", "t".into());
        assert_eq!(
            invalid.endpoint().err().unwrap().code(),
            "invalid_server_url"
        );
    }
}
