//! The HTTP application: routes, middleware (request ids, tracing, auth, body
//! limits, timeouts) and the listener.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use fieldbook_protocol::{ErrorCode, Health};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::blobs::{self, BlobStore, UploadQuota};
use crate::client_address::Peer;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::password::PasswordPool;
use crate::pull::PullSlots;
use crate::storage::Storage;
use crate::tls::{self, TlsListener};
use crate::{
    admin, auth, blob_download, console_assets, held_work, installations, openapi, ops, pull, push,
    report_templates, send_back, updates, verify, wipe,
};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub storage: Arc<Storage>,
    pub config: Arc<ServerConfig>,
    pub blobs: Arc<BlobStore>,
    /// Verifies login passwords, a bounded number at a time.
    pub passwords: Arc<PasswordPool>,
    /// Pulls running at once (load shedding, see [`crate::pull`]).
    pub pull_slots: Arc<PullSlots>,
    /// Session lookups (each a blocking read) this instance has made: the
    /// authentication work that arrived, for tests and load checks.
    pub session_lookups: Arc<AtomicU64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("cannot open the blob store: {0}")]
    Blobs(#[from] blobs::BlobError),
    #[error("cannot prepare password hashing: {0}")]
    Passwords(#[from] crate::password::PasswordError),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl AppState {
    /// Opens the database and blob store in the configured data dir.
    pub fn open(config: ServerConfig) -> Result<AppState, StartError> {
        let storage = Storage::open_url(&config.database())?;
        let blobs = BlobStore::open_at(
            &config.data_dir,
            config.blob_store.as_ref(),
            config.max_blob_bytes,
        )?
        .with_upload_quota(UploadQuota {
            max_unfinished: config.max_unfinished_uploads_per_user,
            max_reserved_bytes: config.max_reserved_upload_bytes_per_user,
        });
        let passwords = PasswordPool::new(config.password_hashing, config.password_workers)?;
        Ok(AppState {
            pull_slots: Arc::new(PullSlots::new(
                config.max_concurrent_pulls,
                config.pull_queue_len(),
                config.pull_queue_wait,
            )),
            session_lookups: Arc::new(AtomicU64::new(0)),
            storage: Arc::new(storage),
            passwords: Arc::new(passwords),
            config: Arc::new(config),
            blobs: Arc::new(blobs),
        })
    }
}

/// Server liveness and API version.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "meta",
    responses((status = 200, description = "The server is up", body = Health))
)]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        api_version: fieldbook_protocol::API_VERSION.into(),
        server_version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document of this API"))
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

async fn route_not_found() -> ApiError {
    ApiError::not_found("route")
}

/// Answers `timeout` when a JSON request takes longer than configured.
async fn enforce_timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Timeout,
            "The server took too long to answer; try again",
        )
        .into_response(),
    }
}

/// Body limit of every JSON route except push (logins, admin requests).
pub const SMALL_JSON_BODY_LIMIT: usize = 256 * 1024;

