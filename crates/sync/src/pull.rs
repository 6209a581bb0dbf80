//! Pull: pages of server changes from the stored cursor, committed by
//! `Store::apply_server_batches` in local transactions of whole pages
//! together with the last one's cursor, so an interrupted first sync resumes
//! at the first page not committed.

use fieldbook_protocol::{EntityKind, PullPage, MAX_PULL_LIMIT};
use fieldbook_store::{
    ApplyOutcome, HeldWorkStatus, RecordKind, ServerBatch, ServerHeldWork, ServerMedia,
    ServerReport, Tombstone, TombstoneReason, Versioned,
};
use uuid::Uuid;

use crate::client::ApiClient;
use crate::error::SyncError;
use crate::recovery;
use crate::{with_store, SharedStore};

/// Records per page: the server's maximum, fewest round trips.
pub const PULL_PAGE_LIMIT: u32 = MAX_PULL_LIMIT;

/// Pages fetched ahead of the one being applied. The fetching never waits
/// for a page to be applied unless this many are waiting.
const PAGES_AHEAD: usize = 4;

/// Most pages committed in one transaction: those that arrived while the
/// one before was applied go in together (a commit is a WAL sync), while
/// the store's lock is held for a few pages' time at most.
const MAX_PAGES_PER_TRANSACTION: usize = 4;

/// The store cursor scope of one user. Per user, because a different user
/// on the same computer has another scope (other teams): their first pull
/// must start from zero.
pub fn cursor_scope(user_id: Uuid) -> String {
    format!("pull:{user_id}")
}

fn version(v: u64) -> Result<i64, SyncError> {
    i64::try_from(v).map_err(|_| SyncError::Protocol(format!("version {v} is out of range")))
}

fn versioned<T>(v: fieldbook_protocol::Versioned<T>) -> Result<Versioned<T>, SyncError> {
    Ok(Versioned {
        server_version: version(v.version)?,
        record: v.record,
    })
}

fn all<T>(list: Vec<fieldbook_protocol::Versioned<T>>) -> Result<Vec<Versioned<T>>, SyncError> {
    list.into_iter().map(versioned).collect()
}

pub fn record_kind(kind: EntityKind) -> RecordKind {
    match kind {
        EntityKind::Installation => RecordKind::Installation,
        EntityKind::Assignment => RecordKind::Assignment,
        EntityKind::Lead => RecordKind::Lead,
        EntityKind::Survey => RecordKind::Survey,
        EntityKind::Team => RecordKind::Team,
        EntityKind::User => RecordKind::User,
        EntityKind::Report => RecordKind::Report,
        EntityKind::Media => RecordKind::Media,
    }
}

fn held_status(status: fieldbook_protocol::HeldWorkStatus) -> HeldWorkStatus {
    match status {
        fieldbook_protocol::HeldWorkStatus::Waiting => HeldWorkStatus::Waiting,
        fieldbook_protocol::HeldWorkStatus::Accepted => HeldWorkStatus::Accepted,
        fieldbook_protocol::HeldWorkStatus::KeptOnRecord => HeldWorkStatus::KeptOnRecord,
    }
}

fn tombstone_reason(reason: fieldbook_protocol::TombstoneReason) -> TombstoneReason {
    match reason {
        fieldbook_protocol::TombstoneReason::LeftScope => TombstoneReason::LeftScope,
        fieldbook_protocol::TombstoneReason::Deleted => TombstoneReason::Deleted,
    }
}

