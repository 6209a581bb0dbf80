//! tus 1.0 uploads (core + creation + checksum, sha256) and blob downloads,
//! which reach a technician only through records in their scope.

use fieldbook_domain::{Mutation, Sha256Hex};
use reqwest::{Method, StatusCode};

use crate::client::Answer;
use crate::world::{location_of, photo, start, unique_bytes, Device};
use crate::{expect, CheckError, World};

/// tus' status for a failed `Upload-Checksum`.
const CHECKSUM_MISMATCH: u16 = 460;

fn offset_is(answer: &Answer, offset: u64) -> Result<(), CheckError> {
    let expected = offset.to_string();
    expect::that(
        answer.header("upload-offset") == Some(expected.as_str()),
        || {
            format!(
                "{} with Upload-Offset {:?}; expected {offset}",
                answer.describe(),
                answer.header("upload-offset")
            )
        },
    )
}

fn header_lists(answer: &Answer, name: &str, wanted: &str) -> Result<(), CheckError> {
    let values = answer.header(name).unwrap_or("");
    expect::that(values.split(',').any(|v| v.trim() == wanted), || {
        format!(
            "{}: header {name} is {values:?}; expected it to list {wanted}",
            answer.describe()
        )
    })
}

pub async fn options(world: &World) -> Result<(), CheckError> {
    let answer = world
        .api
        .tus_bare(Method::OPTIONS, None, "/api/v1/blobs")
        .await?;
    expect::that(answer.status.is_success(), || {
        format!("{}; expected 204 without signing in", answer.describe())
    })?;
    header_lists(&answer, "tus-version", "1.0.0")?;
    header_lists(&answer, "tus-extension", "creation")?;
    header_lists(&answer, "tus-extension", "checksum")?;
    header_lists(&answer, "tus-checksum-algorithm", "sha256")
}

pub async fn chunked_resume(world: &World) -> Result<(), CheckError> {
    let token = &world.alice.token;
    let bytes = unique_bytes("chunked", 3000);
    let created = world
        .api
        .tus_create(token, &Sha256Hex::digest(&bytes), 3000)
        .await?;
    expect::status(&created, StatusCode::CREATED)?;
    let location = location_of(&created)?;
    let head = world
        .api
        .tus_bare(Method::HEAD, Some(token), &location)
        .await?;
    expect::status(&head, StatusCode::OK)?;
    offset_is(&head, 0)?;
    expect::that(head.header("upload-length") == Some("3000"), || {
        format!("{}; expected Upload-Length 3000", head.describe())
    })?;
    let first = world
        .api
        .tus_patch(token, &location, 0, &bytes[..1000], Some(&bytes[..1000]))
        .await?;
    expect::status(&first, StatusCode::NO_CONTENT)?;
    offset_is(&first, 1000)?;
    // The device lost that answer and sends the chunk again at 0.
    let stale = world
        .api
        .tus_patch(token, &location, 0, &bytes[..1000], Some(&bytes[..1000]))
        .await?;
    expect::error(&stale, StatusCode::CONFLICT, "offset_mismatch")?;
    // It asks where to resume, and resumes there.
    let head = world
        .api
        .tus_bare(Method::HEAD, Some(token), &location)
        .await?;
    offset_is(&head, 1000)?;
    let rest = world
        .api
        .tus_patch(token, &location, 1000, &bytes[1000..], Some(&bytes[1000..]))
        .await?;
    expect::status(&rest, StatusCode::NO_CONTENT)?;
    offset_is(&rest, 3000)
}

pub async fn checksum_mismatch(world: &World) -> Result<(), CheckError> {
    let token = &world.alice.token;
    let bytes = unique_bytes("checksum", 500);
    let created = world
        .api
        .tus_create(token, &Sha256Hex::digest(&bytes), 500)
        .await?;
    expect::status(&created, StatusCode::CREATED)?;
    let location = location_of(&created)?;
    let corrupted = world
        .api
        .tus_patch(token, &location, 0, &bytes[..200], Some(&bytes[1..201]))
        .await?;
    expect::that(
        corrupted.status.as_u16() == CHECKSUM_MISMATCH
            && corrupted.body["code"] == "checksum_mismatch",
        || format!("{}; expected 460 checksum_mismatch", corrupted.describe()),
    )?;
    let head = world
        .api
        .tus_bare(Method::HEAD, Some(token), &location)
        .await?;
    offset_is(&head, 0)
}

