//! A device store filled with demo data as if a first sync had pulled it,
//! with the demo's first technician signed in: the starting point of the
//! app's command tests and the store's benchmarks.

use fieldbook_demo::DemoData;
use fieldbook_domain::User;
use fieldbook_store::{ServerBatch, Store, Versioned};
use uuid::Uuid;

/// The demo's first technician and the ids of the teams they belong to.
pub fn demo_technician(demo: &DemoData) -> (User, Vec<Uuid>) {
    let technician = demo
        .technicians()
        .next()
        .expect("the demo data has a technician")
        .user
        .clone();
    let team_ids = demo
        .teams
        .iter()
        .filter(|t| t.member_ids.contains(&technician.id))
        .map(|t| t.id)
        .collect();
    (technician, team_ids)
}

/// Every record of `demo` in one server batch, each at version 1.
pub fn demo_server_batch(demo: &DemoData) -> ServerBatch {
    let users: Vec<User> = demo.users.iter().map(|u| u.user.clone()).collect();
    ServerBatch {
        scope: "installations".into(),
        cursor: 1,
        users: at_version_1(&users),
        teams: at_version_1(&demo.teams),
        leads: at_version_1(&demo.leads),
        surveys: at_version_1(&demo.surveys),
        installations: at_version_1(&demo.installations),
        assignments: at_version_1(&demo.assignments),
        ..Default::default()
    }
}

/// Applies all of `demo` to `store` and signs its first technician in;
/// returns them and their team ids.
pub fn sign_in_demo_technician(store: &mut Store, demo: &DemoData) -> (User, Vec<Uuid>) {
    store
        .apply_server_batch(&demo_server_batch(demo))
        .expect("the demo data applies to an empty store");
    let (technician, team_ids) = demo_technician(demo);
    store
        .sign_in(&technician, &team_ids)
        .expect("the demo technician signs in");
    (technician, team_ids)
}

fn at_version_1<T: Clone>(records: &[T]) -> Vec<Versioned<T>> {
    records
        .iter()
        .map(|record| Versioned {
            record: record.clone(),
            server_version: 1,
        })
        .collect()
}
