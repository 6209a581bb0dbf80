//! Who uses the app: start-up facts for the UI, the cached session (works
//! offline), sign in and sign out through the sync engine.

use fieldbook_store::Session;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::context::AppContext;
use crate::error::CommandResult;

/// What the UI needs to know before anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    /// The server the sign-in screen offers: the one last signed in to, else
    /// `FIELDBOOK_SERVER_URL`.
    pub default_server_url: Option<String>,
    /// Test-only hooks are on (`FIELDBOOK_TEST_HOOKS=1`).
    pub test_hooks: bool,
    /// Plain http:// is allowed to this host on a private network: the
    /// sign-in screen warns that its traffic can be read there.
    pub insecure_http_host: Option<String>,
}

pub fn app_info(ctx: &AppContext) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: ctx.data_dir().display().to_string(),
        default_server_url: ctx
            .sync()
            .server_url()
            .or_else(|| ctx.launch().default_server_url.clone()),
        test_hooks: ctx.launch().test_hooks,
        insecure_http_host: fieldbook_sync::transport::allowed_http_host_warning(
            ctx.launch().allowed_http_host.as_deref(),
        ),
    }
}

/// The session cached in the store: the app opens offline with it.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn current_session(ctx: &AppContext) -> CommandResult<Option<Session>> {
    ctx.with_store(|store| store.session()).await
}

#[tracing::instrument(skip(ctx, password), err(level = "warn"))]
pub async fn sign_in(
    ctx: &AppContext,
    server_url: String,
    username: String,
    password: String,
) -> CommandResult<Session> {
    Ok(ctx
        .sync()
        .sign_in(&server_url, &username, &password)
        .await?)
}

/// Refused with `unsynced_work` while changes or files are unsent, unless
/// `force`.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn sign_out(ctx: &AppContext, force: bool) -> CommandResult<()> {
    Ok(ctx.sync().sign_out(force).await?)
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn app_info(ctx: State<'_, AppContext>) -> CommandResult<AppInfo> {
        Ok(super::app_info(&ctx))
    }

    #[tauri::command]
    pub async fn current_session(ctx: State<'_, AppContext>) -> CommandResult<Option<Session>> {
        super::current_session(&ctx).await
    }

    #[tauri::command]
    pub async fn sign_in(
        ctx: State<'_, AppContext>,
        server_url: String,
        username: String,
        password: String,
    ) -> CommandResult<Session> {
        super::sign_in(&ctx, server_url, username, password).await
    }

    #[tauri::command]
    pub async fn sign_out(ctx: State<'_, AppContext>, force: bool) -> CommandResult<()> {
        super::sign_out(&ctx, force).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::LaunchSettings;
    use crate::test_support::Fixture;

    #[tokio::test]
    async fn app_info_offers_the_launch_server_until_one_was_signed_in_to() {
        let fx = Fixture::with_launch(LaunchSettings {
            default_server_url: Some("http://127.0.0.1:8787".into()),
            test_hooks: true,
            log_dir: None,
            allowed_http_host: Some("fieldbook-box.lan".into()),
        });
        let info = app_info(&fx.ctx);
        assert_eq!(
            info.default_server_url.as_deref(),
            Some("http://127.0.0.1:8787")
        );
        assert!(info.test_hooks);
        assert_eq!(
            info.insecure_http_host.as_deref(),
            Some("fieldbook-box.lan")
        );
        assert_eq!(info.data_dir, fx.dir.path().display().to_string());
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    }

    #[tokio::test]
    async fn the_cached_session_is_there_without_a_server() {
        let fx = Fixture::new();
        let session = current_session(&fx.ctx).await.unwrap().unwrap();
        assert_eq!(session.user, fx.technician);
        assert_eq!(session.team_ids, fx.team_ids);
    }

    #[tokio::test]
    async fn sign_out_refuses_while_work_is_unsent_unless_forced() {
        let fx = Fixture::new();
        fx.started_job().await;
        let err = sign_out(&fx.ctx, false).await.unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::UnsyncedWork);
        assert!(current_session(&fx.ctx).await.unwrap().is_some());
        sign_out(&fx.ctx, true).await.unwrap();
        assert!(current_session(&fx.ctx).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sign_in_to_an_unusable_address_says_so() {
        let fx = Fixture::new();
        let err = sign_in(&fx.ctx, "not a url".into(), "alex".into(), "pw".into())
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::InvalidServerUrl);
    }
}