pub async fn hash_mismatch(world: &World) -> Result<(), CheckError> {
    let token = &world.alice.token;
    let declared = unique_bytes("declared", 400);
    let sent = unique_bytes("sent-instead", 400);
    let sha256 = Sha256Hex::digest(&declared);
    let created = world.api.tus_create(token, &sha256, 400).await?;
    expect::status(&created, StatusCode::CREATED)?;
    let location = location_of(&created)?;
    let patched = world
        .api
        .tus_patch(token, &location, 0, &sent, Some(&sent))
        .await?;
    expect::error(
        &patched,
        StatusCode::UNPROCESSABLE_ENTITY,
        "blob_hash_mismatch",
    )?;
    // Nothing was stored under the declared hash.
    let again = world.api.tus_create(token, &sha256, 400).await?;
    expect::that(again.header("fieldbook-blob-exists").is_none(), || {
        format!(
            "{}: the refused bytes were stored as the declared blob",
            again.describe()
        )
    })
}

pub async fn dedupe(world: &World) -> Result<(), CheckError> {
    let token = &world.alice.token;
    let bytes = unique_bytes("dedupe", 700);
    world.upload(token, &bytes).await?;
    let again = world
        .api
        .tus_create(token, &Sha256Hex::digest(&bytes), 700)
        .await?;
    expect::status(&again, StatusCode::OK)?;
    expect::that(
        again.header("fieldbook-blob-exists") == Some("true") && again.header("location").is_none(),
        || {
            format!(
                "{}; expected Fieldbook-Blob-Exists: true and no Location",
                again.describe()
            )
        },
    )?;
    offset_is(&again, 700)
}

pub async fn tus_resumable_required(world: &World) -> Result<(), CheckError> {
    let answer = world
        .api
        .call(
            Method::POST,
            "/api/v1/blobs",
            Some(&world.alice.token),
            None,
        )
        .await?;
    expect::error(
        &answer,
        StatusCode::PRECONDITION_FAILED,
        "tus_version_unsupported",
    )
}

pub async fn download_scope(world: &World) -> Result<(), CheckError> {
    let installation = world.confirmed_installation(world.team_b).await?;
    let bytes = unique_bytes("download", 900);
    let sha256 = Sha256Hex::digest(&bytes);
    world.upload(&world.bob.token, &bytes).await?;
    let mut device = Device::new();
    let outcomes = world
        .push(
            &world.bob.token,
            &mut device,
            vec![
                start(installation),
                Mutation::MediaAttach {
                    media: photo(installation, &bytes),
                },
            ],
        )
        .await?;
    expect::applied(&outcomes[1], "bob's media.attach")?;
    let path = format!("/api/v1/blobs/{sha256}");
    let (status, body) = world.api.get_bytes(&path, &world.bob.token).await?;
    expect::that(status == StatusCode::OK && body == bytes, || {
        format!(
            "GET {path} by its owner answered {status} with {} bytes; expected 200 with the 900 uploaded",
            body.len()
        )
    })?;
    let foreign = world.api.get(&path, &world.alice.token).await?;
    expect::error(&foreign, StatusCode::NOT_FOUND, "not_found")?;
    let made_up = Sha256Hex::digest(&unique_bytes("never-uploaded", 10));
    let missing = world
        .api
        .get(&format!("/api/v1/blobs/{made_up}"), &world.alice.token)
        .await?;
    expect::that(
        missing.status == foreign.status && missing.body["code"] == foreign.body["code"],
        || {
            format!(
                "another team's blob and a made-up hash are told apart: {} / {}",
                foreign.describe(),
                missing.describe()
            )
        },
    )
}
