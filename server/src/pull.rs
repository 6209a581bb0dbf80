//! `GET /api/v1/sync/pull`: changes after a cursor, in the caller's scope.
//!
//! Pulls are the server's expensive reads (a first pull of a large world
//! most of all), so they are bounded per instance ([`PullSlots`]): a few run
//! at once, others wait for a slot (asynchronously, on no thread) when they
//! can expect one within the queue's wait, and a pull that cannot, or that
//! does not get a slot in time, is answered `503 busy` with `Retry-After`
//! instead of queueing into the request timeout. A pull whose request
//! timed out or whose client hung up stops its storage work
//! ([`blocking_cancellable`]). Pushes and uploads take no slot: a
//! technician's sent work never waits behind other devices' first pulls.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use fieldbook_protocol::{
    ErrorBody, ErrorCode, NearWindowQuery, PullPage, PullQuery, DEFAULT_PULL_LIMIT,
    MAX_NEAR_WINDOW_DAYS, MAX_NEAR_WINDOW_INSTALLATIONS, MAX_PULL_CURSOR, MAX_PULL_LIMIT,
};

use crate::app::AppState;
use crate::caller::Caller;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{blocking_cancellable, ApiError};
use crate::json::ApiQuery;
use crate::storage::{Scope, StoredPullPage};

