//! Login, logout, sessions and the middleware that turns a bearer token into
//! a [`Caller`].
//!
//! Passwords are argon2id hashes (PHC strings). Tokens are 256 random bits,
//! given to the client once and stored only as their SHA-256. Unknown
//! usernames and wrong passwords get the same answer after the same work, and
//! every username (known or not) is throttled the same way.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use fieldbook_domain::{validation, User};
use fieldbook_protocol::{ErrorCode, LoginRequest, LoginResponse, SessionInfo};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::caller::Caller;
use crate::client_address::{client_address, Peer};
use crate::config::ServerConfig;
use crate::error::{blocking, ApiError};
use crate::json::ApiJson;
use crate::password::MAX_PASSWORD_BYTES;
use crate::storage::{LoginLimit, LoginLimits, ReadyForRead, Storage, StorageError};

/// A fresh bearer token (256 bits, URL-safe base64).
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps instead of the token.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        "Unknown username or wrong password",
    )
}

fn too_many_attempts(until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyAttempts,
        "Too many failed logins for this account; wait and try again",
    );
    err.body.retry_after_secs = Some((until - now).num_seconds().max(1) as u64);
    err
}

fn duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The throttle's limits from the settings.
fn login_limits(config: &ServerConfig) -> LoginLimits {
    LoginLimits {
        per_source: LoginLimit {
            max_attempts: config.max_failed_logins,
            window: duration(config.login_lockout),
            lockout: duration(config.login_lockout),
        },
        per_account: LoginLimit {
            max_attempts: config.max_failed_logins_per_account,
            window: duration(config.login_backstop_window),
            lockout: duration(config.login_lockout),
        },
    }
}

/// The source a login is throttled by: the peer's address, IPv6 by its /64
/// (one subscriber's whole allocation; a single address there costs nothing
/// to change). Without a peer address (a router driven without a
/// listener) every login shares one source.
pub fn login_source(peer: Option<IpAddr>) -> String {
    match peer.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    }
}

/// Checks credentials and opens a session.
///
/// The attempt is counted (and the lock checked) in one write transaction
/// before the password is hashed, so parallel guesses cannot overtake the
/// throttle; hashing runs in the bounded [`crate::password::PasswordPool`].
pub async fn login(
    state: &AppState,
    source: &str,
    request: LoginRequest,
) -> Result<LoginResponse, ApiError> {
    let username = request.username.trim().to_owned();
    // No account can have such a name or password: answer without work.
    if username.chars().count() > validation::MAX_USERNAME_CHARS
        || request.password.len() > MAX_PASSWORD_BYTES
    {
        return Err(invalid_credentials());
    }
    let limits = login_limits(&state.config);
    let storage = Arc::clone(&state.storage);
    let (user, from) = (username.clone(), source.to_owned());
    let reserved = blocking(move || {
        Ok(storage.write(|tx| {
            if let Some(until) = tx.reserve_login_attempt(&user, &from, &limits)? {
                return Ok::<_, StorageError>(Err(until));
            }
            Ok(Ok(tx.db().user_credentials(&user)?))
        })?)
    })
    .await?;
    let credentials = reserved.map_err(|until| too_many_attempts(until, Utc::now()))?;
    let (user, phc) = match credentials {
        Some((user, phc)) => (Some(user), Some(phc)),
        None => (None, None),
    };
    let password_ok = state.passwords.verify(request.password, phc).await;
    let Some(user) = user.filter(|_| password_ok) else {
        // The reserved attempt stays counted as a failure.
        return Err(invalid_credentials());
    };
    let token = new_token();
    let expires_at = Utc::now() + duration(state.config.session_ttl);
    let storage = Arc::clone(&state.storage);
    let (user_id, hash, source) = (user.id, token_hash(&token), source.to_owned());
    let teams = blocking(move || {
        Ok(storage.write(|tx| {
            tx.release_login_attempt(&username, &source)?;
            tx.insert_session(&hash, user_id, expires_at)?;
            tx.db().teams_of(user_id)
        })?)
    })
    .await?;
    tracing::info!(user = %user.username, "login");
    Ok(LoginResponse {
        token,
        expires_at,
        user,
        teams,
    })
}

/// The caller behind a token, if the session is valid now.
/// The caller behind a token, the session's expiry and the wipe order of
/// the device the session belongs to, if ops gave one.
type Authenticated = (
    Caller,
    User,
    DateTime<Utc>,
    Option<fieldbook_protocol::WipeOrder>,
);

fn authenticate(
    storage: &Storage,
    ready: ReadyForRead,
    token: &str,
) -> Result<Option<Authenticated>, StorageError> {
    storage.read_ready(ready, |db| {
        let Some(session) = db.session(&token_hash(token))? else {
            return Ok(None);
        };
        if session.revoked || session.expires_at <= Utc::now() {
            return Ok(None);
        }
        let Some(user) = db.user(session.user_id)? else {
            return Ok(None);
        };
        let user = user.record;
        let caller = Caller {
            user_id: user.id,
            username: user.username.clone(),
            role: user.role,
            team_ids: db.team_ids_of(user.id)?,
        };
        let wipe = db.wipe_order_for_session(&token_hash(token))?;
        Ok(Some((caller, user, session.expires_at, wipe)))
    })
}

