//! Pull: one page of the change feed after a device's cursor, in the
//! caller's scope, on one snapshot. A page that is not the last ends at its
//! last change; the last page moves the cursor to the snapshot's highest
//! sequence number (skipping changes the caller may not see).

use chrono::NaiveDate;
use fieldbook_domain::{InstallationReport, ReportTemplate, Sha256Hex, Team};
use fieldbook_protocol::{
    HeldWorkNotice, PullPage, PulledMedia, PulledReport, Tombstone, Versioned, WipeOrder,
};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{Scope, StorageError};

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
    /// SQLite `kept_sql`).
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
