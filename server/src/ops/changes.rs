//! Live changes for the console: a server-sent event stream that emits the
//! change sequence whenever it moves.
//!
//! The sequence lives in the database (shared by every server instance), so
//! each stream polls it: one indexed single-row read per interval, cheap
//! enough for a console's handful of open tabs, and it sees changes made by
//! any instance, which an in-process notification would not.

use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use fieldbook_protocol::{ChangeEvent, ErrorBody};
use futures_util::stream::{self, Stream};

use crate::app::AppState;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};

/// How often each stream reads the change sequence.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

async fn current_seq(state: &AppState) -> Result<u64, ApiError> {
    let storage = std::sync::Arc::clone(&state.storage);
    blocking(move || Ok(storage.read(|db| db.change_seq())?)).await
}

fn change_event(seq: u64) -> Event {
    Event::default()
        .event("change")
        .id(seq.to_string())
        .json_data(ChangeEvent { seq })
        .unwrap_or_else(|_| Event::default().event("change"))
}

/// `change` events: one on connect, then one whenever the sequence moves.
#[utoipa::path(
    get, path = "/api/v1/ops/changes", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "text/event-stream of `change` events, data `ChangeEvent` JSON", content_type = "text/event-stream", body = ChangeEvent),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
    )
)]
pub async fn changes_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    super::require_ops(&caller)?;
    let first = current_seq(&state).await?;
    // State: the last sequence sent (None before the first event).
    let events = stream::unfold((state, None::<u64>), move |(state, last)| async move {
        let Some(last) = last else {
            return Some((Ok(change_event(first)), (state, Some(first))));
        };
        loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            match current_seq(&state).await {
                Ok(seq) if seq != last => {
                    return Some((Ok(change_event(seq)), (state, Some(seq))));
                }
                Ok(_) => {}
                // A failed read ends the stream; EventSource reconnects.
                Err(_) => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
