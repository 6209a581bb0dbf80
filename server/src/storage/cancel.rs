//! Stopping a read nobody waits for any more: the request timed out or the
//! client hung up, so its storage work is wasted and only delays the reads
//! that are still wanted (docs/scaling.md, the first-pull storm).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::StorageError;

/// Shared between the request (which sets it when it is dropped) and the
/// blocking thread running its read (which checks it). A backend checks it
/// between statements and stops a running statement with it (SQLite's
/// progress handler; PostgreSQL's `statement_timeout` up to the deadline).
#[derive(Debug, Clone)]
pub struct CancelFlag {
    cancelled: Arc<AtomicBool>,
    /// The request's deadline: past it, the read counts as cancelled even if
    /// nobody set the flag.
    deadline: Option<Instant>,
}

impl CancelFlag {
    /// A flag that only [`Self::cancel`] sets.
    pub fn new() -> CancelFlag {
        CancelFlag {
            cancelled: Arc::new(AtomicBool::new(false)),
            deadline: None,
        }
    }

    /// A flag that is also set from `deadline` on.
    pub fn with_deadline(deadline: Instant) -> CancelFlag {
        CancelFlag {
            deadline: Some(deadline),
            ..CancelFlag::new()
        }
    }

    /// Nobody waits for the answer any more.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// `Err(Cancelled)` once cancelled: `?` after it stops the read.
    pub fn check(&self) -> Result<(), StorageError> {
        if self.is_cancelled() {
            Err(StorageError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The request's deadline, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl Default for CancelFlag {
    fn default() -> Self {
        CancelFlag::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flag_is_cancelled_by_cancel_or_by_its_deadline() {
        let flag = CancelFlag::new();
        assert!(flag.check().is_ok());
        flag.clone().cancel();
        assert!(matches!(flag.check(), Err(StorageError::Cancelled)));

        let past = CancelFlag::with_deadline(Instant::now() - Duration::from_millis(1));
        assert!(past.is_cancelled());
        let future = CancelFlag::with_deadline(Instant::now() + Duration::from_secs(60));
        assert!(!future.is_cancelled());
    }
}