/// One page of changes after `cursor` (see [`PullPage`]).
#[utoipa::path(
    get, path = "/api/v1/sync/pull", tag = "sync", security(("bearer" = [])),
    params(PullQuery),
    responses(
        (status = 200, description = "One page of changes, oldest first", body = PullPage),
        (status = 400, description = "`limit` outside 1..=1000 or not a number (`bad_request`), or `cursor` above 2^63-1 (`invalid_cursor`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 503, description = "Every pull slot of this instance is taken and the pull could not expect one within the queue's wait (or the queue is full), or none came free within that wait (`busy`, nothing was read: retry after `Retry-After` seconds), or the pull took longer than the request deadline (`timeout`)", body = ErrorBody),
    )
)]
pub async fn pull_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    wipe: Option<Extension<crate::wipe::PendingWipe>>,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<Json<StoredPullPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PULL_LIMIT}; got {limit}"
        )));
    }
    // Sequences are signed 64-bit in storage: a larger cursor would wrap.
    if query.cursor > MAX_PULL_CURSOR {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidCursor,
            format!("The cursor is above {MAX_PULL_CURSOR}, so this server never handed it out; pull again from 0"),
        ));
    }
    let scope = Scope::for_user(caller.user_id, caller.role);
    let max_bytes = state.config.pull_page_bytes;
    let retention_days = state.config.retention_days;
    let retired_before = chrono::Utc::now()
        .date_naive()
        .checked_sub_days(chrono::Days::new(u64::from(retention_days)));
    let slot = state.pull_slots.take().await?;
    let deadline = Instant::now() + state.config.request_timeout;
    blocking_cancellable(deadline, move |cancel| {
        // Held until the storage work ends, not until the answer is sent or
        // dropped: the slots bound work actually running.
        let _slot = slot;
        let blobs = &state.blobs;
        let available = |hash: &fieldbook_domain::Sha256Hex| blobs.contains(hash);
        let stall = state.config.pull_test_stall_ms.load(Ordering::Relaxed);
        let mut page = state.storage.read_cancellable(cancel, |db| {
            if stall > 0 {
                // Test hook: the same read again and again for that long,
                // stopped early only by the storage's own cancellation.
                let until = Instant::now() + Duration::from_millis(stall);
                while Instant::now() < until {
                    db.pull_within(
                        scope,
                        query.cursor,
                        limit,
                        max_bytes,
                        retired_before,
                        &available,
                    )?;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            db.pull_within(
                scope,
                query.cursor,
                limit,
                max_bytes,
                retired_before,
                &available,
            )
        })?;
        page.retention_days = Some(retention_days);
        // A retired device: it wipes once everything unsent is sent.
        page.wipe = wipe.map(|Extension(pending)| pending.0);
        Ok(page)
    })
    .await
    .map(Json)
}

/// Seconds a device is asked to wait when the pull slots and their queue
/// are full: about the time a few pages take, so the slots are free again;
/// devices add their own jitter.
pub const BUSY_RETRY_AFTER_SECS: u64 = 2;

/// The answer to a pull that finds the slots and their queue full, or that
/// waited in the queue for as long as it may.
fn busy() -> ApiError {
    ApiError::busy(
        format!(
            "The server is busy sending other devices their changes; nothing was read, try again in {BUSY_RETRY_AFTER_SECS} s"
        ),
        BUSY_RETRY_AFTER_SECS,
    )
}

/// Middleware of the pull routes, outside authentication: a pull is
/// admitted (a running slot or a place in the queue, [`PullSlots::admit`])
/// before the session lookup, a blocking read, so a storm of retries costs
/// no blocking thread and the lookups of pulls are bounded too. It only
/// ever answers busy or passes the request on to authentication: the
/// caller learns that this instance is busy now (which any caller would),
/// nothing about its token and no data. The admission is held until the
/// answer is ready; the handler still waits for its running slot
/// ([`PullSlots::take`]).
pub async fn shed_when_busy(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let _admitted = state.pull_slots.admit()?;
    Ok(next.run(request).await)
}

/// The pulls (and near-window reads) one instance runs at once, and the
/// queue in front of them.
///
/// Without the queue, a pull that found every slot taken was answered
/// `busy` at once and its device came back two to three seconds later,
/// although a slot frees every few hundred milliseconds: in the fleet
/// benchmark the server sat at a fifth of a core while devices waited out
/// `Retry-After` (docs/scaling.md). A queued pull holds no thread and no
/// connection to the database, only its HTTP connection.
///
/// The queue's length adapts to how long pulls take: a pull joins it only
/// when, by the recent average time a slot is held, it can expect a slot
/// within the queue's wait; otherwise it is answered `busy` at once, since
/// waiting would only end in `busy` later. So many quick incremental pulls
/// queue deep, and few slow first-pull pages queue shallow, and an
/// overloaded instance still answers `busy` quickly rather than letting
/// requests run into their deadline.
#[derive(Debug)]
pub struct PullSlots {
    /// Pulls whose storage work runs.
    running: Arc<Semaphore>,
    /// Pulls admitted: running, waiting for a slot, or looking up their
    /// session on the way there.
    admitted: Arc<AtomicUsize>,
    /// How long a slot is held, recently (an average).
    held: Arc<SlotTime>,
    capacity: usize,
    /// The most pulls that may wait, whatever they expect.
    queue: usize,
    queue_wait: Duration,
}

impl PullSlots {
    /// `capacity` pulls at once (at least 1), at most `queue` more waiting,
    /// each at most `queue_wait` for a slot (0: a pull over the capacity is
    /// shed at once).
    pub fn new(capacity: usize, queue: usize, queue_wait: Duration) -> PullSlots {
        let capacity = capacity.max(1);
        PullSlots {
            running: Arc::new(Semaphore::new(capacity)),
            admitted: Arc::new(AtomicUsize::new(0)),
            held: Arc::new(SlotTime::default()),
            capacity,
            queue,
            queue_wait,
        }
    }

    /// A place among the admitted pulls, held for the request's life, or
    /// `503 busy` at once when the queue is full or a pull joining it now
    /// could not expect a slot within the queue's wait
    /// ([`shed_when_busy`]).
    pub fn admit(&self) -> Result<Admission, ApiError> {
        let held = self.held.average();
        let mut admitted = self.admitted.load(Ordering::Acquire);
        loop {
            if !self.may_admit(admitted, held) {
                return Err(busy());
            }
            match self.admitted.compare_exchange_weak(
                admitted,
                admitted + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Ok(Admission {
                        admitted: Arc::clone(&self.admitted),
                    })
                }
                Err(now) => admitted = now,
            }
        }
    }

    /// Whether one more pull may join `admitted` others, when a slot is
    /// held for `held` on average (zero before the first pull).
    fn may_admit(&self, admitted: usize, held: Duration) -> bool {
        if admitted < self.capacity {
            return true;
        }
        if admitted >= self.capacity + self.queue {
            return false;
        }
        // It waits for the pulls ahead of it to take their slots in turn:
        // one round of every slot per `capacity` of them, plus its own.
        let ahead = admitted - self.capacity;
        let rounds = u32::try_from(ahead / self.capacity + 1).unwrap_or(u32::MAX);
        held.saturating_mul(rounds) <= self.queue_wait
    }

    /// A running slot: at once when one is free, else after waiting in
    /// line (first come, first served) for at most the queue's wait, else
    /// `503 busy`. With no queue, only a free slot.
    pub async fn take(&self) -> Result<PullSlot, ApiError> {
        // A zero wait still takes a free slot: the timeout polls the
        // acquire once before it looks at the clock.
        let wait = if self.queue == 0 {
            Duration::ZERO
        } else {
            self.queue_wait
        };
        let permit =
            match tokio::time::timeout(wait, Arc::clone(&self.running).acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                // Timed out; or the semaphore was closed, which it never is.
                _ => return Err(busy()),
            };
        Ok(PullSlot {
            _permit: permit,
            taken: Instant::now(),
            held: Arc::clone(&self.held),
        })
    }

    /// Slots whose storage work is running now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.running.available_permits()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A pull's place among the admitted ones ([`PullSlots::admit`]).
#[derive(Debug)]
pub struct Admission {
    admitted: Arc<AtomicUsize>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running slot ([`PullSlots::take`]); how long it was held counts
/// toward the average that sizes the queue.
#[derive(Debug)]
pub struct PullSlot {
    _permit: OwnedSemaphorePermit,
    taken: Instant,
    held: Arc<SlotTime>,
}

impl Drop for PullSlot {
    fn drop(&mut self) {
        self.held.record(self.taken.elapsed());
    }
}

/// The recent average time a slot is held: each new time weighs 1/8, so it
/// follows a change within a few dozen pulls. Microseconds; 0: none yet.
#[derive(Debug, Default)]
struct SlotTime {
    micros: AtomicU64,
}

impl SlotTime {
    fn record(&self, held: Duration) {
        let sample = u64::try_from(held.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old - old / 8).saturating_add(sample / 8).max(1)
                })
            });
    }

    fn average(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }
}

