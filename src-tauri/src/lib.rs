//! The Fieldbook desktop app: the Tauri shell over `fieldbook-store` and
//! `fieldbook-sync`.
//!
//! One module per feature; each holds its command bodies as plain functions
//! over [`context::AppContext`] (tested without Tauri) and a `commands`
//! submodule of one-line `#[tauri::command]` wrappers.

pub mod app_lock;
pub mod bindings;
pub mod boot;
pub mod certificates;
pub mod command_list;
pub mod context;
pub mod error;
pub mod installations;
pub mod label_reading;
pub mod logging;
pub mod media;
pub mod media_protocol;
pub mod navigation;
pub mod reports;
pub mod session;
pub mod settings;
pub mod sync;
pub mod ui_font;
pub mod updates;

#[cfg(test)]
mod mock_answers;
#[cfg(test)]
mod test_support;

use std::path::{Path, PathBuf};

use sha2::Digest;
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewWindowBuilder};
use tauri_plugin_dialog::{DialogExt, MessageDialogKind};

use command_list::invoke_handler;
use context::{AppContext, LaunchSettings};

/// The window the UI lives in (`tauri.conf.json`, created in setup).
const MAIN_WINDOW: &str = "main";

/// Environment variable overriding the data folder (the app contract).
pub const DATA_DIR_ENV: &str = "FIELDBOOK_DATA_DIR";

pub fn run() {
    restrict_new_files_to_this_user();
    let context = tauri::generate_context!();
    let explicit_data_dir = std::env::var_os(DATA_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let instance_id =
        single_instance_id(&context.config().identifier, explicit_data_dir.as_deref());
    let app = tauri::Builder::default()
        // First: a second launch on the same data folder must hand over to
        // the running one before anything else opens the store.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance_id)
                .callback(|app, _args, _cwd| focus_main_window(app))
                .build(),
        )
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .register_asynchronous_uri_scheme_protocol(
            media_protocol::SCHEME,
            |ctx, request, responder| {
                let Some(media) = ctx
                    .app_handle()
                    .try_state::<AppContext>()
                    .map(|app| app.media().clone())
                else {
                    responder.respond(
                        tauri::http::Response::builder()
                            .status(tauri::http::StatusCode::SERVICE_UNAVAILABLE)
                            .body(Vec::new())
                            .unwrap_or_default(),
                    );
                    return;
                };
                // File reads stay off the UI thread.
                tauri::async_runtime::spawn_blocking(move || {
                    responder.respond(media_protocol::respond(&media, &request));
                });
            },
        )
        .invoke_handler(command_list::with_app_commands!(invoke_handler))
        .setup(|app| {
            setup(app.handle());
            Ok(())
        })
        .build(context);
    match app {
        Ok(app) => app.run(|app, event| {
            if let tauri::RunEvent::Exit = event {
                empty_the_write_ahead_log(app);
                tracing::info!("quitting");
                if let Some(log) = app.try_state::<logging::LogGuard>() {
                    log.flush_at_exit();
                }
            }
        }),
        Err(e) => {
            eprintln!("Fieldbook could not start: {e}");
            std::process::exit(1);
        }
    }
}

/// Opens the data folder's store, starts sync and shows the window; if the
/// store cannot be opened (in use by another Fieldbook, written by a newer
/// version, …) says so in a dialog and quits.
fn setup<R: Runtime>(app: &AppHandle<R>) {
    let data_dir = match data_dir(app) {
        Ok(dir) => dir,
        Err(message) => return fail_to_start(app, message),
    };
    // With an explicit data folder (tests, several technicians on one
    // machine) the logs go with it; otherwise to the OS's log folder.
    let log_dir = if std::env::var_os(DATA_DIR_ENV).is_some() {
        Ok(data_dir.join("logs"))
    } else {
        app.path().app_log_dir()
    };
    let log_dir = match log_dir.map_err(|e| e.to_string()).and_then(|dir| {
        let guard = logging::init(&dir)?;
        Ok((dir, guard))
    }) {
        Ok((dir, guard)) => {
            app.manage(guard);
            Some(dir)
        }
        Err(message) => {
            eprintln!("Fieldbook runs without a log file: {message}");
            None
        }
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %data_dir.display(), "starting");

    let key_file_dir = match key_file_dir(app, &data_dir) {
        Ok(dir) => dir,
        Err(message) => return fail_to_start(app, message),
    };
    let launch = LaunchSettings {
        log_dir,
        ..LaunchSettings::from_env()
    };
    let ctx = match AppContext::open_encrypted(&data_dir, &key_file_dir, launch) {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!(code = e.code(), error = %e, "cannot open the store");
            return fail_to_start(app, capitalise(&e.to_string()));
        }
    };
    if let Some(backend) = ctx.key_backend() {
        tracing::info!(?backend, "keys opened");
    }
    let updater = updates::updater_for(app, &ctx);
    let ctx = match updater.clone() {
        Some(updater) => ctx.with_updater(updater),
        None => ctx,
    };
    app.manage(ctx.clone());

    // Size and position are remembered per data folder.
    let window_state_file = data_dir.join("window-state.json");
    if let Err(e) = app.plugin(
        tauri_plugin_window_state::Builder::new()
            .with_filename(window_state_file.to_string_lossy())
            .build(),
    ) {
        tracing::warn!(error = %e, "window size and position will not be remembered");
    }
    if let Err(e) = create_main_window(app, &ctx) {
        tracing::error!(error = %e, "cannot open the window");
        return fail_to_start(
            app,
            format!("The Fieldbook window could not be opened: {e}"),
        );
    }

    let handle = app.clone();
    // Label searches an earlier run left waiting.
    ctx.labels().wake();
    tauri::async_runtime::spawn(label_reading::forward_reads(handle.clone(), ctx.clone()));
    tauri::async_runtime::spawn(async move {
        ctx.sync().start();
        sync::forward_status(handle, ctx).await;
    });
    if let Some(updater) = updater {
        let handle = app.clone();
        tauri::async_runtime::spawn(updates::run(handle, updater));
    }
}

