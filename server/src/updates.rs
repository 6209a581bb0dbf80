//! App updates from the fleet's own server. Ops publish a build signed on
//! the build machine (`cargo tauri signer sign`; the private key never
//! comes here) with `fieldbook-server publish-update`; devices ask
//! `GET /api/v1/updates/{target}/{current_version}` and download the
//! artifact from `GET /api/v1/updates/{target}/files/{file_name}` (with
//! `Range`, so an interrupted download resumes).
//!
//! One published release per target, on disk under `<data dir>/updates/
//! <target>/`: `release.json` and the artifact. Like the blob store, the
//! folder is shared by every server instance of the fleet.
//!
//! Public routes: a signed app build is no secret, and a device that is not
//! signed in yet must still be able to update.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use fieldbook_protocol::UpdateManifest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::app::AppState;
use crate::error::ApiError;

const UPDATES_DIR: &str = "updates";
const RELEASE_FILE: &str = "release.json";

/// The target a `.deb` for 64-bit PCs is published for: what the app asks
/// with (`{os}-{arch}-{bundle type}`, the updater plugin's naming).
pub const DEFAULT_TARGET: &str = "linux-x86_64-deb";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0:?} is not a target name; use the app's `{{os}}-{{arch}}-{{bundle}}`, e.g. {DEFAULT_TARGET}")]
    BadTarget(String),
    #[error("{0:?} is not a version; use semantic versioning, e.g. 1.4.0")]
    BadVersion(String),
    #[error("the signature file is not a minisign signature from `cargo tauri signer sign` ({0})")]
    BadSignature(String),
    #[error("the signature was made for version {signed}, not {version}; sign the build with --app-version {version}")]
    SignedVersionMismatch { signed: String, version: String },
    #[error("the signature was made for {signed}, not for {file}; sign this file")]
    SignedFileMismatch { signed: String, file: String },
    #[error("version {published} is already published for {target}; publish a higher version")]
    NotNewer { published: String, target: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PublishError {
    let context = context.into();
    move |source| PublishError::Io { context, source }
}

/// What `release.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedRelease {
    pub target: String,
    pub version: String,
    pub notes: Option<String>,
    pub pub_date: DateTime<Utc>,
    pub file_name: String,
    pub signature: String,
    pub size: u64,
    pub sha256: String,
}

/// What ops give `publish-update`.
#[derive(Debug, Clone)]
pub struct PublishRequest<'a> {
    pub target: &'a str,
    pub file: &'a Path,
    /// The `.sig` file's content (base64, as the signer writes it).
    pub signature: &'a str,
    pub version: &'a str,
    pub notes: Option<&'a str>,
}

fn valid_target(target: &str) -> bool {
    !target.is_empty()
        && target.len() <= 64
        && target
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn target_dir(data_dir: &Path, target: &str) -> PathBuf {
    data_dir.join(UPDATES_DIR).join(target)
}

/// The release published for `target`, if any.
pub fn published(data_dir: &Path, target: &str) -> Result<Option<PublishedRelease>, PublishError> {
    if !valid_target(target) {
        return Err(PublishError::BadTarget(target.to_owned()));
    }
    let path = target_dir(data_dir, target).join(RELEASE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("cannot read {}", path.display()))(e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        io(format!(
            "{} is damaged; publish the update again",
            path.display()
        ))(std::io::Error::other(e))
    })
}

/// The trusted comment of a signature from `cargo tauri signer sign`:
/// `timestamp:…\tfile:…\tversion:…`. Only read to catch ops mistakes (a
/// signature of another file or version); the app verifies the signature.
fn trusted_comment(signature_base64: &str) -> Result<String, PublishError> {
    let bad = |why: &str| PublishError::BadSignature(why.to_owned());
    let text = base64::engine::general_purpose::STANDARD
        .decode(signature_base64.trim())
        .map_err(|_| bad("not base64"))?;
    let text = String::from_utf8(text).map_err(|_| bad("not text"))?;
    let mut lines = text.lines();
    let untrusted = lines.next().unwrap_or_default();
    let _signature = lines.next().ok_or_else(|| bad("no signature line"))?;
    let trusted = lines.next().unwrap_or_default();
    if !untrusted.starts_with("untrusted comment:") {
        return Err(bad("no untrusted comment"));
    }
    trusted
        .strip_prefix("trusted comment: ")
        .map(str::to_owned)
        .ok_or_else(|| bad("no trusted comment"))
}

