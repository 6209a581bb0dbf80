//! A black-box conformance suite for the Fieldbook sync protocol and blob
//! API. It needs only a server's base URL and a Central Ops account: it
//! creates its own teams, users, installations and devices through the
//! admin API, then checks login and throttling, team scope (another team's
//! ids are refused everywhere), pull paging and tombstones, push idempotency
//! and per-mutation answers, the lifecycle's refusals, tus uploads and blob
//! download scope.
//!
//! It speaks HTTP only and never links the reference server, so it checks
//! any implementation of the protocol. `fieldbook-conformance --base-url URL`
//! runs it; [`run`] is the same from Rust.

pub mod checks;
pub mod client;
pub mod expect;
pub mod world;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use client::{Answer, Api};
pub use world::World;

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The server answered, but not as the protocol says.
    #[error("{0}")]
    Wrong(String),
    /// The request itself failed (connection refused, timeout, bad URL).
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// A check's body: runs against the shared world.
pub type CheckFn =
    for<'a> fn(&'a World) -> Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'a>>;

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    /// `area.what_it_checks`, stable: use it with `--only`.
    pub name: &'static str,
    pub run: CheckFn,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// One check's result.
#[derive(Debug)]
pub struct CheckReport {
    pub name: &'static str,
    pub result: Result<(), CheckError>,
    pub took: Duration,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.result.is_ok()
    }

    /// `PASS name (0.12 s)` or `FAIL name (0.12 s)\n      why`.
    pub fn line(&self) -> String {
        let took = format!("({:.2} s)", self.took.as_secs_f64());
        match &self.result {
            Ok(()) => format!("PASS  {} {took}", self.name),
            Err(why) => format!("FAIL  {} {took}\n      {why}", self.name),
        }
    }
}

/// Where to run and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub ops_username: String,
    pub ops_password: String,
}

/// The suite could not start (no server, or the ops account does not work).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the conformance world on {base_url}: {source}")]
pub struct SetupError {
    pub base_url: String,
    #[source]
    pub source: CheckError,
}

/// Sets up the world and runs the checks whose names contain `only` (all
/// when `None`), one after the other, calling `on_report` after each.
pub async fn run(
    target: &Target,
    only: Option<&str>,
    mut on_report: impl FnMut(&CheckReport),
) -> Result<Vec<CheckReport>, SetupError> {
    let setup = |source| SetupError {
        base_url: target.base_url.clone(),
        source,
    };
    let api = Api::new(&target.base_url).map_err(setup)?;
    let world = World::create(api, &target.ops_username, &target.ops_password)
        .await
        .map_err(setup)?;
    let mut reports = Vec::new();
    for check in checks::all()
        .into_iter()
        .filter(|c| only.is_none_or(|o| c.name.contains(o)))
    {
        let started = Instant::now();
        let result = (check.run)(&world).await;
        let report = CheckReport {
            name: check.name,
            result,
            took: started.elapsed(),
        };
        on_report(&report);
        reports.push(report);
    }
    Ok(reports)
}
