//! `GET /verify?installation=INS-2026-000123&sha256=<64 hex>`: the page a
//! completion certificate's QR code opens. Public, so that anyone holding
//! the paper can check it; it says only whether this server holds that
//! installation's report with that content hash, and when it arrived —
//! nothing about the job or the customer. Without the hash, which only the
//! certificate carries, there is nothing to learn.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldbook_domain::{InstallationId, Sha256Hex};

use crate::app::AppState;
use crate::error::{blocking, ApiError};

/// What the server says about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The installation's report as it stands has this content hash.
    Matches { received_at: String },
    /// No report of the installation with this hash (none, or it changed).
    NoMatch,
}

/// Checks a certificate's installation number and content hash.
pub fn check(
    state: &AppState,
    installation: &InstallationId,
    sha256: &Sha256Hex,
) -> Result<Verdict, ApiError> {
    state.storage.read(|db| {
        let Some(job) = db.installation_by_human_id(installation)? else {
            return Ok(Verdict::NoMatch);
        };
        Ok(match db.report_of(job.record.id)? {
            Some((report, received_at)) if &report.record.content_hash == sha256 => {
                Verdict::Matches {
                    received_at: received_at.format("%-d %b %Y, %H:%M UTC").to_string(),
                }
            }
            _ => Verdict::NoMatch,
        })
    })
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;\
         max-width:36rem;margin:3rem auto;padding:0 1rem}}</style></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The certificate check page (HTML for a phone's browser).
pub async fn verify_handler(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let installation = query
        .get("installation")
        .and_then(|v| v.trim().parse::<InstallationId>().ok());
    let sha256 = query
        .get("sha256")
        .and_then(|v| v.trim().to_ascii_lowercase().parse::<Sha256Hex>().ok());
    let (Some(installation), Some(sha256)) = (installation, sha256) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not a certificate check",
            "This address does not name an installation and a report content hash. \
             Scan the QR code on the certificate again, or type the address printed under it.",
        );
    };
    let number = installation.to_string();
    match blocking(move || check(&state, &installation, &sha256)).await {
        Ok(Verdict::Matches { received_at }) => page(
            StatusCode::OK,
            "✓ Certificate matches",
            &format!(
                "The report of installation {number} held by this server, received on \
                 {received_at}, has exactly the content hash printed on this certificate."
            ),
        ),
        Ok(Verdict::NoMatch) => page(
            StatusCode::NOT_FOUND,
            "✕ No matching report",
            &format!(
                "This server holds no report of installation {number} with this content hash. \
                 The certificate may be of an earlier version of the report, or not from this \
                 company: ask them for the current certificate."
            ),
        ),
        Err(_) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot check now",
            "The server could not check the certificate just now; try again in a minute.",
        ),
    }
}
