//! The global change sequence on PostgreSQL, gap-safe with concurrent writers.
//!
//! On SQLite one writer at a time commits, so commit order is sequence
//! order. On PostgreSQL, transactions T1 and T2 can take numbers 41 and 42
//! and commit 42 first; a pull in between returns 42 and hands out cursor
//! 42, and 41, committed a moment later, is never pulled by that device.
//!
//! The fix is a **safe watermark**: a pull returns changes up to the highest
//! number below which nothing can still commit, and never moves its cursor
//! past it. A write transaction announces itself before taking numbers:
//!
//! 1. it takes its transaction id (`pg_current_xact_id()`);
//! 2. on a second connection it commits a *lease* `(xid, floor)` where
//!    `floor` is one above the sequence's last value: every number it takes
//!    afterwards is `>= floor`;
//! 3. then it takes numbers with `nextval` as it writes, and commits.
//!
//! A pull first reads the sequence's last value `C`, then, in a new snapshot
//! `S` (the first statement of its REPEATABLE READ transaction), computes
//! `W = min(C, min(floor of leases whose xid is in progress in S) - 1)` and
//! reads `seq > cursor AND seq <= W`.
//!
//! Why nothing at or below `W` can appear later: take `n <= W`, invisible
//! in `S`, committed later by `T`. `n <= C` and `C` was read before `S`, so
//! `n` was taken before `S`; `T` took it after committing its lease, so the
//! lease is visible in `S`, and `T`, still running at `S`, is in `S`'s list
//! of transactions in progress. So `W <= floor(T) - 1 < n`: contradiction.
//!
//! A writer that rolls back or crashes needs no clean-up for correctness:
//! its xid is no longer in progress in later snapshots, so its lease stops
//! holding the watermark back at once. [`forget_finished_leases`] deletes
//! such rows now and then. The sequence must not cache values per session
//! (`CACHE 1`, the default), or `C` would not bound the numbers handed out.

use tokio_postgres::{Error, GenericClient};

/// The sequence and the lease table (part of the backend's first migration).
pub const SCHEMA: &str = "
CREATE SEQUENCE IF NOT EXISTS change_seq AS bigint CACHE 1;
CREATE TABLE IF NOT EXISTS change_seq_leases (
    xid   xid8   PRIMARY KEY,
    floor bigint NOT NULL
);";

/// Steps 1 and 2: announces the write transaction `tx` through `lease_conn`,
/// another connection, outside `tx` (the lease must be visible to pulls
/// while `tx` runs). Call before `tx` takes its first number.
pub async fn lease(tx: &impl GenericClient, lease_conn: &impl GenericClient) -> Result<(), Error> {
    let xid: String = tx
        .query_one("SELECT pg_current_xact_id()::text", &[])
        .await?
        .get(0);
    lease_conn
        .execute(
            "INSERT INTO change_seq_leases (xid, floor) \
             SELECT $1::text::xid8, CASE WHEN is_called THEN last_value + 1 ELSE last_value END \
             FROM change_seq",
            &[&xid],
        )
        .await?;
    Ok(())
}

/// Step 3: the next change number, inside the leased transaction.
pub async fn next_seq(tx: &impl GenericClient) -> Result<i64, Error> {
    Ok(tx
        .query_one("SELECT nextval('change_seq')", &[])
        .await?
        .get(0))
}

/// The last number handed out (`C`). A pull reads it *before* its snapshot:
/// outside its transaction, or before `BEGIN`.
pub async fn last_handed_out(client: &impl GenericClient) -> Result<i64, Error> {
    Ok(client
        .query_one(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM change_seq",
            &[],
        )
        .await?
        .get(0))
}

/// `W`: the highest number below which every change is committed or will
/// never be. Run as the first statement of the pull's REPEATABLE READ
/// transaction (so its snapshot is the one the pull reads), with `C` from
/// [`last_handed_out`].
pub async fn watermark(tx: &impl GenericClient, last_handed_out: i64) -> Result<i64, Error> {
    Ok(tx
        .query_one(
            "SELECT LEAST($1::bigint, COALESCE(min(floor) - 1, $1::bigint)) \
             FROM change_seq_leases \
             WHERE xid = ANY (ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot())))",
            &[&last_handed_out],
        )
        .await?
        .get(0))
}

/// Deletes leases of transactions that have ended (committed, rolled back
/// or lost with their connection): they no longer hold anything back.
pub async fn forget_finished_leases(client: &impl GenericClient) -> Result<u64, Error> {
    client
        .execute(
            "DELETE FROM change_seq_leases \
             WHERE xid < pg_snapshot_xmin(pg_current_snapshot())",
            &[],
        )
        .await
}
