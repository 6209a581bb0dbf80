//! The lifecycle state machine's refusals, on the device's side (push) and
//! on Central Ops' side (admin transitions).

use chrono::Utc;
use fieldbook_domain::{InstallationStatus, Mutation};
use fieldbook_protocol::RejectCode;
use reqwest::StatusCode;

use crate::world::{start, Device};
use crate::{expect, CheckError, World};

pub async fn device_refusals(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_a).await?;
    let mut device = Device::new();
    let token = &world.alice.token;
    let outcomes = world
        .push(
            token,
            &mut device,
            vec![
                Mutation::InstallationFinish {
                    installation_id: installation,
                    expected_from: InstallationStatus::Confirmed,
                    at: Utc::now(),
                },
                Mutation::InstallationCouldNotComplete {
                    installation_id: installation,
                    expected_from: InstallationStatus::Confirmed,
                    reason: "Customer not home".into(),
                    at: Utc::now(),
                },
            ],
        )
        .await?;
    expect::rejected(
        &outcomes[0],
        RejectCode::InvalidTransition,
        "finish from confirmed",
    )?;
    // Rescheduling a confirmed job is Central Ops' move, not the device's.
    expect::rejected(
        &outcomes[1],
        RejectCode::NotPermitted,
        "could_not_complete from confirmed",
    )?;
    let status = world.status_of(token, installation).await?;
    expect::that(status == "confirmed", || {
        format!("rejected moves changed the installation to {status}")
    })?;
    // In progress, "could not complete" needs a reason.
    let outcomes = world
        .push(
            token,
            &mut device,
            vec![
                start(installation),
                Mutation::InstallationCouldNotComplete {
                    installation_id: installation,
                    expected_from: InstallationStatus::InProgress,
                    reason: "   ".into(),
                    at: Utc::now(),
                },
            ],
        )
        .await?;
    expect::applied(&outcomes[0], "start")?;
    expect::rejected(
        &outcomes[1],
        RejectCode::ValidationFailed,
        "could_not_complete with a blank reason",
    )?;
    let status = world.status_of(token, installation).await?;
    expect::that(status == "in_progress", || {
        format!("a rejected could_not_complete left the installation {status}")
    })
}

pub async fn ops_refusals(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_a).await?;
    // Not from the state ops think it is in.
    let stale = world
        .transition(
            installation,
            InstallationStatus::Cancelled,
            Some(InstallationStatus::Planned),
        )
        .await?;
    expect::error(&stale, StatusCode::CONFLICT, "conflict")?;
    // Not a move the lifecycle has.
    let skip = world
        .transition(installation, InstallationStatus::Closed, None)
        .await?;
    expect::error(&skip, StatusCode::CONFLICT, "conflict")?;
    let status = world.status_of(&world.ops_token, installation).await?;
    expect::that(status == "confirmed", || {
        format!("refused ops moves changed the installation to {status}")
    })
}
