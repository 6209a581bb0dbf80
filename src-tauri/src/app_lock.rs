//! The idle lock and customer signing: thin commands over
//! `fieldbook_sync::app_lock`, where the rules are. The UI asks for the
//! status, runs the idle timer with the minutes it is given, and shows the
//! lock screen while `locked`.

use std::sync::Arc;

use fieldbook_sync::app_lock::{LockStatus, UnlockOutcome};
use tauri::State;

use crate::context::AppContext;
use crate::error::{CommandError, CommandResult};

pub fn lock_status(ctx: &AppContext) -> LockStatus {
    ctx.sync().app_lock().status()
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub fn lock_app(ctx: &AppContext) -> CommandResult<LockStatus> {
    Ok(ctx.sync().app_lock().lock()?)
}

/// Checks the password off the UI thread (argon2id takes a moment).
#[tracing::instrument(skip(ctx, password), err(level = "warn"))]
pub async fn unlock_app(ctx: &AppContext, password: String) -> CommandResult<UnlockOutcome> {
    let lock = Arc::clone(ctx.sync().app_lock());
    tokio::task::spawn_blocking(move || lock.unlock(&password))
        .await
        .map_err(|e| CommandError::internal(format!("the unlock stopped unexpectedly: {e}")))?
        .map_err(CommandError::from)
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub fn set_customer_signing(ctx: &AppContext, signing: bool) -> CommandResult<LockStatus> {
    Ok(ctx.sync().app_lock().set_customer_signing(signing)?)
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub fn set_idle_lock_minutes(ctx: &AppContext, minutes: u32) -> CommandResult<LockStatus> {
    Ok(ctx.sync().app_lock().set_idle_lock_minutes(minutes)?)
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn lock_status(ctx: State<'_, AppContext>) -> CommandResult<LockStatus> {
        Ok(super::lock_status(&ctx))
    }

    #[tauri::command]
    pub async fn lock_app(ctx: State<'_, AppContext>) -> CommandResult<LockStatus> {
        super::lock_app(&ctx)
    }

    #[tauri::command]
    pub async fn unlock_app(
        ctx: State<'_, AppContext>,
        password: String,
    ) -> CommandResult<UnlockOutcome> {
        super::unlock_app(&ctx, password).await
    }

    #[tauri::command]
    pub async fn set_customer_signing(
        ctx: State<'_, AppContext>,
        signing: bool,
    ) -> CommandResult<LockStatus> {
        super::set_customer_signing(&ctx, signing)
    }

    #[tauri::command]
    pub async fn set_idle_lock_minutes(
        ctx: State<'_, AppContext>,
        minutes: u32,
    ) -> CommandResult<LockStatus> {
        super::set_idle_lock_minutes(&ctx, minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Fixture;

    #[tokio::test]
    async fn a_fixture_without_a_verifier_cannot_lock_and_settings_are_checked() {
        let fx = Fixture::new();
        let status = lock_status(&fx.ctx);
        assert!(!status.locked);
        assert_eq!(status.idle_lock_minutes, 10);
        // Signed in before this version: no password to unlock with, so no lock.
        assert!(!lock_app(&fx.ctx).unwrap().locked);
        assert_eq!(
            unlock_app(&fx.ctx, "anything".into()).await.unwrap(),
            UnlockOutcome::Unlocked
        );
        assert_eq!(
            set_idle_lock_minutes(&fx.ctx, 5).unwrap().idle_lock_minutes,
            5
        );
        assert!(set_idle_lock_minutes(&fx.ctx, 7).is_err());
        assert!(
            set_customer_signing(&fx.ctx, true)
                .unwrap()
                .customer_signing
        );
        assert!(
            !set_customer_signing(&fx.ctx, false)
                .unwrap()
                .customer_signing
        );
    }

    #[tokio::test]
    async fn the_password_of_the_sign_in_unlocks_and_five_wrong_need_a_sign_in() {
        let fx = Fixture::new();
        fx.ctx
            .sync()
            .app_lock()
            .remember_password("field-pass-2026")
            .unwrap();
        assert!(lock_app(&fx.ctx).unwrap().locked);
        for _ in 0..4 {
            assert_eq!(
                unlock_app(&fx.ctx, "wrong".into()).await.unwrap(),
                UnlockOutcome::WrongPassword
            );
        }
        assert_eq!(
            unlock_app(&fx.ctx, "wrong".into()).await.unwrap(),
            UnlockOutcome::MustSignIn
        );
        let status = lock_status(&fx.ctx);
        assert!(status.locked && status.must_sign_in, "{status:?}");
    }
}