fn comment_field<'a>(comment: &'a str, key: &str) -> Option<&'a str> {
    comment
        .split('\t')
        .find_map(|field| field.strip_prefix(key)?.strip_prefix(':'))
}

/// Copies the artifact in and makes it the target's release. Refuses a
/// version not above the one published (devices never go back) and a
/// signature made for another file or version.
pub fn publish(
    data_dir: &Path,
    request: &PublishRequest<'_>,
) -> Result<PublishedRelease, PublishError> {
    if !valid_target(request.target) {
        return Err(PublishError::BadTarget(request.target.to_owned()));
    }
    let version = semver::Version::parse(request.version.trim_start_matches('v'))
        .map_err(|_| PublishError::BadVersion(request.version.to_owned()))?;
    let file_name = request
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
                && !n.starts_with('.')
        })
        .ok_or_else(|| {
            io(format!(
                "{} needs a plain file name (letters, digits, . - _ +)",
                request.file.display()
            ))(std::io::ErrorKind::InvalidInput.into())
        })?
        .to_owned();
    let comment = trusted_comment(request.signature)?;
    if let Some(signed) = comment_field(&comment, "version") {
        if semver::Version::parse(signed.trim_start_matches('v')).ok() != Some(version.clone()) {
            return Err(PublishError::SignedVersionMismatch {
                signed: signed.to_owned(),
                version: version.to_string(),
            });
        }
    }
    if let Some(signed) = comment_field(&comment, "file") {
        if signed != file_name {
            return Err(PublishError::SignedFileMismatch {
                signed: signed.to_owned(),
                file: file_name,
            });
        }
    }
    let before = published(data_dir, request.target)?;
    if let Some(before) = &before {
        if semver::Version::parse(&before.version).is_ok_and(|published| published >= version) {
            return Err(PublishError::NotNewer {
                published: before.version.clone(),
                target: request.target.to_owned(),
            });
        }
    }

    let dir = target_dir(data_dir, request.target);
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let bytes = std::fs::read(request.file)
        .map_err(io(format!("cannot read {}", request.file.display())))?;
    let release = PublishedRelease {
        target: request.target.to_owned(),
        version: version.to_string(),
        notes: request.notes.map(str::to_owned),
        pub_date: Utc::now(),
        file_name: file_name.clone(),
        signature: request.signature.trim().to_owned(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    // The artifact lands before the release that names it, each by rename:
    // a device never reads a release whose file is missing or half written.
    write_atomically(&dir.join(&file_name), &bytes)?;
    let json = serde_json::to_vec_pretty(&release).expect("a release serialises");
    write_atomically(&dir.join(RELEASE_FILE), &json)?;
    if let Some(before) = before.filter(|b| b.file_name != file_name) {
        // Best effort: a device still downloading it restarts from the new one.
        let _ = std::fs::remove_file(dir.join(before.file_name));
    }
    Ok(release)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(format!("cannot write {}", path.display())))
}

/// The address devices reach this server at: the configured public URL, else
/// the request's `Host` (https with the server's own TLS, or as a reverse
/// proxy's `X-Forwarded-Proto` says).
fn base_url(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &state.config.public_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v == "https" || *v == "http");
    let scheme = match forwarded {
        Some(scheme) => scheme,
        // The server's own TLS.
        None if state.config.tls.is_some() => "https",
        None => "http",
    };
    Some(format!("{scheme}://{host}"))
}

