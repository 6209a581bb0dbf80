//! Logs: tracing to a daily-rotated file (a week kept) in the log folder,
//! and to stderr in debug builds.
//!
//! The logs go into the diagnostics bundle support receives, so nothing
//! traced may carry a secret or customer data: commands `skip` passwords,
//! search text, reasons, captions and names, the sync engine never traces
//! its token, and `tests/diagnostics.rs` checks both at debug level.

use std::path::Path;
use std::sync::Mutex;

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
pub struct LogGuard(Mutex<Option<WorkerGuard>>);

impl LogGuard {
    /// Writes out every line logged so far and stops the writer; lines
    /// logged after this are dropped. For the app's last moments.
    pub fn flush_at_exit(&self) {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(guard);
    }
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
    Ok(LogGuard(Mutex::new(Some(guard))))
}
