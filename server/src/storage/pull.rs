//! Pull: one page of the change feed after a device's cursor, in the
//! caller's scope, on one snapshot. A page that is not the last ends at its
//! last change; the last page moves the cursor to the snapshot's highest
//! sequence number (skipping changes the caller may not see).

use chrono::NaiveDate;
use fieldbook_domain::{InstallationReport, Sha256Hex};
use fieldbook_protocol::{PullPage, PulledReport};

use super::{Scope, StorageError};

/// A stored report with its receive time and signature availability.
pub fn pulled_report_from(
    report: InstallationReport,
    received_at: chrono::DateTime<chrono::Utc>,
    blob_available: &dyn Fn(&Sha256Hex) -> bool,
) -> PulledReport {
    let signature_blob_available = report
        .customer_signature
        .as_ref()
        .is_none_or(|s| blob_available(&s.png.sha256));
    PulledReport {
        report,
        received_at,
        signature_blob_available,
    }
}

pub trait PullReads {
    /// Reads every installation body once, unscoped: the raw baseline the
    /// sync benchmark compares pull against.
    fn raw_installation_scan(&self) -> Result<usize, StorageError>;

    /// One page of changes after `cursor` for `scope`, at most `limit`
    /// records and tombstones. `blob_available` says whether a blob's bytes
    /// are on the server.
    fn pull(
        &self,
        scope: Scope,
        cursor: u64,
        limit: u32,
        blob_available: &dyn Fn(&Sha256Hex) -> bool,
    ) -> Result<PullPage, StorageError>;

    /// [`Self::pull`], also cut once the records' JSON would pass
    /// `max_bytes`. The first record always comes, however large, so no
    /// record can wedge a device's pull. With `retired_before`, closed and
    /// cancelled installations last changed before that day are left out
    /// (see the SQLite `kept_sql`).
    fn pull_within(
        &self,
        scope: Scope,
        cursor: u64,
        limit: u32,
        max_bytes: usize,
        retired_before: Option<NaiveDate>,
        blob_available: &dyn Fn(&Sha256Hex) -> bool,
    ) -> Result<PullPage, StorageError>;
}