/// The store's form of a pull page: versions as `server_version`, entity
/// kinds as record kinds, blob availability as "on server". Takes the page
/// by value so its records move into the batch instead of being copied.
pub fn into_server_batch(scope: &str, page: PullPage) -> Result<ServerBatch, SyncError> {
    Ok(ServerBatch {
        scope: scope.to_owned(),
        cursor: version(page.next_cursor)?,
        users: all(page.users)?,
        teams: all(page.teams)?,
        leads: all(page.leads)?,
        surveys: all(page.surveys)?,
        installations: all(page.installations)?,
        assignments: all(page.assignments)?,
        reports: page
            .reports
            .into_iter()
            .map(|v| {
                Ok(Versioned {
                    server_version: version(v.version)?,
                    record: ServerReport {
                        report: v.record.report,
                        signature_on_server: v.record.signature_blob_available,
                    },
                })
            })
            .collect::<Result<_, SyncError>>()?,
        media: page
            .media
            .into_iter()
            .map(|v| {
                Ok(Versioned {
                    server_version: version(v.version)?,
                    record: ServerMedia {
                        media: v.record.media,
                        file_on_server: v.record.blob_available,
                    },
                })
            })
            .collect::<Result<_, SyncError>>()?,
        tombstones: page
            .tombstones
            .into_iter()
            .map(|t| Tombstone {
                kind: record_kind(t.entity),
                id: t.id,
                reason: tombstone_reason(t.reason),
            })
            .collect(),
        held_work: page
            .held_work
            .into_iter()
            .map(|v| {
                Ok(Versioned {
                    server_version: version(v.version)?,
                    record: ServerHeldWork {
                        id: v.record.id,
                        installation_id: v.record.installation_id,
                        status: held_status(v.record.status),
                        decision_reason: v.record.decision.as_ref().and_then(|d| d.reason.clone()),
                        decided_at: v.record.decision.map(|d| d.decided_at),
                    },
                })
            })
            .collect::<Result<_, SyncError>>()?,
        report_templates: all(page.report_templates)?,
    })
}

/// Applies consecutive batches in one transaction on a blocking thread: a
/// page of 1,000 rows keeps SQLite busy for milliseconds, during which the
/// async runtime fetches the next pages.
async fn apply_batches(
    store: &SharedStore,
    batches: Vec<ServerBatch>,
) -> Result<Vec<ApplyOutcome>, SyncError> {
    let store = store.clone();
    let span = tracing::Span::current();
    let applied = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        with_store(&store, |s| s.apply_server_batches(&batches))
    })
    .await;
    match applied {
        Ok(result) => result,
        Err(join) => match join.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only when the runtime shuts down under the pull; the pages'
            // transaction either committed with its cursor or did not.
            Err(join) => Err(SyncError::Io {
                context: "applying pulled pages".into(),
                source: std::io::Error::other(join),
            }),
        },
    }
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullSummary {
    pub pages: u64,
    pub records: u64,
    /// Of `records`, those a first sync's near window had already applied
    /// at the same version, left out of the pages.
    pub already_here: u64,
    /// Time the store spent applying the pages.
    pub applying: std::time::Duration,
    /// Time the applying waited for the next page to arrive (the pull is
    /// fetch-bound where this is large).
    pub waiting_for_pages: std::time::Duration,
    /// The server had lost history (it was behind this device's cursor,
    /// the push found it had forgotten this device, or it gave the INS-
    /// number of a job on this device to another job), so the pull started
    /// again from zero: a full resync.
    pub restarted_from_zero: bool,
    /// The server's retention window in days (`None`: an older server).
    pub retention_days: Option<u32>,
    /// Jobs the server no longer has that the full resync removed.
    pub removed: u64,
    /// Jobs the server no longer has that were kept for their unsent work.
    pub kept: u64,
    /// Central Ops retired this device (the last page's order).
    pub wipe: Option<fieldbook_protocol::WipeOrder>,
}

/// Starts a full resync (see `fieldbook_store::Store::begin_full_resync`)
/// and returns the cursor to pull from: zero.
fn begin_full_resync(store: &SharedStore, summary: &mut PullSummary) -> Result<u64, SyncError> {
    with_store(store, |s| s.begin_full_resync())?;
    summary.restarted_from_zero = true;
    Ok(0)
}

/// What a first sync's near window applied (see [`crate::near_window`]),
/// handed to the pull from zero running at the same time, whenever it
/// lands (dropped: it applied nothing). The pull never waits for it.
pub type AppliedAhead = tokio::sync::oneshot::Receiver<AppliedRecords>;