fn bearer(request: &Request) -> Option<String> {
    bearer_token(request.headers())
}

/// The bearer token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The session a request was authenticated with (for logout and
/// `GET /auth/session`).
#[derive(Debug, Clone)]
pub struct SessionToken {
    hash: String,
    expires_at: DateTime<Utc>,
    user: User,
}

impl SessionToken {
    /// The token's hash (the session's id in storage).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    pub fn user(&self) -> &User {
        &self.user
    }
}

/// Middleware: requires a valid bearer token (or console session cookie) and puts the [`Caller`] (and the
/// [`SessionToken`]) into the request extensions.
pub async fn require_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // Scripts and devices send a bearer token; the ops console's browser
    // sends its HttpOnly session cookie (CSRF-checked, see ops::session).
    let token = match bearer(&request) {
        Some(token) => token,
        None => crate::ops::session::cookie_token_checked(&request)?
            .ok_or_else(ApiError::unauthorized)?,
    };
    let storage = Arc::clone(&state.storage);
    let hash = token_hash(&token);
    state
        .session_lookups
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The connection first, without a thread (see Storage::ready_for_read).
    let ready = storage.ready_for_read().await?;
    let found = blocking(move || Ok(authenticate(&storage, ready, &token)?)).await?;
    let (caller, user, expires_at, wipe) = found.ok_or_else(ApiError::unauthorized)?;
    match wipe {
        // A lost device gets nothing but the order.
        Some(order) if order.kind == fieldbook_protocol::WipeKind::Lost => {
            return Err(crate::wipe::wipe_ordered(order));
        }
        Some(order) => {
            request
                .extensions_mut()
                .insert(crate::wipe::PendingWipe(order));
        }
        None => {}
    }
    tracing::Span::current().record("user", caller.username.as_str());
    request.extensions_mut().insert(caller);
    request.extensions_mut().insert(SessionToken {
        hash,
        expires_at,
        user,
    });
    Ok(next.run(request).await)
}

/// [`require_auth`] for the blob routes: tus `OPTIONS` (capability discovery,
/// no data, no id) passes without a token, since tus clients send it before
/// anything else.
pub async fn require_auth_except_tus_options(
    state: State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.method() == Method::OPTIONS {
        return Ok(next.run(request).await);
    }
    require_auth(state, request, next).await
}

/// Log in with username and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Unknown username or wrong password (`invalid_credentials`)", body = fieldbook_protocol::ErrorBody),
        (status = 429, description = "Too many failed logins for this account from this address, or for this account from all addresses together (`too_many_attempts`); see `Retry-After`", body = fieldbook_protocol::ErrorBody),
    )
)]
pub async fn login_handler(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<Peer>>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let source = request_login_source(&state, peer, &headers);
    login(&state, &source, request).await.map(Json)
}

/// [`login_source`] of the request's client (see [`client_address`]).
pub fn request_login_source(
    state: &AppState,
    peer: Option<Extension<ConnectInfo<Peer>>>,
    headers: &HeaderMap,
) -> String {
    let peer = peer.map(|Extension(ConnectInfo(Peer(addr)))| addr);
    login_source(client_address(&state.config, peer, headers))
}

/// Revoke the token of this request.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Token revoked"),
        (status = 401, description = "No valid token", body = fieldbook_protocol::ErrorBody),
    )
)]
pub async fn logout_handler(
    State(state): State<AppState>,
    Extension(session): Extension<SessionToken>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        state.storage.write(|tx| tx.revoke_session(&session.hash))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Who the token belongs to.
#[utoipa::path(
    get, path = "/api/v1/auth/session", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The session", body = SessionInfo),
        (status = 401, description = "No valid token", body = fieldbook_protocol::ErrorBody),
    )
)]
pub async fn session_handler(
    State(state): State<AppState>,
    Extension(session): Extension<SessionToken>,
) -> Result<Json<SessionInfo>, ApiError> {
    let user_id = session.user.id;
    let teams = blocking(move || Ok(state.storage.read(|db| db.teams_of(user_id))?)).await?;
    Ok(Json(SessionInfo {
        expires_at: session.expires_at,
        user: session.user,
        teams,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_throttled_by_ipv4_address_and_ipv6_prefix() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(login_source(Some(v4)), "203.0.113.7");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(login_source(Some(mapped)), "203.0.113.7");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(login_source(Some(a)), login_source(Some(b)));
        assert_eq!(login_source(Some(a)), "2001:db8:1:2::/64");
        assert_eq!(login_source(None), "unknown");
    }

    #[test]
    fn tokens_are_random_and_stored_as_sha256() {
        let a = new_token();
        assert_ne!(a, new_token());
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&a)
                .unwrap()
                .len(),
            32
        );
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
