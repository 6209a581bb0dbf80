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
//!
//! The schedule's first screen comes the same way: with the page signed in
//! and unlocked, its rows took one more round trip after the page loaded,
//! 70–150 ms while WebKit was busy laying out the empty screen. The shell
//! answers the two queries the schedule's first screen makes (today and
//! later, 40 rows; how many past rows there are) before it builds the
//! window, about 10 ms of the store's time. The page uses an answer only for
//! a query equal to the one it was given for, so a page that asks for
//! something else (another day after midnight, another first screen) just
//! asks the shell.

use chrono::NaiveDate;
use fieldbook_store::{InstallationQuery, Session, Store};
use fieldbook_sync::app_lock::LockStatus;
use serde::Serialize;
use ts_rs::TS;
use uuid::Uuid;

use crate::context::AppContext;
use crate::installations::{installation_page, InstallationPage};
use crate::session::AppInfo;

/// Rows of the schedule's first screen; `SCHEDULE_FIRST_SCREEN` in
/// `ui/src/lib/schedule.ts` is the page's side of it. Were they to differ,
/// the page would only ask the shell as before.
const SCHEDULE_FIRST_SCREEN: u32 = 40;

/// A query of the installation list and its answer, handed over early.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct BootListAnswer {
    pub query: InstallationQuery,
    pub page: InstallationPage,
}

/// What the page needs before its first screen, as the commands
/// `app_info`, `current_session`, `lock_status` and `list_installations`
/// would answer it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct BootState {
    /// This start's own id: a page reloaded in the same window has used it.
    pub id: Uuid,
    pub info: AppInfo,
    pub session: Option<Session>,
    pub lock: LockStatus,
    /// The schedule's first-screen queries answered, when the schedule is
    /// what a signed-in, unlocked page shows first; otherwise empty.
    pub schedule: Vec<BootListAnswer>,
}

/// The page's global that holds the [`BootState`] until the page takes it.
const GLOBAL: &str = "__FIELDBOOK_BOOT__";

impl BootState {
    /// Reads the facts now. `None` when the cached session cannot be read
    /// (the page then asks, and shows what fails).
    pub fn read(ctx: &AppContext) -> Option<Self> {
        let lock = crate::app_lock::lock_status(ctx);
        let store = ctx.shared_store().lock().ok()?;
        let session = match store.session() {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!(error = %e, "the start facts were not handed to the page");
                return None;
            }
        };
        // No customer's data in a page that opens locked.
        let schedule = if session.is_some() && !lock.locked && !lock.customer_signing {
            first_schedule_answers(&store, chrono::Local::now().date_naive())
        } else {
            Vec::new()
        };
        drop(store);
        Some(Self {
            id: Uuid::new_v4(),
            info: crate::session::app_info(ctx),
            session,
            lock,
            schedule,
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

/// The queries of the schedule's first screen on `today`, answered (see
/// `ScheduleFeed` in `ui/src/lib/schedule.ts`): today and later, and the
/// count of the past. Empty if the store cannot answer (the page asks then).
fn first_schedule_answers(store: &Store, today: NaiveDate) -> Vec<BootListAnswer> {
    let upcoming = InstallationQuery {
        from_date: Some(today),
        limit: SCHEDULE_FIRST_SCREEN,
        ..InstallationQuery::default()
    };
    let past_count = InstallationQuery {
        to_date: today.pred_opt(),
        limit: 0,
        ..InstallationQuery::default()
    };
    let started = std::time::Instant::now();
    let answers = [upcoming, past_count]
        .into_iter()
        .map(|query| {
            let page = installation_page(store, &query)?;
            Ok(BootListAnswer { query, page })
        })
        .collect::<fieldbook_store::Result<Vec<_>>>();
    match answers {
        Ok(answers) => {
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "schedule's first screen read for the page"
            );
            answers
        }
        Err(e) => {
            tracing::warn!(error = %e, "the schedule's first screen was not handed to the page");
            Vec::new()
        }
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

    #[tokio::test]
    async fn answers_the_schedules_first_screen_as_the_list_command_would() {
        let fx = Fixture::new();
        let today = chrono::Local::now().date_naive();
        let boot = BootState::read(&fx.ctx).unwrap();
        let [upcoming, past] = boot.schedule.as_slice() else {
            panic!("two answers: {:?}", boot.schedule);
        };
        assert_eq!(
            (upcoming.query.from_date, upcoming.query.to_date),
            (Some(today), None)
        );
        assert_eq!(upcoming.query.limit, SCHEDULE_FIRST_SCREEN);
        assert_eq!(
            (past.query.from_date, past.query.to_date, past.query.limit),
            (None, today.pred_opt(), 0)
        );
        for answer in &boot.schedule {
            let asked = crate::installations::list_installations(&fx.ctx, answer.query.clone())
                .await
                .unwrap();
            assert_eq!(answer.page, asked, "{:?}", answer.query);
        }
        // The demo team has jobs on both sides of today.
        assert!(!upcoming.page.items.is_empty());
        assert!(past.page.total > 0 && past.page.items.is_empty());
    }

    #[test]
    fn no_rows_for_a_page_that_opens_locked_or_signed_out() {
        let fx = Fixture::new();
        let lock = fx.ctx.sync().app_lock();
        lock.set_customer_signing(true).unwrap();
        assert!(BootState::read(&fx.ctx).unwrap().schedule.is_empty());
        lock.set_customer_signing(false).unwrap();
        lock.remember_password("field-pass-2026").unwrap();
        lock.lock().unwrap();
        assert!(BootState::read(&fx.ctx).unwrap().schedule.is_empty());
        lock.unlock("field-pass-2026").unwrap();
        assert_eq!(BootState::read(&fx.ctx).unwrap().schedule.len(), 2);

        fx.ctx.shared_store().lock().unwrap().sign_out().unwrap();
        let boot = BootState::read(&fx.ctx).unwrap();
        assert_eq!((boot.session, boot.schedule.len()), (None, 0));
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