/// The update for a device on `current_version`, or 204 when there is none.
#[utoipa::path(
    get, path = "/api/v1/updates/{target}/{current_version}", tag = "updates",
    params(
        ("target" = String, Path, description = "`{os}-{arch}-{bundle}`, e.g. linux-x86_64-deb"),
        ("current_version" = String, Path, description = "The version the device runs")
    ),
    responses(
        (status = 200, description = "A newer version is published", body = UpdateManifest),
        (status = 204, description = "No newer version"),
        (status = 400, description = "Bad target or version", body = fieldbook_protocol::ErrorBody)
    )
)]
pub async fn manifest_handler(
    State(state): State<AppState>,
    UrlPath((target, current_version)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let current = semver::Version::parse(current_version.trim_start_matches('v'))
        .map_err(|_| ApiError::bad_request(format!("{current_version:?} is not a version")))?;
    let data_dir = state.config.data_dir.clone();
    let release = tokio::task::spawn_blocking({
        let target = target.clone();
        move || published(&data_dir, &target)
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| match e {
        PublishError::BadTarget(_) => ApiError::bad_request(e.to_string()),
        other => {
            tracing::error!(error = %other, "cannot read the published update");
            ApiError::internal()
        }
    })?;
    let Some(release) = release else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let newer = semver::Version::parse(&release.version).is_ok_and(|v| v > current);
    if !newer {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let base = base_url(&state, &headers)
        .ok_or_else(|| ApiError::bad_request("the request has no Host header"))?;
    Ok(Json(UpdateManifest {
        url: format!("{base}/api/v1/updates/{target}/files/{}", release.file_name),
        version: release.version,
        notes: release.notes,
        pub_date: release.pub_date,
        signature: release.signature,
        size: release.size,
        sha256: release.sha256,
    })
    .into_response())
}

/// The published artifact, with `Range` support. Only the file the target's
/// release names is served.
#[utoipa::path(
    get, path = "/api/v1/updates/{target}/files/{file_name}", tag = "updates",
    params(
        ("target" = String, Path, description = "The target the update was published for"),
        ("file_name" = String, Path, description = "The artifact's file name from the manifest's url")
    ),
    responses(
        (status = 200, description = "The artifact", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range of the artifact"),
        (status = 404, description = "Not the target's published artifact", body = fieldbook_protocol::ErrorBody)
    )
)]
pub async fn artifact_handler(
    State(state): State<AppState>,
    UrlPath((target, file_name)): UrlPath<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let data_dir = state.config.data_dir.clone();
    let release = tokio::task::spawn_blocking({
        let target = target.clone();
        move || published(&data_dir, &target)
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|_| ApiError::not_found("update"))?
    .filter(|r| r.file_name == file_name)
    .ok_or_else(|| ApiError::not_found("update"))?;
    let path = target_dir(&state.config.data_dir, &target).join(&release.file_name);
    let response = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(response.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signature box as `cargo tauri signer sign` writes it (the
    /// signature line is not checked here).
    fn signature(file: &str, version: &str) -> String {
        let text = format!(
            "untrusted comment: signature from tauri secret key\nRUQ=\ntrusted comment: timestamp:1700000000\tfile:{file}\tversion:{version}\nAA==\n"
        );
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn publishes_a_newer_version_and_refuses_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let file = dir.path().join("Fieldbook_0.2.0_amd64.deb");
        std::fs::write(&file, b"a deb").unwrap();
        let sig = signature("Fieldbook_0.2.0_amd64.deb", "0.2.0");
        let request = PublishRequest {
            target: DEFAULT_TARGET,
            file: &file,
            signature: &sig,
            version: "0.2.0",
            notes: Some("Faster sync"),
        };
        assert!(published(&data, DEFAULT_TARGET).unwrap().is_none());

        let wrong_version = PublishRequest {
            version: "0.3.0",
            ..request.clone()
        };
        assert!(matches!(
            publish(&data, &wrong_version),
            Err(PublishError::SignedVersionMismatch { .. })
        ));
        let other_sig = signature("Other.deb", "0.2.0");
        let wrong_file = PublishRequest {
            signature: &other_sig,
            ..request.clone()
        };
        assert!(matches!(
            publish(&data, &wrong_file),
            Err(PublishError::SignedFileMismatch { .. })
        ));
        let bad_target = PublishRequest {
            target: "../etc",
            ..request.clone()
        };
        assert!(matches!(
            publish(&data, &bad_target),
            Err(PublishError::BadTarget(_))
        ));
        assert!(matches!(
            publish(
                &data,
                &PublishRequest {
                    signature: "not base64!",
                    ..request.clone()
                }
            ),
            Err(PublishError::BadSignature(_))
        ));

        let release = publish(&data, &request).unwrap();
        assert_eq!(release.version, "0.2.0");
        assert_eq!(release.size, 5);
        assert_eq!(published(&data, DEFAULT_TARGET).unwrap(), Some(release));
        // The same version again: devices never go back or sideways.
        assert!(matches!(
            publish(&data, &request),
            Err(PublishError::NotNewer { .. })
        ));
    }
}
