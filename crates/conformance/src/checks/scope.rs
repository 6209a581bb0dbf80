//! Team scope: another team's ids are refused everywhere, exactly like ids
//! that do not exist (no probing), and pulls carry only the caller's work.

use fieldbook_domain::{Mutation, Sha256Hex};
use fieldbook_protocol::{PullPage, RejectCode};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::world::{finish, location_of, photo, start, unique_bytes, Device};
use crate::{expect, CheckError, World};

/// Team B's installation with a media record, worked by bob.
async fn team_b_work(world: &World) -> Result<(Uuid, Uuid), CheckError> {
    let installation = world.confirmed_installation(world.team_b).await?;
    let media = photo(installation, &unique_bytes("bob-photo", 64));
    let mut device = Device::new();
    let outcomes = world
        .push(
            &world.bob.token,
            &mut device,
            vec![
                start(installation),
                finish(installation),
                Mutation::MediaAttach {
                    media: media.clone(),
                },
            ],
        )
        .await?;
    for (outcome, what) in outcomes.iter().zip(["start", "finish", "media.attach"]) {
        expect::applied(outcome, &format!("bob's {what} on his own installation"))?;
    }
    Ok((installation, media.id))
}

pub async fn foreign_ids(world: &World) -> Result<(), CheckError> {
    let (installation, media) = team_b_work(world).await?;
    let made_up = Uuid::new_v4();
    let routes = [
        "/api/v1/installations/{installation}",
        "/api/v1/installations/{installation}/report/events",
        "/api/v1/media/{media}",
    ];
    for route in routes {
        let foreign_path = route
            .replace("{installation}", &installation.to_string())
            .replace("{media}", &media.to_string());
        let made_up_path = route
            .replace("{installation}", &made_up.to_string())
            .replace("{media}", &made_up.to_string());
        // The owner reaches it: the id is real, so a 404 below is the scope.
        let owner = world.api.get(&foreign_path, &world.bob.token).await?;
        expect::status(&owner, StatusCode::OK)?;
        let foreign = world.api.get(&foreign_path, &world.alice.token).await?;
        expect::error(&foreign, StatusCode::NOT_FOUND, "not_found")?;
        let missing = world.api.get(&made_up_path, &world.alice.token).await?;
        expect::that(
            foreign.status == missing.status && foreign.body["code"] == missing.body["code"],
            || {
                format!(
                    "another team's id and a made-up id are told apart: {} / {}",
                    foreign.describe(),
                    missing.describe()
                )
            },
        )?;
    }
    Ok(())
}

pub async fn foreign_push(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_b).await?;
    let mut device = Device::new();
    let outcomes = world
        .push(
            &world.alice.token,
            &mut device,
            vec![
                start(installation),
                Mutation::MediaAttach {
                    media: photo(installation, &unique_bytes("alice-photo", 32)),
                },
            ],
        )
        .await?;
    expect::rejected(
        &outcomes[0],
        RejectCode::NotFound,
        "start on another team's installation",
    )?;
    expect::rejected(
        &outcomes[1],
        RejectCode::NotFound,
        "media.attach on another team's installation",
    )?;
    let status = world.status_of(&world.bob.token, installation).await?;
    expect::that(status == "confirmed", || {
        format!("another team's push moved the installation to {status}")
    })
}

/// Pulls from 0 until `has_more` is false.
pub async fn pull_all(world: &World, token: &str) -> Result<Vec<PullPage>, CheckError> {
    pull_from(world, token, 0, 500).await
}

/// Pulls from `cursor` with `limit` until `has_more` is false.
pub async fn pull_from(
    world: &World,
    token: &str,
    mut cursor: u64,
    limit: u32,
) -> Result<Vec<PullPage>, CheckError> {
    let mut pages = Vec::new();
    for _ in 0..10_000 {
        let answer = world
            .api
            .get(
                &format!("/api/v1/sync/pull?cursor={cursor}&limit={limit}"),
                token,
            )
            .await?;
        expect::status(&answer, StatusCode::OK)?;
        let page: PullPage = serde_json::from_value(answer.body.clone()).map_err(|e| {
            CheckError::Wrong(format!("{}: not a pull page: {e}", answer.describe()))
        })?;
        expect::that(page.next_cursor >= cursor, || {
            format!(
                "pull from cursor {cursor} answered next_cursor {}",
                page.next_cursor
            )
        })?;
        cursor = page.next_cursor;
        let more = page.has_more;
        pages.push(page);
        if !more {
            return Ok(pages);
        }
    }
    Err(CheckError::Wrong(
        "pull still has_more after 10,000 pages".into(),
    ))
}

pub async fn pull_scope(world: &World) -> Result<(), CheckError> {
    let own = world.confirmed_installation(world.team_a).await?;
    let foreign = world.confirmed_installation(world.team_b).await?;
    let pages = pull_all(world, &world.alice.token).await?;
    let installations: Vec<Uuid> = pages
        .iter()
        .flat_map(|p| p.installations.iter().map(|i| i.record.id))
        .collect();
    expect::that(installations.contains(&own), || {
        format!("alice's pull lacks her team's installation {own}")
    })?;
    expect::that(!installations.contains(&foreign), || {
        format!("alice's pull carries team B's installation {foreign}")
    })?;
    let teams: Vec<Uuid> = pages
        .iter()
        .flat_map(|p| p.teams.iter().map(|t| t.record.id))
        .collect();
    expect::that(teams.iter().all(|t| *t == world.team_a), || {
        format!(
            "alice's pull carries teams {teams:?}; she is only in {}",
            world.team_a
        )
    })?;
    let users: Vec<Uuid> = pages
        .iter()
        .flat_map(|p| p.users.iter().map(|u| u.record.id))
        .collect();
    expect::that(!users.contains(&world.bob.user_id), || {
        "alice's pull carries bob, who shares no team or installation with her".into()
    })
}

pub async fn foreign_uploads(world: &World) -> Result<(), CheckError> {
    let bytes = unique_bytes("bob-upload", 100);
    let created = world
        .api
        .tus_create(&world.bob.token, &Sha256Hex::digest(&bytes), 100)
        .await?;
    expect::status(&created, StatusCode::CREATED)?;
    let location = location_of(&created)?;
    let head = world
        .api
        .tus_bare(Method::HEAD, Some(&world.alice.token), &location)
        .await?;
    expect::status(&head, StatusCode::NOT_FOUND)?;
    let patch = world
        .api
        .tus_patch(&world.alice.token, &location, 0, &bytes[..10], None)
        .await?;
    expect::error(&patch, StatusCode::NOT_FOUND, "upload_not_found")?;
    let delete = world
        .api
        .tus_bare(Method::DELETE, Some(&world.alice.token), &location)
        .await?;
    expect::error(&delete, StatusCode::NOT_FOUND, "upload_not_found")?;
    // Nothing happened to bob's upload.
    let owner = world
        .api
        .tus_bare(Method::HEAD, Some(&world.bob.token), &location)
        .await?;
    expect::status(&owner, StatusCode::OK)?;
    expect::that(owner.header("upload-offset") == Some("0"), || {
        format!("{}; expected Upload-Offset 0", owner.describe())
    })
}