/// All routes with their middleware.
pub fn router(state: AppState) -> Router {
    let public = Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/auth/login", post(auth::login_handler))
        .route("/api/v1/ops/session", post(ops::session::login_handler))
        .route(
            "/api/v1/devices/wipe-confirmation",
            post(wipe::confirm_wipe_handler),
        )
        // What a completion certificate's QR code opens (public, HTML).
        .route("/verify", get(verify::verify_handler));

    let authenticated = Router::new()
        .route("/api/v1/auth/logout", post(auth::logout_handler))
        .route("/api/v1/auth/session", get(auth::session_handler))
        // A push batch may carry signed reports with their strokes: the one
        // route with a large JSON limit.
        .route(
            "/api/v1/sync/push",
            post(push::push_handler)
                .layer(DefaultBodyLimit::max(state.config.json_body_limit))
                .layer(from_fn_with_state(
                    state.clone(),
                    ops::people::record_device_contact,
                )),
        )
        .route(
            "/api/v1/installations/search",
            get(installations::search_handler),
        )
        .route(
            "/api/v1/installations/{installation_id}",
            get(installations::installation_handler),
        )
        .route(
            "/api/v1/installations/{installation_id}/report",
            get(installations::report_handler),
        )
        .route(
            "/api/v1/installations/{installation_id}/report/events",
            get(installations::report_events_handler),
        )
        .route(
            "/api/v1/media/{media_id}",
            get(installations::media_handler),
        )
        .route("/api/v1/admin/users", post(admin::create_user_handler))
        .route("/api/v1/admin/teams", post(admin::create_team_handler))
        .route(
            "/api/v1/admin/teams/{team_id}/members",
            post(admin::add_team_member_handler),
        )
        .route(
            "/api/v1/admin/teams/{team_id}/members/{user_id}",
            delete(admin::remove_team_member_handler),
        )
        .route(
            "/api/v1/admin/installations",
            post(admin::create_installation_handler),
        )
        .route(
            "/api/v1/admin/installations/{installation_id}/assignments",
            post(admin::assign_handler),
        )
        .route(
            "/api/v1/admin/installations/{installation_id}/transition",
            post(admin::transition_handler),
        )
        .route(
            "/api/v1/admin/assignments/{assignment_id}/withdraw",
            post(admin::withdraw_handler),
        )
        .route(
            "/api/v1/ops/session",
            get(ops::session::session_handler).delete(ops::session::logout_handler),
        )
        .route(
            "/api/v1/ops/installations",
            get(ops::installations::list_handler),
        )
        .route(
            "/api/v1/ops/installations/{installation_id}",
            get(ops::installations::detail_handler),
        )
        .route(
            "/api/v1/ops/installations/{installation_id}/certificate",
            get(ops::certificates::download_handler),
        )
        .route("/api/v1/ops/review", get(ops::review::review_handler))
        .route("/api/v1/ops/counts", get(ops::review::counts_handler))
        .route(
            "/api/v1/ops/surveys/unplanned",
            get(ops::planning::unplanned_handler),
        )
        .route(
            "/api/v1/ops/surveys",
            post(ops::planning::create_survey_handler),
        )
        .route(
            "/api/v1/ops/surveys/{survey_id}/installation",
            post(ops::planning::plan_handler),
        )
        .route(
            "/api/v1/ops/assignments/{assignment_id}/reassign",
            post(ops::assignments::reassign_handler),
        )
        .route("/api/v1/ops/people", get(ops::people::people_handler))
        .route(
            "/api/v1/ops/sessions/{session_id}/revoke",
            post(ops::people::revoke_session_handler),
        )
        .route(
            "/api/v1/ops/devices/{device_id}/revoke",
            post(ops::people::revoke_device_handler),
        )
        .route(
            "/api/v1/ops/devices/{device_id}/wipe",
            post(wipe::order_wipe_handler),
        )
        .route(
            "/api/v1/admin/installations/{installation_id}/send-back",
            post(send_back::send_back_handler),
        )
        .route("/api/v1/admin/held-work", get(held_work::list_handler))
        .route(
            "/api/v1/admin/held-work/{held_work_id}",
            get(held_work::get_handler),
        )
        .route(
            "/api/v1/admin/held-work/{held_work_id}/accept",
            post(held_work::accept_handler),
        )
        .route(
            "/api/v1/admin/held-work/{held_work_id}/keep",
            post(held_work::keep_handler),
        )
        .route(
            "/api/v1/admin/report-templates",
            get(report_templates::list_handler).post(report_templates::publish_handler),
        )
        .route(
            "/api/v1/admin/report-templates/{template_id}/{version}",
            get(report_templates::get_handler),
        )
        .route(
            "/api/v1/admin/installations/{installation_id}/report-template",
            put(report_templates::set_installation_template_handler),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::require_auth));

    // The pull routes: a pull that finds every pull slot taken is shed
    // before authentication's blocking session lookup (see pull.rs).
    let sync_reads = Router::new()
        .route(
            "/api/v1/sync/pull",
            get(pull::pull_handler).layer(from_fn_with_state(
                state.clone(),
                ops::people::record_device_contact,
            )),
        )
        .route("/api/v1/sync/near-window", get(pull::near_window_handler))
        .route_layer(from_fn_with_state(state.clone(), auth::require_auth))
        // Added last, so it runs first.
        .route_layer(from_fn_with_state(state.clone(), pull::shed_when_busy));

    let json_api = public
        .merge(authenticated)
        .merge(sync_reads)
        .layer(DefaultBodyLimit::max(SMALL_JSON_BODY_LIMIT))
        .layer(from_fn_with_state(state.clone(), enforce_timeout))
        .with_state(state.clone());

    // Blob uploads stream large bodies for a long time: no JSON body limit and
    // no request deadline (the blob store bounds sizes and idle PATCHes).
    let blob_api: Router = Router::new()
        .nest("/api/v1/blobs", blobs::router(Arc::clone(&state.blobs)))
        .layer(from_fn_with_state(
            state.clone(),
            auth::require_auth_except_tus_options,
        ))
        .layer(DefaultBodyLimit::disable());

    // Long-lived answers (event streams, video downloads): authenticated,
    // but outside the JSON request deadline.
    let streaming: Router = Router::new()
        .route("/api/v1/ops/changes", get(ops::changes::changes_handler))
        .route(
            "/api/v1/blobs/{upload_id}",
            get(blob_download::download_handler),
        )
        .route(
            "/api/v1/blobs/{upload_id}/thumbnail",
            get(blob_download::thumbnail_handler),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::require_auth))
        .with_state(state.clone());

    // App updates: public, and the artifact streams outside the deadline.
    let updates: Router = Router::new()
        .route(
            "/api/v1/updates/{target}/{current_version}",
            get(updates::manifest_handler),
        )
        .route(
            "/api/v1/updates/{target}/files/{file_name}",
            get(updates::artifact_handler),
        )
        .with_state(state.clone());

    let console: Router = Router::new()
        .route("/console", get(console_assets::redirect_to_console))
        .route("/console/", get(console_assets::console_handler))
        .route("/console/{*path}", get(console_assets::console_handler));

    json_api
        .merge(blob_api)
        .merge(streaming)
        .merge(updates)
        .merge(console)
        .fallback(route_not_found)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .on_failure(log_failure)
                .make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %request_id,
                        user = tracing::field::Empty,
                    )
                }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// A 5xx answer, beside the response line. A 503 is the server saying "not
