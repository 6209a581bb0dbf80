//! People: teams, members, devices and sessions; revoking a session or a
//! device; and the middleware that records a device's contact (last sync,
//! app version, pending changes) from the optional headers the sync client
//! sends on pull and push.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use chrono::Utc;
use fieldbook_protocol::{
    DeviceInfo, ErrorBody, ErrorCode, People, Person, TeamSummary, WipeKind, APP_VERSION_HEADER,
    DEVICE_HEADER, PENDING_HEADER,
};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::SessionToken;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::ApiPath;
use crate::storage::{DeviceContact, Storage};
use crate::wipe::PendingWipe;

/// Longest app version string kept.
const MAX_APP_VERSION_CHARS: usize = 64;

pub fn people(storage: &Storage) -> Result<People, ApiError> {
    storage.read(|db| {
        let teams = db.all_teams()?;
        let mut devices: HashMap<Uuid, Vec<DeviceInfo>> = HashMap::new();
        for device in db.all_devices()? {
            devices.entry(device.user_id).or_default().push(device);
        }
        let mut sessions = HashMap::<Uuid, Vec<_>>::new();
        for session in db.open_sessions(Utc::now())? {
            sessions
                .entry(session.user_id)
                .or_default()
                .push(session.summary);
        }
        let people = db
            .all_users()?
            .into_iter()
            .map(|user| Person {
                team_ids: teams
                    .iter()
                    .filter(|(t, _)| t.member_ids.contains(&user.id))
                    .map(|(t, _)| t.id)
                    .collect(),
                devices: devices.remove(&user.id).unwrap_or_default(),
                sessions: sessions.remove(&user.id).unwrap_or_default(),
                user,
            })
            .collect();
        Ok(People {
            teams: teams
                .into_iter()
                .map(|(t, active)| TeamSummary {
                    id: t.id,
                    name: t.name,
                    member_ids: t.member_ids,
                    active_installations: active,
                })
                .collect(),
            people,
        })
    })
}

/// Teams with members, and every user with their devices and open sessions.
#[utoipa::path(
    get, path = "/api/v1/ops/people", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Teams and people", body = People),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
    )
)]
pub async fn people_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<People>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || people(&state.storage)).await.map(Json)
}

/// Revoke one session (console or bearer token): its next request gets 401.
#[utoipa::path(
    post, path = "/api/v1/ops/sessions/{session_id}/revoke", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(("session_id" = String, Path, description = "`session_id` from GET /api/v1/ops/people")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not Central Ops, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such open session", body = ErrorBody),
    )
)]
pub async fn revoke_session_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(session_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || {
        if state
            .storage
            .write(|tx| tx.revoke_session_by_id(&session_id))?
        {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found("open session"))
        }
    })
    .await
}

/// Revoke a device: the sessions it was seen using end, and any request
/// naming it in `X-Fieldbook-Device` is refused from now on.
#[utoipa::path(
    post, path = "/api/v1/ops/devices/{device_id}/revoke", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(("device_id" = Uuid, Path, description = "Device id")),
    responses(
        (status = 200, description = "The revoked device", body = DeviceInfo),
        (status = 403, description = "Not Central Ops, or missing CSRF token", body = ErrorBody),
        (status = 404, description = "No such device", body = ErrorBody),
    )
)]
pub async fn revoke_device_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(device_id): ApiPath<Uuid>,
) -> Result<Json<DeviceInfo>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || {
        if !state.storage.write(|tx| tx.revoke_device(device_id))? {
            return Err(ApiError::not_found("device"));
        }
        state
            .storage
            .read(|db| db.device_record(device_id))?
            .ok_or_else(ApiError::internal)
    })
    .await
    .map(Json)
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// What the optional device headers say; malformed values are ignored (they
/// only inform ops, and must never break a sync).
pub fn contact_from_headers(headers: &HeaderMap, user_id: Uuid) -> Option<DeviceContact> {
    let device_id = header_text(headers, DEVICE_HEADER)?.parse().ok()?;
    Some(DeviceContact {
        device_id,
        user_id,
        app_version: header_text(headers, APP_VERSION_HEADER)
            .map(|v| v.chars().take(MAX_APP_VERSION_CHARS).collect()),
        pending_changes: header_text(headers, PENDING_HEADER).and_then(|v| v.parse().ok()),
    })
}

/// Middleware on pull and push (after authentication): refuses a revoked
/// device and records the device's contact.
pub async fn record_device_contact(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<SessionToken>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let mut request = request;
    if let Some(contact) = contact_from_headers(request.headers(), caller.user_id) {
        let storage = std::sync::Arc::clone(&state.storage);
        let hash = session.hash().to_owned();
        let (wipe, revoked) = blocking(move || {
            // Named by the headers, the device may not be this session's:
            // the order goes without its confirmation secret.
            let wipe = storage.read(|db| db.wipe_order_for_device(contact.device_id))?;
            if wipe.as_ref().is_some_and(|o| o.kind == WipeKind::Lost) {
                return Ok((wipe, true));
            }
            if storage.read(|db| db.device_revoked(contact.device_id))? {
                return Ok((wipe, true));
            }
            storage.write(|tx| tx.record_device_contact(&contact, &hash))?;
            Ok((wipe, false))
        })
        .await?;
        match wipe {
            Some(order) if order.kind == WipeKind::Lost => {
                return Err(crate::wipe::wipe_ordered(order));
            }
            Some(order) if request.extensions().get::<PendingWipe>().is_none() => {
                request.extensions_mut().insert(PendingWipe(order));
            }
            _ => {}
        }
        if revoked {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "Central Ops revoked this device; ask them to re-enable it or use another device",
            ));
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn device_headers_are_read_and_garbage_ignored() {
        let user = Uuid::new_v4();
        let device = Uuid::new_v4();
        let mut headers = HeaderMap::new();
        assert_eq!(contact_from_headers(&headers, user), None);
        headers.insert(DEVICE_HEADER, device.to_string().parse().unwrap());
        headers.insert(APP_VERSION_HEADER, HeaderValue::from_static("0.3.1"));
        headers.insert(PENDING_HEADER, HeaderValue::from_static("lots"));
        let contact = contact_from_headers(&headers, user).unwrap();
        assert_eq!(contact.device_id, device);
        assert_eq!(contact.app_version.as_deref(), Some("0.3.1"));
        assert_eq!(contact.pending_changes, None);
        headers.insert(DEVICE_HEADER, HeaderValue::from_static("not-a-uuid"));
        assert_eq!(contact_from_headers(&headers, user), None);
    }
}
