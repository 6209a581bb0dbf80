//! `GET /api/v1/sync/pull`: changes after a cursor, in the caller's scope.

use axum::extract::State;
use axum::{Extension, Json};
use fieldbook_protocol::{ErrorBody, PullPage, PullQuery, DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT};

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
        (status = 400, description = "Bad cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
pub async fn pull_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<Json<PullPage>, ApiError> {
    let limit = query
        .limit
        .unwrap_or(DEFAULT_PULL_LIMIT)
        .clamp(1, MAX_PULL_LIMIT);
    let scope = Scope::for_user(caller.user_id, caller.role);
    blocking(move || {
        let blobs = &state.blobs;
        let available = |hash: &fieldbook_domain::Sha256Hex| blobs.contains(hash);
        Ok(state
            .storage
            .read(|db| db.pull(scope, query.cursor, limit, &available))?)
    })
    .await
    .map(Json)
}
