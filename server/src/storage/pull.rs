//! Pull: one page of the change feed after a device's cursor, in the
//! caller's scope, on one snapshot. A page that is not the last ends at its
//! last change; the last page moves the cursor to the snapshot's highest
//! sequence number (skipping changes the caller may not see).

use chrono::NaiveDate;
use fieldbook_domain::{InstallationMedia, InstallationReport, Sha256Hex};
use fieldbook_protocol::{EntityKind, PullPage, PulledMedia, PulledReport, Tombstone, Versioned};
use uuid::Uuid;

use super::{HeldWorkReads, Scope, StorageError, UserReads, VersionReads};

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

/// A change one window read found, before the page is cut and assembled
/// (the backends' `read_window`).
pub(super) enum Candidate {
    Row { kind: EntityKind, body: String },
    Team { id: String },
    Report { body: String, received_at: String },
    Tombstone(Tombstone),
    HeldWork { id: String },
    Template { body: String },
}

impl Candidate {
    /// About the size of the record's JSON in a page: its stored body plus
    /// the version wrapper. Teams and tombstones are small and bounded.
    fn json_bytes(&self) -> usize {
        const WRAPPER: usize = 64;
        match self {
            Candidate::Row { body, .. }
            | Candidate::Report { body, .. }
            | Candidate::Template { body } => body.len() + WRAPPER,
            Candidate::Team { .. } | Candidate::Tombstone(_) => 4 * WRAPPER,
            // A held-work notice: ids, a status and a bounded reason.
            Candidate::HeldWork { .. } => 16 * WRAPPER,
        }
    }
}

/// How many widening reads one page may take before it goes out with what
/// it has (a scope that sees few of the server's changes).
const MAX_WINDOWS_PER_PAGE: usize = 8;

/// A backend's read of one window of the change feed for [`pull_page`].
pub(super) trait PullWindows: UserReads + HeldWorkReads + VersionReads {
    /// Reads the changes in `(after, upper]` the scope may see, at most `n`
    /// per table, into `out` (unsorted).
    fn read_window(
        &self,
        scope: Scope,
        after: u64,
        upper: u64,
        n: usize,
        retired_before: Option<NaiveDate>,
        out: &mut Vec<(u64, Candidate)>,
    ) -> Result<(), StorageError>;
}

