//! `GET /api/v1/sync/pull`: changes after a cursor, in the caller's scope.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use fieldbook_protocol::{
    ErrorBody, ErrorCode, PullPage, PullQuery, DEFAULT_PULL_LIMIT, MAX_PULL_CURSOR, MAX_PULL_LIMIT,
};

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::ApiQuery;
use crate::storage::Scope;

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
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<Json<PullPage>, ApiError> {
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
    blocking(move || {
        let blobs = &state.blobs;
        let available = |hash: &fieldbook_domain::Sha256Hex| blobs.contains(hash);
        Ok(state
            .storage
            .read(|db| db.pull_within(scope, query.cursor, limit, max_bytes, &available))?)
    })
    .await
    .map(Json)
}
