//! What the page needs to choose its first screen, handed over with the
//! page instead of asked for after it loads.
//!
//! At start every IPC round trip costs 35–60 ms whatever it carries (the
//! web process, the UI thread and the command runtime are all still busy
//! starting), and the first screen waited for one: app info, the cached
//! session and the lock's status. The shell already has all three when it
//! builds the window, so it puts them in an initialization script; the page
//! takes them at once and asks the shell only for what changes (the sync
//! status, the schedule's rows).
//!
//! The script is fixed when the window is built and runs again if the page
//! reloads in the same window; by then its facts may be stale (a sign-out,
//! a lock). Each start therefore carries its own id, and the page uses a
//! given id once per window (`ui/src/lib/boot.ts`); after that it asks.

use fieldbook_store::Session;
use fieldbook_sync::app_lock::LockStatus;
use serde::Serialize;
use ts_rs::TS;
use uuid::Uuid;

use crate::context::AppContext;
use crate::session::AppInfo;

/// What the page needs before its first screen, as the commands
/// `app_info`, `current_session` and `lock_status` would answer it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct BootState {
    /// This start's own id: a page reloaded in the same window has used it.
    pub id: Uuid,
    pub info: AppInfo,
    pub session: Option<Session>,
    pub lock: LockStatus,
}

/// The page's global that holds the [`BootState`] until the page takes it.
const GLOBAL: &str = "__FIELDBOOK_BOOT__";

impl BootState {
    /// Reads the facts now. `None` when the cached session cannot be read
    /// (the page then asks, and shows what fails).
    pub fn read(ctx: &AppContext) -> Option<Self> {
        let session = match ctx.shared_store().lock().ok()?.session() {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!(error = %e, "the start facts were not handed to the page");
                return None;
            }
        };
        Some(Self {
            id: Uuid::new_v4(),
            info: crate::session::app_info(ctx),
            session,
            lock: crate::app_lock::lock_status(ctx),
        })
    }

    /// The initialization script that hands this state to the page: to
    /// Fieldbook's own page only (`tauri://localhost`, `http://tauri.localhost`
    /// on Windows, the dev server on localhost), never to a page the window
    /// was somehow sent to.
    pub fn init_script(&self) -> Option<String> {
        // JSON is a valid JavaScript expression; `<` is escaped so that no
        // value can end a script element, wherever the script is put.
        let json = serde_json::to_string(self).ok()?.replace('<', "\\u003c");
        Some(format!(
            "if (location.protocol === \"tauri:\" || location.hostname === \"tauri.localhost\" || \
             location.hostname === \"localhost\") window.{GLOBAL} = {json};"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Fixture;

    #[test]
    fn hands_the_page_what_the_commands_answer() {
        let fx = Fixture::new();
        let boot = BootState::read(&fx.ctx).expect("boot state");
        assert_eq!(boot.info, crate::session::app_info(&fx.ctx));
        assert_eq!(
            boot.session,
            fx.ctx.shared_store().lock().unwrap().session().unwrap()
        );
        assert_eq!(boot.lock, crate::app_lock::lock_status(&fx.ctx));
        // Each start has its own id.
        assert_ne!(boot.id, BootState::read(&fx.ctx).unwrap().id);
    }

    #[test]
    fn the_script_sets_the_global_to_the_state_and_cannot_close_a_script_element() {
        let fx = Fixture::new();
        let mut boot = BootState::read(&fx.ctx).unwrap();
        boot.info.data_dir = "/home/x/</script><script>alert(1)</script>".to_owned();
        let script = boot.init_script().unwrap();
        assert!(!script.contains("</script>"), "{script}");
        let (guard, assignment) = script.split_once(") window.").unwrap();
        assert!(
            guard.starts_with("if (location.protocol === \"tauri:\""),
            "{guard}"
        );
        let json = assignment
            .strip_prefix("__FIELDBOOK_BOOT__ = ")
            .unwrap()
            .trim_end_matches(';');
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["info"]["data_dir"], boot.info.data_dir.as_str());
        assert_eq!(value["id"], boot.id.to_string());
    }
}
