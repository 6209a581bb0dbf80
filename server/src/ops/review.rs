//! The review queue and the navigation's counts.

use axum::extract::State;
use axum::{Extension, Json};
use fieldbook_protocol::{
    ErrorBody, HeldWorkQuery, HeldWorkStatus, MissingBlobsRow, NavCounts, ReviewQueue,
};

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::storage::Reads;

/// Most entries of each review list (the oldest first where it matters).
const REVIEW_LIST_LIMIT: u32 = 200;

pub fn review_queue(db: &dyn Reads) -> Result<ReviewQueue, ApiError> {
    Ok(ReviewQueue {
        awaiting_close: db.ops_awaiting_close(REVIEW_LIST_LIMIT)?,
        flagged_for_review: db.ops_flagged_for_review(REVIEW_LIST_LIMIT)?,
        missing_blobs: db
            .ops_missing_blobs(REVIEW_LIST_LIMIT)?
            .into_iter()
            .map(
                |(installation, media_missing, signature_missing)| MissingBlobsRow {
                    installation,
                    media_missing,
                    signature_missing,
                },
            )
            .collect(),
        held_work: db.held_work_list(&waiting_held_work())?,
    })
}

/// Held work still waiting for a decision.
fn waiting_held_work() -> HeldWorkQuery {
    HeldWorkQuery {
        status: Some(HeldWorkStatus::Waiting),
        installation_id: None,
    }
}

pub fn nav_counts(db: &dyn Reads) -> Result<NavCounts, ApiError> {
    let (awaiting_close, flagged_for_review, missing_blobs, unplanned_surveys, unassigned) =
        db.ops_nav_counts()?;
    let held_work = db.held_work_count(HeldWorkStatus::Waiting)?;
    Ok(NavCounts {
        awaiting_close,
        flagged_for_review,
        missing_blobs,
        held_work,
        review_total: awaiting_close + flagged_for_review + missing_blobs + held_work,
        unplanned_surveys,
        unassigned,
        seq: db.change_seq()?,
    })
}

/// What waits for Central Ops: reports to close, flagged installations,
/// reports whose photos or signature have not arrived, held work.
#[utoipa::path(
    get, path = "/api/v1/ops/review", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The review queue", body = ReviewQueue),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
    )
)]
pub async fn review_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ReviewQueue>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || state.storage.read(review_queue))
        .await
        .map(Json)
}

/// Counts for the console's navigation badges.
#[utoipa::path(
    get, path = "/api/v1/ops/counts", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The counts", body = NavCounts),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
    )
)]
pub async fn counts_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<NavCounts>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || state.storage.read(nav_counts))
        .await
        .map(Json)
}