/// [`PullReads::pull_within`] for every backend: reads windows of the
/// change feed after `cursor` up to the snapshot's last change
/// (`change_seq`), merges them by sequence, cuts at `limit` records or
/// `max_bytes`, and assembles the page.
pub(super) fn pull_page(
    db: &(impl PullWindows + ?Sized),
    scope: Scope,
    cursor: u64,
    limit: u32,
    max_bytes: usize,
    retired_before: Option<NaiveDate>,
    blob_available: &dyn Fn(&Sha256Hex) -> bool,
) -> Result<PullPage, StorageError> {
    let limit = limit.max(1) as usize;
    // Every sequence number belongs to one record or tombstone, so a
    // window of `limit` numbers after the cursor holds at most `limit`
    // changes: the first window reads about a page and no more (reading
    // `limit + 1` rows of every table after the cursor read several
    // pages' worth to keep one). Where the caller sees few of the
    // numbers (one team of many), the next windows widen by the density
    // seen so far. Per table and window at most `limit + 1` rows are
    // read, so the merge below still cuts at the first `limit` changes.
    let last_change = db.change_seq()?;
    let mut candidates: Vec<(u64, Candidate)> = Vec::new();
    let mut read_to = cursor;
    for window in 0..MAX_WINDOWS_PER_PAGE {
        if read_to >= last_change || candidates.len() > limit {
            break;
        }
        let wanted = (limit + 1 - candidates.len()) as u64;
        let width = if window == 0 {
            wanted
        } else if candidates.is_empty() {
            (read_to - cursor).saturating_mul(8)
        } else {
            // Numbers per change seen so far, times the changes still wanted.
            let per_change = (read_to - cursor).div_ceil(candidates.len() as u64);
            wanted.saturating_mul(per_change).saturating_mul(5) / 4
        };
        let upper = read_to.saturating_add(width.max(wanted)).min(last_change);
        db.read_window(
            scope,
            read_to,
            upper,
            limit + 1,
            retired_before,
            &mut candidates,
        )?;
        read_to = upper;
        if candidates.len() * 2 >= limit {
            break;
        }
    }

    candidates.sort_unstable_by_key(|(seq, _)| *seq);
    let mut cut = candidates.len() > limit;
    candidates.truncate(limit);
    let mut bytes = 0usize;
    let fitting = candidates
        .iter()
        .take_while(|(_, candidate)| {
            let first = bytes == 0;
            bytes = bytes.saturating_add(candidate.json_bytes());
            first || bytes <= max_bytes
        })
        .count();
    if fitting < candidates.len() {
        cut = true;
        candidates.truncate(fitting);
    }
    // Cut: the page ends at its last change. Not cut: every change up to
    // `read_to` is in it (the snapshot's last, on the last page).
    let (next_cursor, has_more) = if cut {
        (candidates.last().map_or(cursor, |(seq, _)| *seq), true)
    } else {
        (read_to.max(cursor), read_to < last_change)
    };

    let mut page = PullPage {
        cursor,
        next_cursor,
        has_more,
        ..PullPage::default()
    };
    for (seq, candidate) in candidates {
        match candidate {
            Candidate::Row { kind, body } => {
                let body = body.as_str();
                match kind {
                    EntityKind::Installation => page.installations.push(v(seq, body)?),
                    EntityKind::Assignment => page.assignments.push(v(seq, body)?),
                    EntityKind::Lead => page.leads.push(v(seq, body)?),
                    EntityKind::Survey => page.surveys.push(v(seq, body)?),
                    EntityKind::User => page.users.push(v(seq, body)?),
                    EntityKind::Media => {
                        let media: InstallationMedia = serde_json::from_str(body)?;
                        let blob_available = blob_available(&media.file.sha256);
                        page.media.push(Versioned {
                            version: seq,
                            record: PulledMedia {
                                media,
                                blob_available,
                            },
                        });
                    }
                    EntityKind::Team | EntityKind::Report => {
                        return Err(StorageError::Corrupt(format!(
                            "unexpected {kind:?} row in pull"
                        )))
                    }
                }
            }
            Candidate::Team { id } => {
                if let Some(team) = db.team(parse_uuid(&id)?)? {
                    page.teams.push(team);
                }
            }
            Candidate::Report { body, received_at } => {
                let report: InstallationReport = serde_json::from_str(&body)?;
                page.reports.push(Versioned {
                    version: seq,
                    record: pulled_report(report, &received_at, blob_available)?,
                });
            }
            Candidate::Tombstone(t) => page.tombstones.push(t),
            Candidate::Template { body } => page.report_templates.push(v(seq, &body)?),
            Candidate::HeldWork { id } => {
                if let Some(notice) = db.held_work_notice(parse_uuid(&id)?)? {
                    page.held_work.push(Versioned {
                        version: seq,
                        record: notice,
                    });
                }
            }
        }
    }
    Ok(page)
}

fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|e| StorageError::Corrupt(format!("uuid {s:?}: {e}")))
}

fn v<T: serde::de::DeserializeOwned>(seq: u64, body: &str) -> Result<Versioned<T>, StorageError> {
    Ok(Versioned {
        version: seq,
        record: serde_json::from_str(body)?,
    })
}

fn pulled_report(
    report: InstallationReport,
    received_at: &str,
    blob_available: &dyn Fn(&Sha256Hex) -> bool,
) -> Result<PulledReport, StorageError> {
    Ok(pulled_report_from(
        report,
        super::parse_timestamp(received_at)?,
        blob_available,
    ))
}
