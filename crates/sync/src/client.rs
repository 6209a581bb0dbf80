//! The HTTP client of the sync API (`/api/v1`): one function per route,
//! speaking the `fieldbook-protocol` types, mapping failures onto
//! [`SyncError`] (network → `offline`, 5xx → `server_error`, 401 →
//! `unauthorized`, 429 → `rate_limited` with the server's wait).

use std::sync::OnceLock;
use std::time::Duration;

use fieldbook_protocol::{
    ErrorBody, ErrorCode, Health, LoginRequest, LoginResponse, PullPage, PushRequest, PushResponse,
    SessionInfo,
};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::SyncError;

/// A client for one server. Cheap to clone (reqwest pools connections).
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    device: Option<DeviceReport>,
}

/// What the device tells the server on pull and push, so Central Ops see
/// when it last synced, its app version and what it still has to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceReport {
    pub device_id: uuid::Uuid,
    /// Local changes waiting to be pushed.
    pub pending_changes: u64,
}

/// Builds the shared reqwest client (rustls): the built-in web roots plus
/// the operating system's certificate store (see [`crate::transport`]).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, SyncError> {
    let mut builder = reqwest::Client::builder();
    for root in crate::transport::os_root_certificates() {
        builder = builder.add_root_certificate(root.clone());
    }
    builder
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        // Per-request deadline for the JSON routes; blob uploads set their own.
        .timeout(timeout)
        .user_agent(concat!("fieldbook-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SyncError::Protocol(format!("cannot build the HTTP client: {e}")))
}

/// An HTTP client built on first use instead of when its owner is made:
/// building one parses a store of certificate authorities (the system's,
/// 4.5–9.4 ms, for the sync engine), which held up the app's window at
/// every start although nothing is sent before the window is up. A build
/// that fails is tried again at the next use, and fails that request, not
/// the start.
pub struct LazyHttpClient {
    build: Box<dyn Fn() -> Result<reqwest::Client, SyncError> + Send + Sync>,
    client: OnceLock<reqwest::Client>,
}

impl LazyHttpClient {
    /// A client as [`http_client`] builds it, with this per-request deadline.
    pub fn new(timeout: Duration) -> Self {
        Self::built_by(move || http_client(timeout))
    }

    /// A client `build` makes at the first use.
    pub fn built_by(
        build: impl Fn() -> Result<reqwest::Client, SyncError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            build: Box::new(build),
            client: OnceLock::new(),
        }
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> Result<&reqwest::Client, SyncError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        // Two first uses at once both build one; the first stored is kept.
        let built = (self.build)()?;
        Ok(self.client.get_or_init(|| built))
    }
}

impl std::fmt::Debug for LazyHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyHttpClient")
            .field("built", &self.client.get().is_some())
            .finish_non_exhaustive()
    }
}

/// Maps a transport failure: anything that did not produce a response is
/// "offline" (the loop probes and retries), except a body we could not parse.
pub fn transport_error(e: reqwest::Error) -> SyncError {
    if e.is_decode() {
        return SyncError::Protocol(e.to_string());
    }
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    SyncError::Offline { detail }
}

/// Maps a non-2xx answer onto a [`SyncError`], reading the `{code, message}`
/// body when there is one.
pub async fn error_from_response(response: Response) -> SyncError {
    let status = response.status();
    let header_wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let text = response.text().await.unwrap_or_default();
    let body: Option<ErrorBody> = serde_json::from_str(&text).ok();
    let message = body
        .as_ref()
        .map(|b| b.message.clone())
        .unwrap_or_else(|| text.chars().take(200).collect());
    if let Some(order) = body
        .as_ref()
        .filter(|b| b.code == ErrorCode::WipeOrdered)
        .and_then(|b| b.wipe.clone())
    {
        return SyncError::WipeOrdered(order);
    }
    if status.is_server_error() {
        return SyncError::Server {
            status: status.as_u16(),
            message,
            retry_after: body
                .as_ref()
                .and_then(|b| b.retry_after_secs)
                .or(header_wait)
                .map(Duration::from_secs),
        };
    }
    match status {
        StatusCode::UNAUTHORIZED => {
            if body.as_ref().map(|b| b.code) == Some(ErrorCode::InvalidCredentials) {
                SyncError::BadCredentials
            } else {
                SyncError::Unauthorized
            }
        }
        StatusCode::TOO_MANY_REQUESTS => SyncError::RateLimited {
            retry_after: body
                .as_ref()
                .and_then(|b| b.retry_after_secs)
                .or(header_wait)
                .map(Duration::from_secs),
            message,
        },
        _ => match body {
            Some(body) => SyncError::Refused {
                status: status.as_u16(),
                code: body.code,
                message: body.message,
            },
            None => SyncError::Protocol(format!("HTTP {status} without an error body: {message}")),
        },
    }
}