/// now" to a device that will retry (pulls shed when full, a conflict still
/// lost after the in-server retries): worth a warning, not the ERROR line
/// that tells an operator something broke, and not one warning each: under
/// load shedding they drowned the log (49,537 lines in one benchmark run),
/// so they are counted and logged at most once a second ([`RetryLaterLog`]).
fn log_failure(failure: ServerErrorsFailureClass, latency: Duration, _span: &tracing::Span) {
    match failure {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            static RETRY_LATER: RetryLaterLog = RetryLaterLog::new();
            if let Some(count) = RETRY_LATER.count_one(Instant::now()) {
                tracing::warn!(
                    answers = count,
                    latency_ms = latency.as_millis() as u64,
                    "503: asked to retry later ({count} answers since the last such line)"
                );
            }
        }
        other => {
            tracing::error!(classification = %other, latency_ms = latency.as_millis() as u64, "response failed");
        }
    }
}

/// Counts "retry later" answers and says when to log them: the first after
/// a quiet second at once, then at most once a second with the count since
/// the last line. (The last few of a burst are logged with the next one;
/// every answer also has its INFO response line.)
struct RetryLaterLog {
    state: std::sync::Mutex<Option<(Instant, u64)>>,
}

impl RetryLaterLog {
    const EVERY: Duration = Duration::from_secs(1);

    const fn new() -> Self {
        Self {
            state: std::sync::Mutex::new(None),
        }
    }

    /// Counts one answer at `now`; `Some(count)` when a line is due.
    fn count_one(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            Some((last, count)) if now.duration_since(*last) < Self::EVERY => {
                *count += 1;
                None
            }
            Some((last, count)) => {
                let due = *count + 1;
                (*last, *count) = (now, 0);
                Some(due)
            }
            None => {
                *state = Some((now, 0));
                Some(1)
            }
        }
    }
}

/// A server running in this process (the binary's `serve`, and tests).
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    /// The blob-arrival watcher and the abandoned-upload expiry.
    background: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.background.iter().for_each(JoinHandle::abort);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Resolves if the server stops on its own (only on an error).
    pub async fn stopped(&mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.background.iter().for_each(JoinHandle::abort);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves in a background task.
/// With `config.tls` set it serves HTTPS only.
pub async fn start(state: AppState, addr: SocketAddr) -> Result<RunningServer, StartError> {
    // Read the certificate before binding: a bad file fails the start.
    let tls = state.config.tls.as_ref().map(tls::acceptor).transpose()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Listen { addr, source })?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let blob_arrival = crate::blob_arrival::spawn(
        Arc::clone(&state.storage),
        Arc::clone(&state.blobs),
        state.config.blob_arrival_poll,
    );
    // Uploads abandoned by a device (lost, wiped) would otherwise keep their
    // partial files forever.
    let upload_expiry = blobs::spawn_upload_expiry(
        Arc::clone(&state.blobs),
        UPLOAD_EXPIRY_SWEEP,
        blobs::UPLOAD_EXPIRY,
    );
    // The peer address keys the login throttle (see client_address).
    let app = router(state.clone()).into_make_service_with_connect_info::<Peer>();
    let stop = async move {
        let _ = shutdown_rx.await;
    };
    let task = match tls {
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }),
        Some(acceptor) => {
            let listener = TlsListener::new(listener, acceptor)
                .map_err(|source| StartError::Listen { addr, source })?;
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            })
        }
    };
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        state,
        shutdown: Some(shutdown_tx),
        task,
        background: vec![blob_arrival, upload_expiry],
    })
}

/// How often abandoned tus uploads are looked for.
const UPLOAD_EXPIRY_SWEEP: Duration = Duration::from_secs(60 * 60);

/// How long `serve` waits for in-flight requests on Ctrl-C.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_later_answers_are_logged_at_most_once_a_second_with_their_count() {
        let log = RetryLaterLog::new();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // The first after a quiet time: logged at once.
        assert_eq!(log.count_one(at(0)), Some(1));
        // A burst within the second: counted, not logged.
        for ms in 1..=500 {
            assert_eq!(log.count_one(at(ms)), None);
        }
        // The first one a second later carries the whole burst.
        assert_eq!(log.count_one(at(1_000)), Some(501));
        assert_eq!(log.count_one(at(1_200)), None);
        // After a long quiet time: one line for the one left and this one.
        assert_eq!(log.count_one(at(60_000)), Some(2));
        assert_eq!(log.count_one(at(61_000)), Some(1));
    }
}
