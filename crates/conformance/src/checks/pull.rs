//! Pull: bounded pages that together carry every change once, refused
//! queries, and tombstones for what left the caller's scope or was deleted.

use std::collections::BTreeSet;

use fieldbook_domain::Mutation;
use fieldbook_protocol::{EntityKind, PullPage, TombstoneReason};
use reqwest::StatusCode;
use uuid::Uuid;

use super::scope::{pull_all, pull_from};
use crate::world::{photo, unique_bytes, Device};
use crate::{expect, CheckError, World};

/// Records and tombstones in a page (what `limit` bounds).
fn page_size(page: &PullPage) -> usize {
    page.installations.len()
        + page.assignments.len()
        + page.leads.len()
        + page.surveys.len()
        + page.teams.len()
        + page.users.len()
        + page.reports.len()
        + page.media.len()
        + page.tombstones.len()
}

fn installation_ids(pages: &[PullPage]) -> Vec<Uuid> {
    pages
        .iter()
        .flat_map(|p| p.installations.iter().map(|i| i.record.id))
        .collect()
}

pub async fn paging(world: &World) -> Result<(), CheckError> {
    const INSTALLATIONS: usize = 5;
    const LIMIT: u32 = 2;
    let tech = world.technician("pager").await?;
    let team = world.team("paging", &[tech.user_id]).await?;
    let mut planned = BTreeSet::new();
    for _ in 0..INSTALLATIONS {
        planned.insert(world.assigned_installation(team).await?.0);
    }
    let pages = pull_from(world, &tech.token, 0, LIMIT).await?;
    for (n, page) in pages.iter().enumerate() {
        expect::that(page_size(page) <= LIMIT as usize, || {
            format!(
                "page {n} holds {} records with limit={LIMIT}",
                page_size(page)
            )
        })?;
    }
    expect::that(pages.len() > 1, || {
        format!(
            "{INSTALLATIONS} installations with their records came in one page of limit={LIMIT}"
        )
    })?;
    let pulled = installation_ids(&pages);
    let distinct: BTreeSet<Uuid> = pulled.iter().copied().collect();
    expect::that(distinct == planned && pulled.len() == planned.len(), || {
        format!("paged pull carried installations {pulled:?}; expected each of {planned:?} once")
    })?;
    // From the last cursor: nothing new, and the cursor stays.
    let last = pages.last().map_or(0, |p| p.next_cursor);
    let after = pull_from(world, &tech.token, last, LIMIT).await?;
    expect::that(
        after.len() == 1 && page_size(&after[0]) == 0 && after[0].next_cursor == last,
        || format!("pulling again from the last cursor {last} answered {after:?}"),
    )
}

pub async fn bad_queries(world: &World) -> Result<(), CheckError> {
    let token = &world.alice.token;
    let beyond = (i64::MAX as u64) + 1;
    let cursor = world
        .api
        .get(&format!("/api/v1/sync/pull?cursor={beyond}"), token)
        .await?;
    expect::error(&cursor, StatusCode::BAD_REQUEST, "invalid_cursor")?;
    for query in [
        "cursor=0&limit=0",
        "cursor=0&limit=1001",
        "cursor=-1",
        "cursor=abc",
    ] {
        let answer = world
            .api
            .get(&format!("/api/v1/sync/pull?{query}"), token)
            .await?;
        expect::error(&answer, StatusCode::BAD_REQUEST, "bad_request")?;
    }
    Ok(())
}

pub async fn left_scope_tombstones(world: &World) -> Result<(), CheckError> {
    let tech = world.technician("leaver").await?;
    let team = world.team("leaving", &[tech.user_id]).await?;
    let (installation, assignment) = world.assigned_installation(team).await?;
    let before = pull_all(world, &tech.token).await?;
    expect::that(installation_ids(&before).contains(&installation), || {
        format!("the team's pull lacks its installation {installation}")
    })?;
    let cursor = before.last().map_or(0, |p| p.next_cursor);
    let withdrawn = world
        .api
        .post(
            &format!("/api/v1/admin/assignments/{assignment}/withdraw"),
            &world.ops_token,
            &serde_json::json!({}),
        )
        .await?;
    expect::status(&withdrawn, StatusCode::OK)?;
    let after = pull_from(world, &tech.token, cursor, 500).await?;
    let gone: Vec<_> = after
        .iter()
        .flat_map(|p| p.tombstones.iter())
        .filter(|t| t.entity == EntityKind::Installation && t.id == installation)
        .collect();
    expect::that(
        gone.len() == 1 && gone[0].reason == TombstoneReason::LeftScope,
        || {
            format!(
                "after the withdrawal the pull from {cursor} carried {gone:?}; \
                 expected one left_scope tombstone for {installation}"
            )
        },
    )?;
    expect::that(!installation_ids(&after).contains(&installation), || {
        "the withdrawn installation came back as a record next to its tombstone".into()
    })?;
    let fresh = pull_all(world, &tech.token).await?;
    expect::that(!installation_ids(&fresh).contains(&installation), || {
        "a first sync after the withdrawal still carries the installation".into()
    })
}

pub async fn deleted_tombstone(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_a).await?;
    let media = photo(installation, &unique_bytes("removed", 48));
    let mut device = Device::new();
    let attached = world
        .push(
            &world.alice.token,
            &mut device,
            vec![Mutation::MediaAttach {
                media: media.clone(),
            }],
        )
        .await?;
    expect::applied(&attached[0], "media.attach")?;
    let before = pull_all(world, &world.alice.token).await?;
    let cursor = before.last().map_or(0, |p| p.next_cursor);
    let removed = world
        .push(
            &world.alice.token,
            &mut device,
            vec![Mutation::MediaRemove { media_id: media.id }],
        )
        .await?;
    expect::applied(&removed[0], "media.remove")?;
    let after = pull_from(world, &world.alice.token, cursor, 500).await?;
    let tombstones: Vec<_> = after
        .iter()
        .flat_map(|p| p.tombstones.iter())
        .filter(|t| t.id == media.id)
        .collect();
    expect::that(
        tombstones.len() == 1
            && tombstones[0].entity == EntityKind::Media
            && tombstones[0].reason == TombstoneReason::Deleted
            && tombstones[0].version > cursor,
        || {
            format!(
                "after media.remove the pull from {cursor} carried {tombstones:?}; \
                 expected one deleted media tombstone newer than the cursor"
            )
        },
    )
}
