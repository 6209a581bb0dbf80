//! The sync panel: status, "Sync now", and the changes the server refused
//! (needs attention) with retry and dismiss. The status also reaches the UI
//! as the `sync://status` event on every change (see [`forward_status`]).

use fieldbook_store::OutboxEntry;
use fieldbook_sync::SyncStatus;
use tauri::{AppHandle, Emitter, Runtime, State};
use uuid::Uuid;

use crate::context::AppContext;
use crate::error::CommandResult;

/// The event carrying every [`SyncStatus`] change.
pub const STATUS_EVENT: &str = "sync://status";

pub fn sync_status(ctx: &AppContext) -> SyncStatus {
    ctx.sync().status()
}

/// Asks the background loop for a sync now; returns at once (progress comes
/// with the status events).
#[tracing::instrument(skip(ctx))]
pub fn sync_now(ctx: &AppContext) {
    ctx.sync().request_sync();
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn needs_attention(ctx: &AppContext) -> CommandResult<Vec<OutboxEntry>> {
    ctx.with_store(|store| store.needs_attention()).await
}

/// Puts a refused change back in the queue and syncs at once.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn retry_outbox_entry(ctx: &AppContext, mutation_id: Uuid) -> CommandResult<()> {
    ctx.with_store(move |store| store.retry_outbox_entry(mutation_id))
        .await?;
    ctx.sync().request_sync();
    Ok(())
}

/// The technician has read why the server refused a change and lets it go.
/// Returns whether there was such an entry.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn dismiss_outbox_entry(ctx: &AppContext, mutation_id: Uuid) -> CommandResult<bool> {
    let dismissed = ctx
        .with_store(move |store| store.dismiss_outbox_entry(mutation_id))
        .await?;
    // The pending counts in the status changed.
    ctx.local_change();
    Ok(dismissed)
}

/// Emits the engine's status as [`STATUS_EVENT`] now and on every change,
/// until the engine goes away.
pub async fn forward_status<R: Runtime>(app: AppHandle<R>, ctx: AppContext) {
    let mut changes = ctx.sync().subscribe();
    loop {
        let status = changes.borrow_and_update().clone();
        if let Err(e) = app.emit(STATUS_EVENT, &status) {
            tracing::warn!(error = %e, "could not send the sync status to the window");
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn sync_status(ctx: State<'_, AppContext>) -> CommandResult<SyncStatus> {
        Ok(super::sync_status(&ctx))
    }

    #[tauri::command]
    pub async fn sync_now(ctx: State<'_, AppContext>) -> CommandResult<()> {
        super::sync_now(&ctx);
        Ok(())
    }

    #[tauri::command]
    pub async fn needs_attention(ctx: State<'_, AppContext>) -> CommandResult<Vec<OutboxEntry>> {
        super::needs_attention(&ctx).await
    }

    #[tauri::command]
    pub async fn retry_outbox_entry(
        ctx: State<'_, AppContext>,
        mutation_id: Uuid,
    ) -> CommandResult<()> {
        super::retry_outbox_entry(&ctx, mutation_id).await
    }

    #[tauri::command]
    pub async fn dismiss_outbox_entry(
        ctx: State<'_, AppContext>,
        mutation_id: Uuid,
    ) -> CommandResult<bool> {
        super::dismiss_outbox_entry(&ctx, mutation_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Fixture;

    #[tokio::test]
    async fn nothing_needs_attention_on_a_fresh_device_and_unknown_entries_are_not_dismissed() {
        let fx = Fixture::new();
        assert!(needs_attention(&fx.ctx).await.unwrap().is_empty());
        assert!(!dismiss_outbox_entry(&fx.ctx, Uuid::new_v4()).await.unwrap());
        let status = sync_status(&fx.ctx);
        assert_eq!(status.phase, fieldbook_sync::SyncPhase::Idle);
    }
}
