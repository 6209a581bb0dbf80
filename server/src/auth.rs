//! Login, logout, sessions and the middleware that turns a bearer token into
//! a [`Caller`].
//!
//! Passwords are argon2id hashes (PHC strings). Tokens are 256 random bits,
//! given to the client once and stored only as their SHA-256. Unknown
//! usernames and wrong passwords get the same answer after the same work, and
//! every username (known or not) is throttled the same way.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use fieldbook_domain::User;
use fieldbook_protocol::{ErrorCode, LoginRequest, LoginResponse, SessionInfo};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::caller::Caller;
use crate::config::PasswordHashing;
use crate::error::{blocking, ApiError};
use crate::json::ApiJson;
use crate::storage::{Storage, StorageError};

/// Largest password accepted (argon2 would hash anything; a megabyte
/// "password" is only a way to burn CPU).
const MAX_PASSWORD_BYTES: usize = 1024;
const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes")]
    BadLength,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn argon2(params: PasswordHashing) -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a new password (PHC string with its parameters and salt).
pub fn hash_password(password: &str, params: PasswordHashing) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::BadLength);
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2(params)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Checks a password against a stored PHC hash (its own parameters apply).
fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the username is unknown, so that answer
/// costs the same time as a wrong password.
fn decoy_hash(params: PasswordHashing) -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-matches", params).unwrap_or_default())
}

/// A fresh bearer token (256 bits, URL-safe base64).
fn new_token() -> String {
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

/// Checks credentials and opens a session.
pub fn login(
    storage: &Storage,
    config: &crate::config::ServerConfig,
    request: &LoginRequest,
) -> Result<LoginResponse, ApiError> {
    let username = request.username.trim();
    let now = Utc::now();
    let (locked_until, credentials) = storage.read(|db| {
        Ok::<_, StorageError>((
            db.login_locked_until(username)?,
            db.user_credentials(username)?,
        ))
    })?;
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Err(too_many_attempts(until, now));
    }
    let password_ok = match &credentials {
        Some((_, phc)) => verify_password(&request.password, phc),
        None => {
            verify_password(&request.password, decoy_hash(config.password_hashing));
            false
        }
    };
    let user = match (password_ok, credentials) {
        (true, Some((user, _))) => user,
        _ => {
            let lockout = chrono::Duration::from_std(config.login_lockout)
                .unwrap_or(chrono::Duration::minutes(15));
            storage
                .write(|tx| tx.record_login_failure(username, config.max_failed_logins, lockout))?;
            return Err(invalid_credentials());
        }
    };
    let token = new_token();
    let expires_at =
        now + chrono::Duration::from_std(config.session_ttl).unwrap_or(chrono::Duration::days(30));
    let teams = storage.write(|tx| {
        tx.clear_login_failures(username)?;
        tx.insert_session(&token_hash(&token), user.id, expires_at)?;
        tx.db().teams_of(user.id)
    })?;
    tracing::info!(user = %user.username, "login");
    Ok(LoginResponse {
        token,
        expires_at,
        user,
        teams,
    })
}

/// The caller behind a token, if the session is valid now.
fn authenticate(
    storage: &Storage,
    token: &str,
) -> Result<Option<(Caller, User, DateTime<Utc>)>, StorageError> {
    storage.read(|db| {
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
        Ok(Some((caller, user, session.expires_at)))
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
    let found = blocking(move || Ok(authenticate(&storage, &token)?)).await?;
    let (caller, user, expires_at) = found.ok_or_else(ApiError::unauthorized)?;
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
        (status = 429, description = "Account locked after repeated failures (`too_many_attempts`)", body = fieldbook_protocol::ErrorBody),
    )
)]
pub async fn login_handler(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    blocking(move || login(&state.storage, &state.config, &request))
        .await
        .map(Json)
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
    fn production_hashes_use_owasp_argon2id_parameters() {
        let phc = hash_password("a long enough password", PasswordHashing::default()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("a long enough password", &phc));
        assert!(!verify_password("a long enough passworD", &phc));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        let fast = PasswordHashing::insecure_fast_for_tests();
        assert!(matches!(
            hash_password("short", fast),
            Err(PasswordError::BadLength)
        ));
        assert!(matches!(
            hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1), fast),
            Err(PasswordError::BadLength)
        ));
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
