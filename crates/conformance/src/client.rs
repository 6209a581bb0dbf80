//! The HTTP side of the suite: one server at a base URL, answers read as
//! status + headers + JSON, and the tus requests the blob checks send.

use std::time::Duration;

use base64::Engine as _;
use fieldbook_domain::Sha256Hex;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::CheckError;

/// The tus version the blob API speaks.
pub const TUS_VERSION: &str = "1.0.0";

/// A server under test.
#[derive(Debug, Clone)]
pub struct Api {
    base_url: String,
    http: reqwest::Client,
}

/// One answer: status, headers and the body as JSON (`Null` when empty, a
/// JSON string when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A header as text, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `METHOD /path answered STATUS BODY`, for failure reasons.
    pub fn describe(&self) -> String {
        let mut body = self.body.to_string();
        if body.len() > 300 {
            body.truncate(300);
            body.push('…');
        }
        format!(
            "{} {} answered {} {}",
            self.method, self.path, self.status, body
        )
    }
}

impl Api {
    pub fn new(base_url: &str) -> Result<Api, CheckError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Api {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, CheckError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.answer(method, path, request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Result<Answer, CheckError> {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Result<Answer, CheckError> {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Sends a prepared request and reads its answer.
    async fn answer(
        &self,
        method: Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, CheckError> {
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer {
            method,
            path: path.to_owned(),
            status,
            headers,
            body,
        })
    }

    /// The raw bytes of a GET (blob downloads).
    pub async fn get_bytes(
        &self,
        path: &str,
        token: &str,
    ) -> Result<(StatusCode, Vec<u8>), CheckError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.bytes().await?.to_vec()))
    }

    /// tus creation: `POST /api/v1/blobs` for a blob of `length` bytes whose
    /// SHA-256 is `sha256`.
    pub async fn tus_create(
        &self,
        token: &str,
        sha256: &Sha256Hex,
        length: u64,
    ) -> Result<Answer, CheckError> {
        let metadata = format!(
            "sha256 {}",
            base64::engine::general_purpose::STANDARD.encode(sha256.as_str())
        );
        let request = self
            .http
            .post(format!("{}/api/v1/blobs", self.base_url))
            .bearer_auth(token)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", metadata);
        self.answer(Method::POST, "/api/v1/blobs", request).await
    }

    /// tus `PATCH` of `chunk` at `offset` to the upload at `location` (a
    /// path or a URL), with an `Upload-Checksum` of `checksum_of` when given.
    pub async fn tus_patch(
        &self,
        token: &str,
        location: &str,
        offset: u64,
        chunk: &[u8],
        checksum_of: Option<&[u8]>,
    ) -> Result<Answer, CheckError> {
        let url = self.resolve(location);
        let mut request = self
            .http
            .patch(&url)
            .bearer_auth(token)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .body(chunk.to_vec());
        if let Some(bytes) = checksum_of {
            let digest = Sha256Hex::digest(bytes).to_bytes();
            request = request.header(
                "Upload-Checksum",
                format!(
                    "sha256 {}",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                ),
            );
        }
        self.answer(Method::PATCH, location, request).await
    }

    /// A tus request with no body (`HEAD`, `DELETE`, `OPTIONS`).
    pub async fn tus_bare(
        &self,
        method: Method,
        token: Option<&str>,
        location: &str,
    ) -> Result<Answer, CheckError> {
        let mut request = self
            .http
            .request(method.clone(), self.resolve(location))
            .header("Tus-Resumable", TUS_VERSION);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.answer(method, location, request).await
    }

    /// A `Location` may be absolute or a path on this server.
    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base_url)
        }
    }
}
