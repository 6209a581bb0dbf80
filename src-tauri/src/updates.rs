//! App updates from the company's Fieldbook server. The background work
//! (check when online, download while the technician's work is not
//! uploading, verify) and the rule of when installing is safe are
//! `fieldbook_sync::updates`; this module wires them to the window
//! (`update://status` events, two commands) and installs with
//! tauri-plugin-updater, which verifies the bytes again with the public key
//! in `tauri.conf.json` (`plugins.updater.pubkey`) and, for a `.deb`, runs
//! `pkexec dpkg -i` (the technician authorises it), then restarts.

use fieldbook_sync::updates::{
    update_target, InstallReadiness, UpdateOptions, UpdateStatus, Updater,
};
use tauri::{AppHandle, Emitter, Manager, Runtime, State};
use tauri_plugin_updater::UpdaterExt;

use crate::context::AppContext;
use crate::error::{CommandError, CommandResult, ErrorCode};

/// The event carrying every [`UpdateStatus`] change.
pub const STATUS_EVENT: &str = "update://status";

/// How often a running app asks the server for a newer build.
const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The background updater for this app, when the build has an update key
/// (`plugins.updater.pubkey`) and its bundle type is known (a `.deb`, MSI,
/// … install; not `cargo run`).
pub fn updater_for<R: Runtime>(app: &AppHandle<R>, ctx: &AppContext) -> Option<Updater> {
    let public_key = app
        .config()
        .plugins
        .0
        .get("updater")
        .and_then(|c| c.get("pubkey"))
        .and_then(|k| k.as_str())
        .filter(|k| !k.trim().is_empty())?
        .to_owned();
    let bundle = match tauri::utils::platform::bundle_type() {
        Some(bundle) => bundle.to_string(),
        None => {
            tracing::info!("not an installed build: no update checks");
            return None;
        }
    };
    let options = UpdateOptions {
        current_version: app.package_info().version.to_string(),
        target: update_target(&bundle),
        public_key,
        dir: ctx.data_dir().join("updates"),
        check_interval: CHECK_INTERVAL,
        pause_poll: std::time::Duration::from_secs(30),
    };
    Some(Updater::new(ctx.sync().clone(), options))
}

/// Starts the background updater and emits its status as [`STATUS_EVENT`].
pub async fn run<R: Runtime>(app: AppHandle<R>, updater: Updater) {
    updater.start();
    let mut changes = updater.subscribe();
    loop {
        let status = changes.borrow_and_update().clone();
        if let Err(e) = app.emit(STATUS_EVENT, &status) {
            tracing::warn!(error = %e, "could not send the update status to the window");
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Where the update stands; a build without updates answers its version only.
pub fn update_status(ctx: &AppContext) -> UpdateStatus {
    match ctx.updater() {
        Some(updater) => updater.status(),
        None => UpdateStatus {
            current_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..UpdateStatus::default()
        },
    }
}

/// Whether installing now is safe (the rule is `fieldbook_sync::updates::install_readiness`).
pub fn install_readiness(ctx: &AppContext) -> InstallReadiness {
    match ctx.updater() {
        Some(updater) => updater.install_readiness(),
        None => InstallReadiness::Wait {
            reason:
                "this build of Fieldbook is not installed from a package and cannot update itself"
                    .into(),
        },
    }
}

/// Installs the downloaded update after the technician said yes, if that is
/// still safe, then restarts Fieldbook.
#[tracing::instrument(skip_all, err(level = "warn"))]
pub async fn install_update<R: Runtime>(app: &AppHandle<R>, ctx: &AppContext) -> CommandResult<()> {
    if let InstallReadiness::Wait { reason } = install_readiness(ctx) {
        return Err(CommandError::new(ErrorCode::UpdateNotReady, reason));
    }
    let ready = ctx
        .updater()
        .and_then(|u| u.ready_update())
        .ok_or_else(|| {
            CommandError::new(ErrorCode::UpdateNotReady, "no update has been downloaded")
        })?;
    let server_url = ctx
        .sync()
        .server_url()
        .ok_or_else(|| CommandError::new(ErrorCode::UpdateNotReady, "sign in to a server first"))?;
    let endpoint = format!(
        "{}/api/v1/updates/{{{{target}}}}-{{{{arch}}}}-{{{{bundle_type}}}}/{{{{current_version}}}}",
        server_url.trim_end_matches('/')
    );
    let plugin_error = |e: tauri_plugin_updater::Error| {
        CommandError::new(
            ErrorCode::UpdateRejected,
            format!("the update could not be installed: {e}; Fieldbook keeps running this version"),
        )
    };
    let endpoint = endpoint
        .parse()
        .map_err(|e| CommandError::internal(format!("bad update address {endpoint}: {e}")))?;
    let updater = app
        .updater_builder()
        .endpoints(vec![endpoint])
        .and_then(|b| b.build())
        .map_err(plugin_error)?;
    let raw = serde_json::to_value(&ready.manifest)
        .map_err(|e| CommandError::internal(format!("cannot read the update's manifest: {e}")))?;
    let update = updater
        .restore_update(raw)
        .map_err(plugin_error)?
        .ok_or_else(|| {
            CommandError::new(
                ErrorCode::UpdateNotReady,
                "this version is already installed",
            )
        })?;
    let path = ready.path.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| CommandError::internal(format!("reading the update stopped: {e}")))?
        .map_err(|e| {
            CommandError::new(
                ErrorCode::Io,
                format!("cannot read the downloaded update: {e}"),
            )
        })?;
    tracing::info!(version = %update.version, "installing the update");
    // Verifies again, then (for a .deb) `pkexec dpkg -i`: blocks while the
    // technician authorises it.
    tokio::task::spawn_blocking(move || update.install(bytes))
        .await
        .map_err(|e| CommandError::internal(format!("installing stopped: {e}")))?
        .map_err(plugin_error)?;
    app.restart();
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn update_status(ctx: State<'_, AppContext>) -> CommandResult<UpdateStatus> {
        Ok(super::update_status(&ctx))
    }

    #[tauri::command]
    pub async fn install_readiness(ctx: State<'_, AppContext>) -> CommandResult<InstallReadiness> {
        Ok(super::install_readiness(&ctx))
    }

    #[tauri::command]
    pub async fn install_update(app: AppHandle) -> CommandResult<()> {
        let ctx = app.state::<AppContext>();
        super::install_update(&app, &ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Fixture;

    #[test]
    fn a_build_without_updates_says_so_and_never_installs() {
        let fx = Fixture::new();
        assert_eq!(
            update_status(&fx.ctx).current_version,
            env!("CARGO_PKG_VERSION")
        );
        let InstallReadiness::Wait { reason } = install_readiness(&fx.ctx) else {
            panic!("a fixture has no updater");
        };
        assert!(reason.contains("cannot update itself"), "{reason}");
    }
}
