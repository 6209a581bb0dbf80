//! `GET /api/v1/sync/pull`: changes after a cursor, in the caller's scope.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use fieldbook_protocol::{
    ErrorBody, ErrorCode, NearWindowQuery, PullPage, PullQuery, DEFAULT_PULL_LIMIT,
    MAX_NEAR_WINDOW_DAYS, MAX_NEAR_WINDOW_INSTALLATIONS, MAX_PULL_CURSOR, MAX_PULL_LIMIT,
};

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::ApiQuery;
use crate::storage::{Scope, StoredPullPage};

/// One page of changes after `cursor` (see [`PullPage`]).
#[utoipa::path(
    get, path = "/api/v1/sync/pull", tag = "sync", security(("bearer" = [])),
    params(PullQuery),
    responses(
        (status = 200, description = "One page of changes, oldest first", body = PullPage),
        (status = 400, description = "`limit` outside 1..=1000 or not a number (`bad_request`), or `cursor` above 2^63-1 (`invalid_cursor`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn pull_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    wipe: Option<Extension<crate::wipe::PendingWipe>>,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<Json<StoredPullPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PULL_LIMIT}; got {limit}"
        )));
    }
    // Sequences are signed 64-bit in storage: a larger cursor would wrap.
    if query.cursor > MAX_PULL_CURSOR {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidCursor,
            format!("The cursor is above {MAX_PULL_CURSOR}, so this server never handed it out; pull again from 0"),
        ));
    }
    let scope = Scope::for_user(caller.user_id, caller.role);
    let max_bytes = state.config.pull_page_bytes;
    let retention_days = state.config.retention_days;
    let retired_before = chrono::Utc::now()
        .date_naive()
        .checked_sub_days(chrono::Days::new(u64::from(retention_days)));
    blocking(move || {
        let blobs = &state.blobs;
        let available = |hash: &fieldbook_domain::Sha256Hex| blobs.contains(hash);
        let mut page = state.storage.read(|db| {
            db.pull_within(
                scope,
                query.cursor,
                limit,
                max_bytes,
                retired_before,
                &available,
            )
        })?;
        page.retention_days = Some(retention_days);
        // A retired device: it wipes once everything unsent is sent.
        page.wipe = wipe.map(|Extension(pending)| pending.0);
        Ok(page)
    })
    .await
    .map(Json)
}

/// The caller's installations of the coming days, for a first sync to show
/// them before the full pull (see [`NearWindowQuery`]). Not part of the
/// change feed: it does not move the device's cursor.
#[utoipa::path(
    get, path = "/api/v1/sync/near-window", tag = "sync", security(("bearer" = [])),
    params(NearWindowQuery),
    responses(
        (status = 200, description = "The window's installations (soonest first, at most 1000) with their assignments, leads, surveys, the caller's teams and the users they name; cursor 0, next_cursor the server's last change sequence, has_more when the window held more", body = PullPage),
        (status = 400, description = "`days` outside 1..=62 or `from` not a date (`bad_request`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn near_window_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<NearWindowQuery>,
) -> Result<Json<PullPage>, ApiError> {
    if !(1..=MAX_NEAR_WINDOW_DAYS).contains(&query.days) {
        return Err(ApiError::bad_request(format!(
            "days must be between 1 and {MAX_NEAR_WINDOW_DAYS}; got {}",
            query.days
        )));
    }
    let to = query
        .from
        .checked_add_days(chrono::Days::new(u64::from(query.days - 1)))
        .ok_or_else(|| {
            ApiError::bad_request("the window ends after the last date this server knows")
        })?;
    let scope = Scope::for_user(caller.user_id, caller.role);
    blocking(move || {
        Ok(state
            .storage
            .read(|db| db.near_window(scope, query.from, to, MAX_NEAR_WINDOW_INSTALLATIONS))?)
    })
    .await
    .map(Json)
}
