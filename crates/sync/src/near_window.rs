//! The first sync's head start: before pulling everything from zero, ask
//! the server for the jobs of the coming days (`GET /sync/near-window`) and
//! apply them, so the technician can start working while the full pull
//! (10,000 jobs take a while) goes on.
//!
//! The window is applied like a pull page, but under its own cursor scope
//! (`near:<user>`), so the pull cursor stays unset and the full pull still
//! starts from zero; it brings every record again, at the same or a newer
//! version, plus the reports, media and tombstones the window leaves out.
//! The two run at once and neither waits for the other: the window leaves
//! out what the pull's pages already brought (records at or below the pull
//! cursor when it is applied), and the pull's later pages leave out what the
//! window applied at the same version ([`AppliedRecords`]).

use chrono::NaiveDate;
use fieldbook_protocol::PullPage;
use uuid::Uuid;

use crate::client::ApiClient;
use crate::error::SyncError;
use crate::pull::{cursor_scope, into_server_batch, AppliedRecords};
use crate::{with_store, SharedStore};

/// Today and the 13 days after it: the two weeks a technician plans in.
pub const NEAR_WINDOW_DAYS: u32 = 14;

/// The cursor scope the window is recorded under (never the pull's).
pub fn near_window_scope(user_id: Uuid) -> String {
    format!("near:{user_id}")
}

/// Whether this user's device has not pulled anything yet (no pull cursor).
pub fn is_first_sync(store: &SharedStore, user_id: Uuid) -> Result<bool, SyncError> {
    Ok(with_store(store, |s| s.sync_cursor(&cursor_scope(user_id)))?.is_none())
}

/// Fetches and applies the window from `today`; returns the records it
/// applied, which the full pull need not write again (`None`: the server
/// has no near window, nothing was done).
pub async fn pull_near_window(
    client: &ApiClient,
    token: &str,
    store: &SharedStore,
    user_id: Uuid,
    today: NaiveDate,
) -> Result<Option<AppliedRecords>, SyncError> {
    let started = std::time::Instant::now();
    let Some(page) = fetch_near_window(client, token, today).await? else {
        return Ok(None);
    };
    let installations = page.installations.len();
    let records = page.len();
    let applied = apply_near_window(store, user_id, page).await?;
    tracing::info!(
        installations,
        records,
        applied = applied.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "first sync: the coming days' jobs are on the device"
    );
    Ok(Some(applied))
}

/// The window from `today` (`None` from a server without the route).
pub async fn fetch_near_window(
    client: &ApiClient,
    token: &str,
    today: NaiveDate,
) -> Result<Option<PullPage>, SyncError> {
    client.near_window(token, today, NEAR_WINDOW_DAYS).await
}

/// Applies a fetched window. The full pull from zero need not wait for it:
/// what its pages already brought is left out (see
/// `fieldbook_store::Store::apply_ahead_of_pull`). Returns what was applied.
pub async fn apply_near_window(
    store: &SharedStore,
    user_id: Uuid,
    page: PullPage,
) -> Result<AppliedRecords, SyncError> {
    let mut batch = into_server_batch(&near_window_scope(user_id), page)?;
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        with_store(&store, |s| {
            s.apply_ahead_of_pull(&mut batch, &cursor_scope(user_id))
        })?;
        Ok::<_, SyncError>(AppliedRecords::of_batch(&batch))
    })
    .await
    .map_err(|join| SyncError::Io {
        context: "applying the near window".into(),
        source: std::io::Error::other(join.to_string()),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_has_its_own_scope_never_the_pulls() {
        let user = Uuid::new_v4();
        assert_ne!(near_window_scope(user), cursor_scope(user));
        assert!(near_window_scope(user).ends_with(&user.to_string()));
    }
}
