//! After each pull: closed and cancelled jobs last changed before the
//! server's retention window leave this device once nothing about them is
//! unsent (the rule and the deletion are the store's; the window is the
//! server's, sent with every pull page).

use chrono::{Days, Local};

use crate::error::SyncError;
use crate::{with_store, SharedStore};

/// Removes the retired jobs for a window of `days`; returns how many left.
pub async fn remove_retired(store: &SharedStore, days: u32) -> Result<usize, SyncError> {
    let Some(cutoff) = Local::now()
        .date_naive()
        .checked_sub_days(Days::new(u64::from(days)))
    else {
        return Ok(0);
    };
    let store = store.clone();
    let removed = tokio::task::spawn_blocking(move || {
        with_store(&store, |s| s.remove_retired_installations(cutoff))
    })
    .await
    .map_err(|join| SyncError::Io {
        context: "removing retired jobs".into(),
        source: std::io::Error::other(join.to_string()),
    })??;
    if removed > 0 {
        tracing::info!(
            removed,
            retention_days = days,
            "closed and cancelled jobs past the retention window left this device"
        );
    }
    Ok(removed)
}
