//! The ops console app (`console/dist`, built by `npm run build` in
//! `console/`), embedded in the server binary and served at `/console/`.
//!
//! Unknown paths under `/console/` get `index.html` (the app routes on the
//! client), except paths that look like files (`.js`, `.css`, …), which get a
//! real 404 so a missing asset is not mistaken for the app. When the server
//! was built without `console/dist`, every console path answers 503 saying
//! how to build it: the server itself still builds and runs.

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fieldbook_protocol::ErrorCode;
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "../console/dist/"]
#[allow_missing = true]
struct ConsoleDist;

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/console/";

/// Strict: only this origin's scripts, styles, images and API; no inline
/// script, no framing, no plugins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
                   font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// Whether the binary carries a built console.
pub fn is_embedded() -> bool {
    ConsoleDist::get("index.html").is_some()
}

fn not_built() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::NotFound,
        "This server was built without the ops console: run `npm ci && npm run build` in console/ \
         (or `make console`), then rebuild fieldbook-server",
    )
    .into_response()
}

fn asset(path: &str) -> Option<Response> {
    let file = ConsoleDist::get(path)?;
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(mime) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(CONTENT_TYPE, mime);
    }
    // Vite puts a content hash in every asset name; index.html must be
    // revalidated so a new build is picked up.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Some(response)
}

/// `GET /console` → `/console/`.
pub async fn redirect_to_console() -> Redirect {
    Redirect::permanent(CONSOLE_PATH)
}

/// `GET /console/{*path}`: a file of the built console, or `index.html`.
pub async fn console_handler(request: Request) -> Response {
    if !is_embedded() {
        return not_built();
    }
    let path = request
        .uri()
        .path()
        .strip_prefix(CONSOLE_PATH)
        .unwrap_or_default();
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(response) = asset(path) {
        return response;
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return ApiError::not_found("console file").into_response();
    }
    asset("index.html").unwrap_or_else(not_built)
}