/// As the app quits: the database whole in its file, so the next start
/// does not rebuild the log's index first (see [`fieldbook_store::Store::checkpoint`]).
/// Skipped while a sync holds the store: the process is ending, and SQLite
/// reads the log at the next start as before.
fn empty_the_write_ahead_log<R: Runtime>(app: &AppHandle<R>) {
    let Some(ctx) = app.try_state::<AppContext>() else {
        return;
    };
    let Ok(mut store) = ctx.shared_store().try_lock() else {
        tracing::debug!("the store is busy at exit; its log is left for the next start");
        return;
    };
    match store.checkpoint() {
        Ok(()) => tracing::info!("the database's log is emptied into its file"),
        Err(e) => tracing::warn!(error = %e, "cannot empty the database's log at exit"),
    }
}

/// Every file and folder Fieldbook creates from here on (database, WAL,
/// media, logs, window state, token) is for this OS user only, whichever
/// library creates it: the log appender and the window-state plugin take no
/// file mode of their own. Existing files are tightened by
/// [`fieldbook_store::make_private`] at start.
fn restrict_new_files_to_this_user() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

fn data_dir<R: Runtime>(app: &AppHandle<R>) -> Result<PathBuf, String> {
    let dir = match std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => app
            .path()
            .app_data_dir()
            .map_err(|e| format!("Fieldbook cannot find a folder for its data: {e}"))?,
    };
    fieldbook_store::make_private(&dir).map_err(|e| {
        format!(
            "Fieldbook cannot create its data folder {}: {e}. Check the disk and its permissions.",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// Where the keys go when no OS keyring answers: outside the data folder,
/// so a copy of the folder does not carry them. Beside an explicit data
/// folder (`<folder>-keys`), else in the app's config folder (`keys/`).
fn key_file_dir<R: Runtime>(app: &AppHandle<R>, data_dir: &Path) -> Result<PathBuf, String> {
    if std::env::var_os(DATA_DIR_ENV).is_some_and(|v| !v.is_empty()) {
        let name = data_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "fieldbook".to_owned());
        return Ok(data_dir.with_file_name(format!("{name}-keys")));
    }
    app.path()
        .app_config_dir()
        .map(|dir| dir.join("keys"))
        .map_err(|e| format!("Fieldbook cannot find a folder for its keys: {e}"))
}

fn create_main_window<R: Runtime>(app: &AppHandle<R>, ctx: &AppContext) -> tauri::Result<()> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .cloned()
        .ok_or_else(|| tauri::Error::WindowNotFound)?;
    // The dev server is one of the app's pages only under `tauri dev`.
    let dev_server = tauri::is_dev()
        .then(|| app.config().build.dev_url.clone())
        .flatten();
    let guard = navigation::NavigationGuard::new(dev_server.as_ref());
    let handle = app.clone();
    let mut window = WebviewWindowBuilder::from_config(app, &config)?.on_navigation(move |url| {
        let handle = handle.clone();
        guard.on_navigation(url, move |scheme| {
            if let Err(e) = handle.emit(navigation::NO_HANDLER_EVENT, scheme) {
                tracing::warn!(error = %e, "could not tell the window that no app took the link");
            }
        })
    });
    if let Some(script) = ui_font::init_script() {
        window = window.initialization_script(script);
    }
    if let Some(script) = boot::BootState::read(ctx).and_then(|boot| boot.init_script()) {
        window = window.initialization_script(script);
    }
    window.build()?;
    Ok(())
}

fn focus_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Shows why Fieldbook cannot start and quits once the message is closed.
fn fail_to_start<R: Runtime>(app: &AppHandle<R>, message: String) {
    eprintln!("Fieldbook cannot start: {message}");
    let handle = app.clone();
    app.dialog()
        .message(message)
        .title("Fieldbook cannot start")
        .kind(MessageDialogKind::Error)
        .show(move |_| handle.exit(1));
}

/// The single-instance plugin's D-Bus name: one per data folder, so two
/// technicians' folders (or test runs) can be open at once, while a second
/// launch on the same folder focuses the first window.
fn single_instance_id(identifier: &str, explicit_data_dir: Option<&std::path::Path>) -> String {
    match explicit_data_dir {
        Some(dir) => {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            let digest = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
            let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            format!("{identifier}.data_{short}")
        }
        None => identifier.to_owned(),
    }
}

fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn each_data_folder_gets_its_own_single_instance_name() {
        let id = "app.fieldbook.desktop";
        assert_eq!(single_instance_id(id, None), id);
        let a = single_instance_id(id, Some(Path::new("/tmp/tech-a")));
        let b = single_instance_id(id, Some(Path::new("/tmp/tech-b")));
        assert_ne!(a, b);
        assert_eq!(a, single_instance_id(id, Some(Path::new("/tmp/tech-a"))));
        // A D-Bus name element: letters, digits, `_`, `-`; not starting with a digit.
        let last = a.rsplit('.').next().unwrap();
        assert!(last.starts_with("data_"), "{a}");
        assert!(last.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }

    #[test]
    fn startup_messages_start_with_a_capital() {
        assert_eq!(capitalise("this data was written"), "This data was written");
        assert_eq!(capitalise(""), "");
    }
}
