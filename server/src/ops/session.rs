//! The console's browser session.
//!
//! Why a cookie and not the bearer token in JavaScript: a token the script can
//! read is a token any injected script can steal. The console instead gets an
//! opaque session token (the same kind of server-side session as a bearer
//! token: random, stored hashed, expiring, revocable) in an `HttpOnly;
//! SameSite=Strict` cookie scoped to `/api`. SameSite=Strict already keeps
//! other sites' pages from sending it; on top of that every state-changing
//! request authenticated by the cookie must carry `X-CSRF-Token`, a value
//! derived from the session token (SHA-256 of a label and the token), which
//! only a page of this origin can learn (from `POST`/`GET /api/v1/ops/session`).
//! Bearer-token requests need no CSRF token: browsers never attach them on
//! their own. Only Central Ops may open a console session.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use fieldbook_domain::Role;
use fieldbook_protocol::{ConsoleSession, ErrorBody, LoginRequest, CSRF_HEADER, SESSION_COOKIE};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::{self, SessionToken};
use crate::caller::Caller;
use crate::client_address::Peer;
use crate::error::{blocking, ApiError};
use crate::json::ApiJson;

/// The CSRF token of a session: not guessable without the session token,
/// and nothing to store.
pub fn csrf_token_for(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"fieldbook console csrf v1\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// The session cookie's value, if the request carries one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn has_bearer(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION)
}

/// Methods that change nothing and so need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The cookie's session token for the auth middleware when the request has
/// no bearer token; refuses a state-changing request without the matching
/// CSRF token.
pub fn cookie_token_checked(request: &Request) -> Result<Option<String>, ApiError> {
    if has_bearer(request.headers()) {
        return Ok(None);
    }
    let Some(token) = cookie_token(request.headers()) else {
        return Ok(None);
    };
    if !is_safe(request.method()) {
        let sent = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let expected = csrf_token_for(&token);
        // Both are fixed-length digests; compare without an early exit.
        let same = sent.len() == expected.len()
            && sent
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(ApiError::forbidden(
                "Missing or wrong X-CSRF-Token header: reload the console and try again",
            ));
        }
    }
    Ok(Some(token))
}

/// `secure`: browsers reach the server over HTTPS (its own TLS, or a TLS
/// proxy named by `public_url`), so the cookie must never travel over
/// plain HTTP.
fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> Result<HeaderValue, ApiError> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/api; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(|_| ApiError::internal())
}

/// Sign in to the console (Central Ops only); sets the session cookie.
#[utoipa::path(
    post, path = "/api/v1/ops/session", tag = "ops",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session token is in the HttpOnly cookie `fieldbook_session`", body = ConsoleSession),
        (status = 401, description = "Unknown username or wrong password (`invalid_credentials`)", body = ErrorBody),
        (status = 403, description = "Not a Central Ops account", body = ErrorBody),
        (status = 429, description = "Too many failed logins (`too_many_attempts`); see `Retry-After`", body = ErrorBody),
    )
)]
pub async fn login_handler(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<Peer>>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // The same throttled login as devices and scripts use.
    let source = auth::request_login_source(&state, peer, &headers);
    let login = auth::login(&state, &source, request).await?;
    if login.user.role != Role::Ops {
        let hash = auth::token_hash(&login.token);
        blocking(move || Ok(state.storage.write(|tx| tx.revoke_session(&hash))?)).await?;
        return Err(ApiError::forbidden(
            "The console is for Central Ops accounts; technicians use the Fieldbook app",
        ));
    }
    let max_age = (login.expires_at - chrono::Utc::now()).num_seconds().max(0);
    let body = ConsoleSession {
        csrf_token: csrf_token_for(&login.token),
        user: login.user,
        expires_at: login.expires_at,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        session_cookie(&login.token, max_age, state.config.serves_https())?,
    );
    Ok(response)
}

/// The signed-in console session (and its CSRF token).
#[utoipa::path(
    get, path = "/api/v1/ops/session", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The session", body = ConsoleSession),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
    )
)]
pub async fn session_handler(
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<SessionToken>,
    headers: HeaderMap,
) -> Result<Json<ConsoleSession>, ApiError> {
    super::require_ops(&caller)?;
    let token = auth::bearer_token(&headers)
        .or_else(|| cookie_token(&headers))
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(ConsoleSession {
        csrf_token: csrf_token_for(&token),
        user: session.user().clone(),
        expires_at: session.expires_at(),
    }))
}

/// Sign out: revokes the session and clears the cookie.
#[utoipa::path(
    delete, path = "/api/v1/ops/session", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Missing CSRF token, or not Central Ops", body = ErrorBody),
    )
)]
pub async fn logout_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<SessionToken>,
) -> Result<Response, ApiError> {
    super::require_ops(&caller)?;
    let hash = session.hash().to_owned();
    let secure = state.config.serves_https();
    blocking(move || Ok(state.storage.write(|tx| tx.revoke_session(&hash))?)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, session_cookie("", 0, secure)?);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_are_stable() {
        assert_eq!(csrf_token_for("a"), csrf_token_for("a"));
        assert_ne!(csrf_token_for("a"), csrf_token_for("b"));
        assert_ne!(csrf_token_for("a"), "a");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; fieldbook_session=abc123 ; x=y"),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("abc123"));
        headers.insert(COOKIE, HeaderValue::from_static("fieldbook_session="));
        assert_eq!(cookie_token(&headers), None);
    }

    #[test]
    fn unsafe_cookie_requests_need_the_csrf_token() {
        let request = |method: Method, csrf: Option<&str>| {
            let mut builder = Request::builder()
                .method(method)
                .header(COOKIE, "fieldbook_session=tok");
            if let Some(c) = csrf {
                builder = builder.header(CSRF_HEADER, c);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        assert_eq!(
            cookie_token_checked(&request(Method::GET, None)).unwrap(),
            Some("tok".into())
        );
        assert!(cookie_token_checked(&request(Method::POST, None)).is_err());
        assert!(cookie_token_checked(&request(Method::POST, Some("wrong"))).is_err());
        assert_eq!(
            cookie_token_checked(&request(Method::POST, Some(&csrf_token_for("tok")))).unwrap(),
            Some("tok".into())
        );
    }
}
