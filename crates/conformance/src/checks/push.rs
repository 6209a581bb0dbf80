//! Push: one answer per mutation in order, exactly-once replays, device
//! sequences and device ownership.

use chrono::Utc;
use fieldbook_domain::{InstallationStatus, Mutation};
use fieldbook_protocol::{MutationOutcome, RejectCode};
use uuid::Uuid;

use crate::world::{finish, start, Device};
use crate::{expect, CheckError, World};

/// `installation.finish` claiming the job is still `confirmed`: the
/// lifecycle has no such move.
fn finish_from_confirmed(installation: Uuid) -> Mutation {
    Mutation::InstallationFinish {
        installation_id: installation,
        expected_from: InstallationStatus::Confirmed,
        at: Utc::now(),
    }
}

pub async fn per_mutation_results(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_a).await?;
    let mut device = Device::new();
    let outcomes = world
        .push(
            &world.alice.token,
            &mut device,
            vec![
                finish_from_confirmed(installation),
                start(installation),
                start(Uuid::new_v4()),
                finish(installation),
            ],
        )
        .await?;
    expect::rejected(
        &outcomes[0],
        RejectCode::InvalidTransition,
        "1st of 4: finish from confirmed",
    )?;
    let started = expect::applied(&outcomes[1], "2nd of 4: start")?;
    expect::rejected(
        &outcomes[2],
        RejectCode::NotFound,
        "3rd of 4: start of a made-up installation",
    )?;
    let finished = expect::applied(&outcomes[3], "4th of 4: finish")?;
    expect::that(finished > started, || {
        format!("finish answered version {finished}, not newer than start's {started}")
    })?;
    let status = world.status_of(&world.alice.token, installation).await?;
    expect::that(status == "completed", || {
        format!("after start and finish the installation is {status}")
    })
}

pub async fn replay(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_a).await?;
    let mut device = Device::new();
    let envelopes = device.envelopes(vec![
        finish_from_confirmed(installation),
        start(installation),
    ]);
    let ids: Vec<Uuid> = envelopes.iter().map(|e| e.mutation_id).collect();
    let first = world.push_envelopes(&world.alice.token, &envelopes).await?;
    let first = expect::push_results(&first, &ids)?;
    expect::rejected(
        &first[0],
        RejectCode::InvalidTransition,
        "finish from confirmed",
    )?;
    expect::applied(&first[1], "start")?;
    // The answer was lost; the device sends the same batch again, and again
    // after the installation moved on.
    let again = world.push_envelopes(&world.alice.token, &envelopes).await?;
    let again = expect::push_results(&again, &ids)?;
    expect::that(again == first, || {
        format!("a replay answered {again:?}; the first push answered {first:?}")
    })?;
    let finished = world
        .push(&world.alice.token, &mut device, vec![finish(installation)])
        .await?;
    expect::applied(&finished[0], "finish")?;
    let later = world.push_envelopes(&world.alice.token, &envelopes).await?;
    let later = expect::push_results(&later, &ids)?;
    expect::that(later == first, || {
        format!(
            "a replay after the job moved on answered {later:?}; the stored answer is {first:?}"
        )
    })?;
    let status = world.status_of(&world.alice.token, installation).await?;
    expect::that(status == "completed", || {
        format!("replays changed the installation: it is {status}, expected completed")
    })
}

pub async fn sequence_gap(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_a).await?;
    let mut device = Device::new();
    let mut envelopes = device.envelopes(vec![start(installation), finish(installation)]);
    let first = world
        .push_envelopes(&world.alice.token, &envelopes[..1])
        .await?;
    expect::applied(
        &expect::push_results(&first, &[envelopes[0].mutation_id])?[0],
        "start",
    )?;
    // Number 3 where 2 is next.
    envelopes[1].device_seq = 3;
    let gap = world
        .push_envelopes(&world.alice.token, &envelopes[1..])
        .await?;
    let gap = expect::push_results(&gap, &[envelopes[1].mutation_id])?;
    expect::rejected(&gap[0], RejectCode::SequenceGap, "device_seq 3 after 1")?;
    if let MutationOutcome::Rejected {
        expected_device_seq: Some(next),
        ..
    } = &gap[0]
    {
        expect::that(*next == 2, || {
            format!("sequence_gap says {next} is expected next; it is 2")
        })?;
    }
    // Not recorded: the same mutation with the right number goes through.
    envelopes[1].device_seq = 2;
    let resent = world
        .push_envelopes(&world.alice.token, &envelopes[1..])
        .await?;
    let resent = expect::push_results(&resent, &[envelopes[1].mutation_id])?;
    expect::applied(&resent[0], "the gapped mutation resent with device_seq 2")?;
    Ok(())
}

pub async fn foreign_device(world: &World) -> Result<(), CheckError> {
    let mine = world.confirmed_installation(world.team_a).await?;
    let theirs = world.confirmed_installation(world.team_b).await?;
    let mut device = Device::new();
    let outcomes = world
        .push(&world.alice.token, &mut device, vec![start(mine)])
        .await?;
    expect::applied(&outcomes[0], "alice's start")?;
    // Bob pushes from alice's device id.
    let outcomes = world
        .push(&world.bob.token, &mut device, vec![start(theirs)])
        .await?;
    expect::rejected(
        &outcomes[0],
        RejectCode::ForeignDevice,
        "bob pushing from alice's device",
    )?;
    let status = world.status_of(&world.bob.token, theirs).await?;
    expect::that(status == "confirmed", || {
        format!("a push from another user's device moved the job to {status}")
    })
}

pub async fn mutation_id_reused(world: &World) -> Result<(), CheckError> {
    let mine = world.confirmed_installation(world.team_a).await?;
    let theirs = world.confirmed_installation(world.team_b).await?;
    let mut alices = Device::new();
    let envelopes = alices.envelopes(vec![start(mine)]);
    let answer = world.push_envelopes(&world.alice.token, &envelopes).await?;
    expect::applied(
        &expect::push_results(&answer, &[envelopes[0].mutation_id])?[0],
        "alice's start",
    )?;
    // Bob's device sends a mutation under alice's mutation id.
    let mut bobs = Device::new();
    let mut stolen = bobs.envelopes(vec![start(theirs)]);
    stolen[0].mutation_id = envelopes[0].mutation_id;
    let answer = world.push_envelopes(&world.bob.token, &stolen).await?;
    let outcomes = expect::push_results(&answer, &[stolen[0].mutation_id])?;
    expect::rejected(
        &outcomes[0],
        RejectCode::MutationIdReused,
        "another user's mutation id",
    )?;
    let status = world.status_of(&world.bob.token, theirs).await?;
    expect::that(status == "confirmed", || {
        format!("a reused mutation id moved bob's job to {status}")
    })
}