/// What the near window applied, as far as the pull knows: nothing until
/// it lands.
struct Ahead {
    waiting: Option<AppliedAhead>,
    applied: AppliedRecords,
}

impl Ahead {
    /// What was applied ahead of the pull so far (looking once more whether
    /// the window has landed; it never waits for it).
    fn applied(&mut self) -> &AppliedRecords {
        if let Some(waiting) = &mut self.waiting {
            match waiting.try_recv() {
                Ok(applied) => {
                    self.applied = applied;
                    self.waiting = None;
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                // Dropped: nothing was applied ahead.
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => self.waiting = None,
            }
        }
        &self.applied
    }
}

/// Records already on the device at the very version a page brings them
/// (the near window's, which the full pull from zero brings again):
/// writing them again would change nothing, and was a tenth of a first
/// sync's applying (the window's 1,000 jobs are the costliest rows).
#[derive(Debug, Default)]
pub struct AppliedRecords(std::collections::HashSet<(RecordKind, Uuid, i64)>);

impl AppliedRecords {
    /// The records of `batch` (the ones a page can bring again; tombstones,
    /// reports and media are never in a near window).
    pub fn of_batch(batch: &ServerBatch) -> Self {
        Self(batch.versioned_records().collect())
    }

    /// Leaves out of `batch` the records already applied at the same
    /// version. A newer version is applied as usual, and so is everything
    /// after a page's tombstone of the record (a record back in scope comes
    /// at a new version). Returns how many were left out.
    pub fn leave_out_of(&self, batch: &mut ServerBatch) -> usize {
        if self.0.is_empty() {
            return 0;
        }
        batch.retain_versioned_records(|kind, id, version| !self.0.contains(&(kind, id, version)))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Pulls every page after the stored cursor of `user_id` (from zero, as a
/// full resync, when `from_zero`), applying them in transactions of whole
/// pages; once `ahead` (if any) says what was applied meanwhile, later
/// pages leave that out. `progress` gets the running count of records
/// applied, not counting those left out (the window counted them).
pub async fn pull_all(
    client: &ApiClient,
    token: &str,
    store: &SharedStore,
    user_id: Uuid,
    from_zero: bool,
    ahead: Option<AppliedAhead>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<PullSummary, SyncError> {
    let scope = cursor_scope(user_id);
    let stored = with_store(store, |s| s.sync_cursor(&scope))?;
    if stored.is_none() {
        // A first sync: the schedule's indexes and the search texts are
        // built once after the last page instead of row by row (see
        // fieldbook_store's bulk load).
        with_store(store, |s| s.defer_for_bulk_load())?;
    }
    let into = PullTarget {
        store,
        scope: &scope,
        progress,
    };
    let mut ahead = Ahead {
        waiting: ahead,
        applied: AppliedRecords::default(),
    };
    let pulled = pull_after(client, token, &into, stored, from_zero, &mut ahead).await;
    // Also after a failure: the schedule keeps its indexes while it waits
    // for the next attempt (which resumes at the cursor, indexes and all).
    let building_since = std::time::Instant::now();
    let built = build_deferred_indexes(store).await;
    let building = building_since.elapsed();
    let summary = pulled?;
    built?;
    if summary.pages > 1 {
        // Where a long pull's time went: fetch-bound, store-bound, or the
        // indexes built at the end of a first sync.
        tracing::info!(
            pages = summary.pages,
            records = summary.records,
            already_here = summary.already_here,
            applying_ms = summary.applying.as_millis() as u64,
            waiting_for_pages_ms = summary.waiting_for_pages.as_millis() as u64,
            building_indexes_ms = building.as_millis() as u64,
            "pulled"
        );
    }
    Ok(summary)
}

/// Builds the indexes a first sync deferred, on a blocking thread (a sort
/// of every job).
async fn build_deferred_indexes(store: &SharedStore) -> Result<(), SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || with_store(&store, |s| s.build_deferred_indexes()))
        .await
        .map_err(|join| SyncError::Io {
            context: "building the schedule's indexes".into(),
            source: std::io::Error::other(join.to_string()),
        })??;
    Ok(())
}

/// Where pulled pages go: the store, under a cursor scope, with the
/// running count of records applied reported to `progress`.
struct PullTarget<'a> {
    store: &'a SharedStore,
    scope: &'a str,
    progress: &'a (dyn Fn(u64) + Send + Sync),
}

/// [`pull_all`] from the `stored` cursor of `into`'s scope.
async fn pull_after(
    client: &ApiClient,
    token: &str,
    into: &PullTarget<'_>,
    stored: Option<i64>,
    from_zero: bool,
    ahead: &mut Ahead,
) -> Result<PullSummary, SyncError> {
    let store = into.store;
    let mut summary = PullSummary::default();
    let cursor = match (from_zero, stored) {
        // A device that holds pulled rows: what the server no longer has
        // must leave it.
        (true, Some(_)) => begin_full_resync(store, &mut summary)?,
        (true, None) => 0,
        (false, stored) => u64::try_from(stored.unwrap_or(0)).unwrap_or(0),
    };
    // The first page overlaps the last change already applied by one
    // sequence number, so a server that is behind this device (restored
    // from a backup) shows itself: see recovery::server_is_behind.
    let request_cursor = recovery::probe_cursor(cursor);
    let mut page = client.pull(token, request_cursor, PULL_PAGE_LIMIT).await?;
    if recovery::server_is_behind(cursor, &page) {
        tracing::warn!(
            cursor,
            server_cursor = page.next_cursor,
            "the server is behind this device; pulling everything again"
        );
        let cursor = begin_full_resync(store, &mut summary)?;
        page = client.pull(token, cursor, PULL_PAGE_LIMIT).await?;
    } else if request_cursor < cursor && !page.has_more && page.next_cursor == cursor {
        // Nothing after the stored cursor: the page only repeats the
        // last change, already applied (re-applying it would only
        // throw away the store's search index).
        summary.retention_days = page.retention_days;
        summary.wipe = page.wipe.clone();
        return finish_pending_resync(store, summary);
    }
    loop {
        match pull_pages(client, token, into, page, ahead, &mut summary).await? {
            Pulled::Everything => return finish_pending_resync(store, summary),
            Pulled::ServerReusedNumbers(jobs) => {
                // The server gave numbers of jobs it no longer has to new
                // jobs: it lost history the cursor did not show. Start
                // again from zero so everything else it lost leaves the
                // device too.
                tracing::warn!(
                    jobs,
                    "the server reused INS- numbers of jobs on this device; pulling everything again"
                );
                let cursor = begin_full_resync(store, &mut summary)?;
                page = client.pull(token, cursor, PULL_PAGE_LIMIT).await?;
            }
        }
    }
}

/// How [`pull_pages`] ended.
enum Pulled {
    /// The last page is applied.
    Everything,
    /// This many jobs on the device had INS- numbers the server gave to
    /// other jobs (first seen outside a full resync).
    ServerReusedNumbers(usize),
}

/// Applies `first` and every page after it. Pipelined: the next pages are
/// fetched while earlier ones are applied, and pages that are waiting when
/// the store is free are applied together. Pages are still applied strictly
/// in order, in transactions of whole pages with the last one's cursor, so
/// an interrupted pull resumes at the first page not committed (a fetched
/// page not yet committed is simply fetched again).
async fn pull_pages(
    client: &ApiClient,
    token: &str,
    into: &PullTarget<'_>,
    first: PullPage,
    ahead: &mut Ahead,
    summary: &mut PullSummary,
) -> Result<Pulled, SyncError> {
    let (sender, receiver) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    let fetch = fetch_pages(client, token, first, sender);
    let apply = apply_pages(into, receiver, ahead, summary);
    tokio::pin!(fetch, apply);
    let mut fetching = true;
    loop {
        tokio::select! {
            // Done (or failed): a fetch still under way is dropped.
            pulled = &mut apply => return pulled,
            () = &mut fetch, if fetching => fetching = false,
        }
    }
}

/// Sends `first`, then fetches and sends each following page, until the
/// last page or a failure (which is sent too), or until nobody receives.
async fn fetch_pages(
    client: &ApiClient,
    token: &str,
    first: PullPage,
    pages: tokio::sync::mpsc::Sender<Result<PullPage, SyncError>>,
) {
    let mut page = first;
    loop {
        let (has_more, next_cursor) = (page.has_more, page.next_cursor);
        if pages.send(Ok(page)).await.is_err() || !has_more {
            return;
        }
        match client.pull(token, next_cursor, PULL_PAGE_LIMIT).await {
            Ok(next) => page = next,
            Err(err) => {
                let _ = pages.send(Err(err)).await;
                return;
            }
        }
    }
}

/// Applies the pages [`fetch_pages`] sends, in order: each transaction
/// takes the next page and those already waiting behind it.
async fn apply_pages(
    into: &PullTarget<'_>,
    mut pages: tokio::sync::mpsc::Receiver<Result<PullPage, SyncError>>,
    ahead: &mut Ahead,
    summary: &mut PullSummary,
) -> Result<Pulled, SyncError> {
    let PullTarget {
        store,
        scope,
        progress,
    } = *into;
    loop {
        let waiting_since = std::time::Instant::now();
        let next = pages.recv().await;
        summary.waiting_for_pages += waiting_since.elapsed();
        let Some(next) = next else {
            // fetch_pages always sends the last page or its failure.
            return Err(SyncError::Protocol(
                "the pull stopped before its last page".into(),
            ));
        };
        let mut taken = vec![next?];
        // A failure to fetch a later page comes after the pages before it
        // are applied (they were read whole).
        let mut fetch_failed = None;
        while taken.len() < MAX_PAGES_PER_TRANSACTION && taken.last().is_some_and(|p| p.has_more) {
            match pages.try_recv() {
                Ok(Ok(page)) => taken.push(page),
                Ok(Err(err)) => {
                    fetch_failed = Some(err);
                    break;
                }
                Err(_) => break,
            }
        }
        let last_page = !taken.last().is_some_and(|p| p.has_more);
        let span = tracing::debug_span!(
            "pull_pages",
            cursor = taken[0].cursor,
            next_cursor = taken.last().map_or(0, |p| p.next_cursor),
            pages = taken.len(),
            records = tracing::field::Empty,
            already_here = tracing::field::Empty,
        );
        let mut records = 0;
        let mut already_here = 0;
        let mut batches = Vec::with_capacity(taken.len());
        let already = ahead.applied();
        for page in taken {
            records += page.len() as u64;
            summary.retention_days = page.retention_days.or(summary.retention_days);
            summary.wipe = page.wipe.clone().or(summary.wipe.take());
            let mut batch = into_server_batch(scope, page)?;
            already_here += already.leave_out_of(&mut batch);
            batches.push(batch);
        }
        span.record("records", records);
        span.record("already_here", already_here);
        let pages_applied = batches.len() as u64;
        let applying_since = std::time::Instant::now();
        let outcomes = tracing::Instrument::instrument(apply_batches(store, batches), span).await?;
        summary.applying += applying_since.elapsed();
        summary.pages += pages_applied;
        summary.records += records;
        summary.already_here += already_here as u64;
        // Records now on the device: the window's count them already.
        progress(summary.records - summary.already_here);
        let reused: usize = outcomes.iter().map(|o| o.reused_numbers.len()).sum();
        if reused > 0 && !summary.restarted_from_zero {
            return Ok(Pulled::ServerReusedNumbers(reused));
        }
        if let Some(err) = fetch_failed {
            return Err(err);
        }
        if last_page {
            return Ok(Pulled::Everything);
        }
    }
}

/// After the last page: ends a full resync under way (also one a crash
/// interrupted after its last page).
fn finish_pending_resync(
    store: &SharedStore,
    mut summary: PullSummary,
) -> Result<PullSummary, SyncError> {
    if !with_store(store, |s| s.full_resync_pending())? {
        return Ok(summary);
    }
    let ended = with_store(store, |s| s.finish_full_resync())?;
    summary.removed = ended.removed.len() as u64;
    summary.kept = ended.kept.len() as u64;
    tracing::info!(
        removed = summary.removed,
        kept = summary.kept,
        "full resync ended: jobs the server no longer has left this device (kept while they hold unsent work)"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldbook_protocol::{Tombstone as WireTombstone, Versioned as WireVersioned};

    #[test]
    fn every_entity_kind_maps_to_the_record_kind_of_the_same_name() {
        for kind in EntityKind::ALL {
            let json = serde_json::to_value(record_kind(*kind)).unwrap();
            assert_eq!(json, serde_json::Value::String(kind.as_str().into()));
        }
    }

    #[test]
    fn a_page_becomes_a_batch_with_its_next_cursor() {
        let team = fieldbook_domain::Team {
            id: Uuid::new_v4(),
            name: "North Crew".into(),
            member_ids: vec![],
        };
        let page = PullPage {
            cursor: 3,
            next_cursor: 9,
            has_more: false,
            teams: vec![WireVersioned {
                version: 7,
                record: team.clone(),
            }],
            tombstones: vec![WireTombstone {
                entity: EntityKind::Media,
                id: team.id,
                reason: fieldbook_protocol::TombstoneReason::Deleted,
                version: 9,
            }],
            ..PullPage::default()
        };
        let batch = into_server_batch("pull:x", page).unwrap();
        assert_eq!(batch.scope, "pull:x");
        assert_eq!(batch.cursor, 9);
        assert_eq!(batch.teams[0].server_version, 7);
        assert_eq!(batch.teams[0].record, team);
        assert_eq!(batch.tombstones[0].kind, RecordKind::Media);
        assert_eq!(batch.tombstones[0].reason, TombstoneReason::Deleted);
    }

    #[test]
    fn versions_beyond_i64_are_a_protocol_error() {
        let page = PullPage {
            next_cursor: u64::MAX,
            ..PullPage::default()
        };
        assert_eq!(into_server_batch("s", page).unwrap_err().code(), "protocol");
    }

    #[test]
    fn a_page_leaves_out_only_what_the_near_window_applied_at_the_same_version() {
        let demo = fieldbook_demo::generate(&fieldbook_demo::DemoConfig::new(
            2,
            1,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        ));
        fn at<T>(server_version: i64, record: T) -> Versioned<T> {
            Versioned {
                record,
                server_version,
            }
        }
        let window = ServerBatch {
            installations: vec![at(5, demo.installations[0].clone())],
            leads: vec![at(6, demo.leads[0].clone())],
            teams: vec![at(7, demo.teams[0].clone())],
            ..ServerBatch::default()
        };
        let applied = AppliedRecords::of_batch(&window);
        assert_eq!(applied.len(), 3);

        let mut page = ServerBatch {
            installations: vec![
                at(5, demo.installations[0].clone()),
                // Another job at the same version number: kept.
                at(5, demo.installations[1].clone()),
            ],
            // Changed since the window: the newer version is applied.
            leads: vec![at(9, demo.leads[0].clone())],
            teams: vec![at(7, demo.teams[0].clone())],
            tombstones: vec![Tombstone {
                kind: RecordKind::Installation,
                id: demo.installations[0].id,
                reason: TombstoneReason::LeftScope,
            }],
            ..ServerBatch::default()
        };
        assert_eq!(applied.leave_out_of(&mut page), 2);
        assert_eq!(page.installations.len(), 1);
        assert_eq!(page.installations[0].record.id, demo.installations[1].id);
        assert_eq!(page.leads[0].server_version, 9);
        assert!(page.teams.is_empty());
        assert_eq!(page.tombstones.len(), 1, "tombstones are always applied");

        // Nothing applied before (no near window): nothing left out.
        let mut again = window;
        assert_eq!(AppliedRecords::default().leave_out_of(&mut again), 0);
        assert_eq!(again.installations.len(), 1);
    }
}
