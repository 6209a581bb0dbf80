//! Health, login, throttling and tokens.

use fieldbook_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::world::{login, PASSWORD};
use crate::{expect, CheckError, World};

/// Wrong passwords the throttle check sends at most before expecting the
/// account to be locked (the reference server locks after 5).
const MAX_FAILED_LOGINS_TRIED: usize = 20;

pub async fn health(world: &World) -> Result<(), CheckError> {
    let answer = world
        .api
        .call(Method::GET, "/api/v1/health", None, None)
        .await?;
    expect::status(&answer, StatusCode::OK)?;
    expect::that(
        answer.body["status"] == "ok" && answer.body["api_version"] == "v1",
        || {
            format!(
                "{}; expected status \"ok\" and api_version \"v1\"",
                answer.describe()
            )
        },
    )
}

pub async fn login_answer(world: &World) -> Result<(), CheckError> {
    let answer = login(&world.api, &world.alice.username, PASSWORD).await?;
    expect::status(&answer, StatusCode::OK)?;
    let body = &answer.body;
    expect::that(
        body["token"].as_str().is_some_and(|t| t.len() >= 16)
            && body["expires_at"].is_string()
            && body["user"]["id"] == world.alice.user_id.to_string()
            && body["user"]["role"] == "technician",
        || {
            format!(
                "{}; expected a token, expires_at and the user",
                answer.describe()
            )
        },
    )?;
    let teams: Vec<&str> = body["teams"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["id"].as_str()).collect())
        .unwrap_or_default();
    expect::that(teams == [world.team_a.to_string().as_str()], || {
        format!(
            "login named teams {teams:?}; expected only the user's team {}",
            world.team_a
        )
    })?;
    // The token works, and a second login gets another token.
    let session = world
        .api
        .get("/api/v1/auth/session", body["token"].as_str().unwrap_or(""))
        .await?;
    expect::status(&session, StatusCode::OK)?;
    let again = login(&world.api, &world.alice.username, PASSWORD).await?;
    expect::that(again.body["token"] != body["token"], || {
        "two logins answered the same token".into()
    })
}

pub async fn login_failures_alike(world: &World) -> Result<(), CheckError> {
    let user = world.technician("alike").await?;
    let wrong = login(&world.api, &user.username, "not the password").await?;
    let unknown = login(&world.api, &world.name("nobody"), "not the password").await?;
    expect::error(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials")?;
    expect::that(
        wrong.status == unknown.status && wrong.body == unknown.body,
        || {
            format!(
                "a wrong password and an unknown user are told apart: {} / {}",
                wrong.describe(),
                unknown.describe()
            )
        },
    )
}

pub async fn login_throttle(world: &World) -> Result<(), CheckError> {
    let target = world.technician("throttled").await?;
    let bystander = world.technician("bystander").await?;
    let mut failures = 0;
    let locked = loop {
        let answer = login(&world.api, &target.username, "a wrong guess").await?;
        match answer.status {
            StatusCode::UNAUTHORIZED => {
                expect::error(&answer, StatusCode::UNAUTHORIZED, "invalid_credentials")?;
                failures += 1;
                expect::that(failures < MAX_FAILED_LOGINS_TRIED, || {
                    format!("{failures} wrong passwords in a row and the account is not throttled")
                })?;
            }
            _ => break answer,
        }
    };
    expect::error(&locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")?;
    expect::that(
        locked.body["retry_after_secs"]
            .as_u64()
            .is_some_and(|s| s > 0),
        || format!("{}; expected retry_after_secs > 0", locked.describe()),
    )?;
    // Locked means locked: the right password is refused too.
    let right = login(&world.api, &target.username, PASSWORD).await?;
    expect::error(&right, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")?;
    // Per account: someone else still logs in.
    let other = login(&world.api, &bystander.username, PASSWORD).await?;
    expect::status(&other, StatusCode::OK)
}

pub async fn tokens_refused(world: &World) -> Result<(), CheckError> {
    let pull = "/api/v1/sync/pull?cursor=0&limit=1";
    let none = world.api.call(Method::GET, pull, None, None).await?;
    expect::error(&none, StatusCode::UNAUTHORIZED, "unauthorized")?;
    let made_up = world.api.get(pull, "not-a-real-token").await?;
    expect::error(&made_up, StatusCode::UNAUTHORIZED, "unauthorized")?;
    // Logout revokes that token only.
    let user = world.technician("logout").await?;
    let other_token = world.login_token(&user.username).await?;
    let logout = world
        .api
        .call(Method::POST, "/api/v1/auth/logout", Some(&user.token), None)
        .await?;
    expect::that(logout.status.is_success(), || {
        format!("{}; expected success", logout.describe())
    })?;
    let revoked = world.api.get(pull, &user.token).await?;
    expect::error(&revoked, StatusCode::UNAUTHORIZED, "unauthorized")?;
    let still = world.api.get(pull, &other_token).await?;
    expect::status(&still, StatusCode::OK)
}

pub async fn admin_refused(world: &World) -> Result<(), CheckError> {
    let token = &world.alice.token;
    let team = world
        .api
        .post(
            "/api/v1/admin/teams",
            token,
            &json!({"name": world.name("rogue")}),
        )
        .await?;
    expect::error(&team, StatusCode::NOT_FOUND, "not_found")?;
    let user = world
        .api
        .post(
            "/api/v1/admin/users",
            token,
            &json!({"username": world.name("rogue"), "full_name": "Rogue",
                    "role": Role::Ops, "password": PASSWORD}),
        )
        .await?;
    expect::error(&user, StatusCode::NOT_FOUND, "not_found")?;
    // Not even on their own team's installation.
    let installation = world.confirmed_installation(world.team_a).await?;
    let moved = world
        .api
        .post(
            &format!("/api/v1/admin/installations/{installation}/transition"),
            token,
            &json!({"to": "cancelled"}),
        )
        .await?;
    expect::error(&moved, StatusCode::NOT_FOUND, "not_found")?;
    let status = world.status_of(token, installation).await?;
    expect::that(status == "confirmed", || {
        format!("a technician's admin move changed the installation to {status}")
    })
}