/// Whether a request failed because the connection it went out on was closed
/// before any answer came back: typically a pooled keep-alive connection the
/// server (restarted, or timing out idle connections) closed just as we
/// reused it. Nothing was answered, so nothing was decided for this request.
fn closed_before_answer(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            if hyper_error.is_incomplete_message() {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// Sends a request, and sends it once more on a fresh connection when the
/// first went out on a connection that was closed before any answer. Every
/// request this client makes may be sent twice: reads do not change
/// anything, and a push is idempotent by mutation id (the server answers a
/// repeated mutation with its first result).
async fn send(request: RequestBuilder) -> Result<Response, SyncError> {
    let again = request.try_clone();
    match request.send().await {
        Ok(response) => Ok(response),
        Err(e) if closed_before_answer(&e) => match again {
            Some(again) => {
                tracing::debug!(error = %e, "connection closed before an answer; sending once more");
                again.send().await.map_err(transport_error)
            }
            None => Err(transport_error(e)),
        },
        Err(e) => Err(transport_error(e)),
    }
}

async fn send_json<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, SyncError> {
    let response = send(request).await?;
    if !response.status().is_success() {
        return Err(error_from_response(response).await);
    }
    response.json().await.map_err(transport_error)
}

impl ApiClient {
    /// `base` is a normalised server URL (no trailing slash).
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into(),
            device: None,
        }
    }

    /// Sends the device's id, app version and pending changes on pull and
    /// push (optional headers; servers that do not know them ignore them).
    pub fn with_device(mut self, device: DeviceReport) -> Self {
        self.device = Some(device);
        self
    }

    fn with_device_headers(&self, request: RequestBuilder) -> RequestBuilder {
        let request = request.header(
            fieldbook_protocol::APP_VERSION_HEADER,
            env!("CARGO_PKG_VERSION"),
        );
        match self.device {
            Some(device) => request
                .header(
                    fieldbook_protocol::DEVICE_HEADER,
                    device.device_id.to_string(),
                )
                .header(
                    fieldbook_protocol::PENDING_HEADER,
                    device.pending_changes.to_string(),
                ),
            None => request,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.base, fieldbook_protocol::API_PREFIX)
    }

    /// `GET /health`: the connectivity probe.
    pub async fn health(&self) -> Result<Health, SyncError> {
        send_json(self.http.get(self.url("/health"))).await
    }

    /// `POST /auth/login`.
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginResponse, SyncError> {
        let request = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        send_json(self.http.post(self.url("/auth/login")).json(&request)).await
    }

    /// `POST /auth/logout`: revokes the token on the server.
    pub async fn logout(&self, token: &str) -> Result<(), SyncError> {
        let response = send(self.http.post(self.url("/auth/logout")).bearer_auth(token)).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_from_response(response).await)
        }
    }

    /// `GET /auth/session`.
    pub async fn session(&self, token: &str) -> Result<SessionInfo, SyncError> {
        send_json(self.http.get(self.url("/auth/session")).bearer_auth(token)).await
    }

    /// `GET /sync/pull?cursor=N&limit=M`.
    pub async fn pull(&self, token: &str, cursor: u64, limit: u32) -> Result<PullPage, SyncError> {
        let page: PullPage = send_json(
            self.with_device_headers(
                self.http
                    .get(self.url("/sync/pull"))
                    .query(&[("cursor", cursor), ("limit", u64::from(limit))])
                    .bearer_auth(token),
            ),
        )
        .await?;
        if page.next_cursor < page.cursor {
            return Err(SyncError::Protocol(format!(
                "pull cursor went backwards ({} after {})",
                page.next_cursor, page.cursor
            )));
        }
        Ok(page)
    }

    /// `GET /sync/near-window`: the caller's jobs of the coming days, for a
    /// first sync to show before its full pull. `None` from a server that
    /// does not have the route (404): the device then only pulls.
    pub async fn near_window(
        &self,
        token: &str,
        from: chrono::NaiveDate,
        days: u32,
    ) -> Result<Option<PullPage>, SyncError> {
        let response = send(
            self.http
                .get(self.url("/sync/near-window"))
                .query(&[("from", from.to_string()), ("days", days.to_string())])
                .bearer_auth(token),
        )
        .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(error_from_response(response).await);
        }
        response.json().await.map(Some).map_err(transport_error)
    }

    /// `GET /installations/search`: the caller's jobs on the server whose
    /// customer, postcode or number contains `text`.
    pub async fn search_installations(
        &self,
        token: &str,
        text: &str,
    ) -> Result<fieldbook_protocol::InstallationSearchResults, SyncError> {
        send_json(
            self.http
                .get(self.url("/installations/search"))
                .query(&[("q", text)])
                .bearer_auth(token),
        )
        .await
    }

    /// `POST /sync/push`: one answer per mutation, same order.
    pub async fn push(
        &self,
        token: &str,
        request: &PushRequest,
    ) -> Result<PushResponse, SyncError> {
        let response: PushResponse = send_json(
            self.with_device_headers(
                self.http
                    .post(self.url("/sync/push"))
                    .bearer_auth(token)
                    .json(request),
            ),
        )
        .await?;
        let answered = response.results.len() == request.mutations.len()
            && response
                .results
                .iter()
                .zip(&request.mutations)
                .all(|(result, sent)| result.mutation_id == sent.mutation_id);
        if !answered {
            return Err(SyncError::Protocol(format!(
                "push answered {} result(s) for {} mutation(s), not one per mutation in order",
                response.results.len(),
                request.mutations.len()
            )));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Reads one HTTP request head (the health probe has no body).
    async fn read_request(stream: &mut tokio::net::TcpStream) {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed before sending its request");
            seen.extend_from_slice(&buf[..n]);
        }
    }

    /// A server that takes the first request and closes the connection
    /// without answering (what a restarting server does to a pooled
    /// keep-alive connection), then answers the next connection properly.
    async fn server_that_drops_the_first_request() -> (String, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut first, _) = listener.accept().await.unwrap();
            read_request(&mut first).await;
            drop(first);
            let (mut second, _) = listener.accept().await.unwrap();
            read_request(&mut second).await;
            let body = serde_json::to_string(&Health {
                status: "ok".into(),
                api_version: "v1".into(),
                server_version: "test".into(),
            })
            .unwrap();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            second.write_all(answer.as_bytes()).await.unwrap();
            second.shutdown().await.unwrap();
            2
        });
        (base, task)
    }

    #[tokio::test]
    async fn a_request_dropped_without_an_answer_is_sent_once_more() {
        let (base, server) = server_that_drops_the_first_request().await;
        let client = ApiClient::new(http_client(Duration::from_secs(5)).unwrap(), base);
        let health = client
            .health()
            .await
            .expect("answered on the second connection");
        assert_eq!(health.status, "ok");
        assert_eq!(server.await.unwrap(), 2, "exactly two connections");
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_retried_and_reads_as_offline() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = ApiClient::new(http_client(Duration::from_secs(5)).unwrap(), base);
        let error = client.health().await.unwrap_err();
        assert!(matches!(error, SyncError::Offline { .. }), "{error:?}");
    }
}
