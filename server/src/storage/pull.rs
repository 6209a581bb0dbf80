//! Pull: one page of the change feed after a device's cursor, in the
//! caller's scope, on one snapshot. A page that is not the last ends at its
//! last change; the last page moves the cursor to the snapshot's highest
//! sequence number (skipping changes the caller may not see).

use chrono::NaiveDate;
use fieldbook_domain::{InstallationMedia, InstallationReport, ReportTemplate, Sha256Hex, Team};
use fieldbook_protocol::{
    EntityKind, HeldWorkNotice, PullPage, PulledMedia, PulledReport, Tombstone, Versioned,
    WipeOrder,
};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{HeldWorkReads, Scope, StorageError, UserReads, VersionReads};

/// A record as the server stored it: its JSON body, sent as it is. Parsing
/// every body and writing it out again was most of the server's share of a
/// first sync; the body was written from the same domain type the device
/// reads, so the device sees the same record.
pub type StoredRecord = Versioned<Box<RawValue>>;

/// The stored body of a record at `version`; a body that is not JSON is
/// corrupt (it would break every device's pull).
pub fn stored_record(version: u64, body: String) -> Result<StoredRecord, StorageError> {
    Ok(Versioned {
        version,
        record: RawValue::from_string(body)?,
    })
}

/// One pull page as the storage reads it: [`PullPage`] on the wire, field
/// for field in the same order, with installations, assignments, leads,
/// surveys and users as their stored JSON ([`StoredRecord`]). Reports and
/// media are parsed (the server adds whether their blobs arrived).
#[derive(Debug, Default, Serialize)]
pub struct StoredPullPage {
    pub cursor: u64,
    pub next_cursor: u64,
    pub has_more: bool,
    pub installations: Vec<StoredRecord>,
    pub assignments: Vec<StoredRecord>,
    pub leads: Vec<StoredRecord>,
    pub surveys: Vec<StoredRecord>,
    pub teams: Vec<Versioned<Team>>,
    pub users: Vec<StoredRecord>,
    pub reports: Vec<Versioned<PulledReport>>,
    pub media: Vec<Versioned<PulledMedia>>,
    pub tombstones: Vec<Tombstone>,
    pub held_work: Vec<Versioned<HeldWorkNotice>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wipe: Option<WipeOrder>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub report_templates: Vec<Versioned<ReportTemplate>>,
}

impl StoredPullPage {
    /// The page as a device reads it (every stored body parsed).
    pub fn parse(self) -> Result<PullPage, StorageError> {
        fn all<T: serde::de::DeserializeOwned>(
            records: Vec<StoredRecord>,
        ) -> Result<Vec<Versioned<T>>, StorageError> {
            records
                .into_iter()
                .map(|v| {
                    Ok(Versioned {
                        version: v.version,
                        record: serde_json::from_str(v.record.get())?,
                    })
                })
                .collect()
        }
        Ok(PullPage {
            cursor: self.cursor,
            next_cursor: self.next_cursor,
            has_more: self.has_more,
            installations: all(self.installations)?,
            assignments: all(self.assignments)?,
            leads: all(self.leads)?,
            surveys: all(self.surveys)?,
            teams: self.teams,
            users: all(self.users)?,
            reports: self.reports,
            media: self.media,
            tombstones: self.tombstones,
            held_work: self.held_work,
            retention_days: self.retention_days,
            wipe: self.wipe,
            report_templates: self.report_templates,
        })
    }
}

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
    /// records and tombstones, parsed. `blob_available` says whether a
    /// blob's bytes are on the server.
    fn pull(
        &self,
        scope: Scope,
        cursor: u64,
        limit: u32,
        blob_available: &dyn Fn(&Sha256Hex) -> bool,
    ) -> Result<PullPage, StorageError> {
        self.pull_within(scope, cursor, limit, usize::MAX, None, blob_available)?
            .parse()
    }

    /// [`Self::pull`], also cut once the records' JSON would pass
    /// `max_bytes`, with the records as stored (what the pull route sends).
    /// The first record always comes, however large, so no record can
    /// wedge a device's pull. With `retired_before`, closed and cancelled
    /// installations last changed before that day are left out (see the
    /// shared pull SQL's `kept_sql`).
    fn pull_within(
        &self,
        scope: Scope,
        cursor: u64,
        limit: u32,
        max_bytes: usize,
        retired_before: Option<NaiveDate>,
        blob_available: &dyn Fn(&Sha256Hex) -> bool,
    ) -> Result<StoredPullPage, StorageError>;
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
    /// `Err(Cancelled)` once the read's request is gone (see
    /// [`super::CancelFlag`]); `Ok` for a read that cannot be cancelled.
    fn check_cancelled(&self) -> Result<(), StorageError>;

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
) -> Result<StoredPullPage, StorageError> {
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
        // A window is the pull's unit of work: nobody waiting, no next one.
        db.check_cancelled()?;
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

    db.check_cancelled()?;
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

    let mut page = StoredPullPage {
        cursor,
        next_cursor,
        has_more,
        ..StoredPullPage::default()
    };
    for (seq, candidate) in candidates {
        match candidate {
            Candidate::Row { kind, body } => match kind {
                EntityKind::Installation => page.installations.push(stored_record(seq, body)?),
                EntityKind::Assignment => page.assignments.push(stored_record(seq, body)?),
                EntityKind::Lead => page.leads.push(stored_record(seq, body)?),
                EntityKind::Survey => page.surveys.push(stored_record(seq, body)?),
                EntityKind::User => page.users.push(stored_record(seq, body)?),
                EntityKind::Media => {
                    let media: InstallationMedia = serde_json::from_str(&body)?;
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
            },
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

pub(super) fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use fieldbook_protocol::{EntityKind, TombstoneReason};
    use uuid::Uuid;

    fn stored<T: Serialize>(version: u64, record: &T) -> StoredRecord {
        stored_record(version, serde_json::to_string(record).unwrap()).unwrap()
    }

    /// A page with a record of every kind (and every optional field set).
    fn full_page() -> StoredPullPage {
        let demo = fieldbook_demo::generate(&fieldbook_demo::DemoConfig::new(
            2,
            1,
            NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        ));
        StoredPullPage {
            cursor: 3,
            next_cursor: 90,
            has_more: true,
            installations: vec![stored(10, &demo.installations[0])],
            assignments: vec![stored(11, &demo.assignments[0])],
            leads: vec![stored(12, &demo.leads[0])],
            surveys: vec![stored(13, &demo.surveys[0])],
            teams: vec![Versioned {
                version: 14,
                record: demo.teams[0].clone(),
            }],
            users: vec![stored(15, &demo.users[0].user)],
            tombstones: vec![Tombstone {
                entity: EntityKind::Installation,
                id: Uuid::new_v4(),
                reason: TombstoneReason::LeftScope,
                version: 16,
            }],
            retention_days: Some(30),
            ..StoredPullPage::default()
        }
    }

    #[test]
    fn a_stored_page_on_the_wire_is_the_pull_page_it_parses_to() {
        let page = full_page();
        let wire = serde_json::to_string(&page).unwrap();
        let typed = page.parse().unwrap();
        assert_eq!(serde_json::from_str::<PullPage>(&wire).unwrap(), typed);
        // The same fields, in the same order, as the typed page writes them.
        assert_eq!(wire, serde_json::to_string(&typed).unwrap());
    }

    #[test]
    fn a_body_that_is_not_json_is_corrupt() {
        assert!(matches!(
            stored_record(1, "{\"id\": ".into()),
            Err(StorageError::Corrupt(_))
        ));
    }
}