/// Default of the most pulls that may wait, per pull slot
/// ([`crate::ServerConfig::pull_queue`]): a bound on memory and
/// connections; how many actually wait is set by how long pulls take
/// ([`PullSlots`]). With incremental pulls of 20 ms, 2 s fill 100 places
/// per slot.
pub const PULL_QUEUE_PER_SLOT: usize = 64;

/// Default of [`crate::ServerConfig::pull_queue_wait`]: no longer than a
/// device told `busy` would wait before it came back anyway.
pub const DEFAULT_PULL_QUEUE_WAIT: Duration = Duration::from_secs(BUSY_RETRY_AFTER_SECS);

/// Default of [`crate::ServerConfig::max_concurrent_pulls`]: two per core
/// (a pull waits on the disk or the database part of its time), at least 2,
/// and at most 8, half of a PostgreSQL instance's pool of 16 connections, so
/// pushes and the ops console always find a connection.
pub fn default_max_concurrent_pulls() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).clamp(2, 8)
}

/// The caller's installations of the coming days, for a first sync to show
/// them before the full pull (see [`NearWindowQuery`]). Not part of the
/// change feed: it does not move the device's cursor.
#[utoipa::path(
    get, path = "/api/v1/sync/near-window", tag = "sync", security(("bearer" = [])),
    params(NearWindowQuery),
    responses(
        (status = 200, description = "The window's installations (soonest first, at most 1000) with their assignments, leads, surveys, the caller's teams and the users they name; cursor 0, next_cursor the server's last change sequence, has_more when the window held more", body = PullPage),
        (status = 400, description = "`days` outside 1..=62 or `from` not a date (`bad_request`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 503, description = "Every pull slot of this instance is taken (`busy`: retry after `Retry-After` seconds)", body = ErrorBody),
    )
)]
pub async fn near_window_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<NearWindowQuery>,
) -> Result<Json<StoredPullPage>, ApiError> {
    if !(1..=MAX_NEAR_WINDOW_DAYS).contains(&query.days) {
        return Err(ApiError::bad_request(format!(
            "days must be between 1 and {MAX_NEAR_WINDOW_DAYS}; got {}",
            query.days
        )));
    }
    let to = query
        .from
        .checked_add_days(chrono::Days::new(u64::from(query.days - 1)))
        .ok_or_else(|| {
            ApiError::bad_request("the window ends after the last date this server knows")
        })?;
    let scope = Scope::for_user(caller.user_id, caller.role);
    // A first sync's other read: it takes a pull slot too.
    let slot = state.pull_slots.take().await?;
    let deadline = Instant::now() + state.config.request_timeout;
    blocking_cancellable(deadline, move |cancel| {
        let _slot = slot;
        Ok(state.storage.read_cancellable(cancel, |db| {
            db.near_window(scope, query.from, to, MAX_NEAR_WINDOW_INSTALLATIONS)
        })?)
    })
    .await
    .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_queue_admits_only_pulls_that_can_expect_a_slot_within_its_wait() {
        let slots = PullSlots::new(2, 100, Duration::from_secs(1));
        // Before any pull was timed: up to the queue's bound.
        let early: Vec<_> = (0..102).map(|_| slots.admit().unwrap()).collect();
        assert!(slots.admit().is_err(), "the queue's bound");
        drop(early);

        // Slots held 500 ms on average: a pull may wait behind 3 others
        // on 2 slots (two rounds, 1 s), not 4 (three rounds).
        slots.held.record(Duration::from_millis(500));
        let mut admitted: Vec<_> = (0..6).map(|_| slots.admit().unwrap()).collect();
        let refused = slots.admit().unwrap_err();
        assert_eq!(refused.body.code.as_str(), "busy");
        assert_eq!(refused.body.retry_after_secs, Some(BUSY_RETRY_AFTER_SECS));
        // One leaves: one more may come.
        admitted.pop();
        let again = slots.admit().unwrap();
        assert!(slots.admit().is_err());
        drop((again, admitted));

        // Quick pulls (the average follows them down): a deep queue.
        for _ in 0..64 {
            slots.held.record(Duration::from_millis(20));
        }
        assert!(slots.held.average() < Duration::from_millis(25));
        let many: Vec<_> = (0..60).map(|_| slots.admit()).collect();
        assert!(many.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn a_slot_counts_how_long_it_was_held() {
        let slots = PullSlots::new(1, 0, Duration::ZERO);
        assert_eq!(slots.held.average(), Duration::ZERO);
        let slot = slots.take().await.unwrap();
        assert_eq!(slots.in_use(), 1);
        // No queue: the next is refused at once.
        assert!(slots.take().await.is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(slot);
        assert_eq!(slots.in_use(), 0);
        assert!(slots.held.average() >= Duration::from_millis(50));
    }
}
