//! Logs: tracing to a daily-rotated file (a week kept) in the log folder,
//! and to stderr in debug builds.
//!
//! The logs go into the diagnostics bundle support receives, so nothing
//! traced may carry a secret or customer data: commands `skip` passwords,
//! search text, reasons, captions and names, the sync engine never traces
//! its token, and `tests/diagnostics.rs` checks both at debug level.
//!
//! A panic leaves a line in the file too (support reads the file; stderr
//! goes nowhere on a desktop): see [`log_panics`].

use std::panic::PanicHookInfo;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Keeps the background log writer alive until [`LogGuard::flush_at_exit`].
///
/// The writer flushes the file when its guard drops, and the app's managed
/// state never drops: the process ends at exit without it. Without the
/// flush, the last lines before a quit (what support reads first) could
/// be lost.
#[derive(Debug)]
pub struct LogGuard(SharedWorkerGuard);

/// The writer's guard, shared by the app (its exit) and the panic hook.
type SharedWorkerGuard = Arc<Mutex<Option<WorkerGuard>>>;

impl LogGuard {
    /// Writes out every line logged so far and stops the writer; lines
    /// logged after this are dropped. For the app's last moments.
    pub fn flush_at_exit(&self) {
        flush_and_stop(&self.0);
    }
}

fn flush_and_stop(guard: &SharedWorkerGuard) {
    let guard = guard.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(guard);
}

/// The level when `RUST_LOG` is not set: info, debug for Fieldbook's crates.
const DEFAULT_FILTER: &str = "info,fieldbook_app=debug,fieldbook_sync=debug,fieldbook_store=debug";

/// `RUST_LOG` overrides the default level (ignored when it does not parse).
pub fn init(log_dir: &Path) -> Result<LogGuard, String> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty() && EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
    init_with_filter(log_dir, &filter)
}

/// Logs at the level of `filter` (`EnvFilter` syntax).
pub fn init_with_filter(log_dir: &Path, filter: &str) -> Result<LogGuard, String> {
    let filter =
        EnvFilter::try_new(filter).map_err(|e| format!("bad log filter {filter:?}: {e}"))?;
    // The logs name jobs and places: for this OS user only, also the files
    // an earlier version left readable.
    fieldbook_store::make_private(log_dir)
        .map_err(|e| format!("cannot create the log folder {}: {e}", log_dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("fieldbook")
        .filename_suffix("log")
        .max_log_files(7)
        .build(log_dir)
        .map_err(|e| format!("cannot open a log file in {}: {e}", log_dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let file = fmt::layer()
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(filter.clone());
    let stderr = cfg!(debug_assertions).then(|| {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
    });
    tracing_subscriber::registry()
        .with(file)
        .with(stderr)
        .try_init()
        .map_err(|e| format!("logging was already set up: {e}"))?;
    let guard = Arc::new(Mutex::new(Some(guard)));
    log_panics(Arc::clone(&guard));
    Ok(LogGuard(guard))
}

/// Every panic is logged (thread and place in the code) before the usual
/// report on stderr.
///
/// The message goes in only when it is a literal from our code or a
/// library's (`panic!("…")`, `unwrap()` on `None`). A formatted one can
/// hold what the code was working on (a parse error quoting a customer's
/// name), and the logs never carry customer data; its place in the code
/// is what a developer needs to find it.
///
/// A panic on the UI thread cannot unwind through GTK's frames, so the
/// process aborts right after this hook: the writer is flushed and stopped
/// there, or the line (and those queued before it) would die with the
/// process. A panic on any other thread ends that thread or task only, and
/// logging goes on.
fn log_panics(guard: SharedWorkerGuard) {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log_panic(info);
        if std::thread::current().name() == Some("main") {
            flush_and_stop(&guard);
        }
        report(info);
    }));
}

fn log_panic(info: &PanicHookInfo<'_>) {
    let current = std::thread::current();
    let thread = current.name().unwrap_or("unnamed");
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    match info.payload().downcast_ref::<&'static str>() {
        Some(message) => tracing::error!(thread, location, message, "panic"),
        None => tracing::error!(
            thread,
            location,
            "panic (its message is formatted and may hold customer data: not logged)"
        ),
    }
}
