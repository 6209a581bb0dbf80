//! Login, identical failure answers, per-account throttling, expiry and
//! revocation, tokens stored only as hashes.

use std::time::Duration;

use fieldbook_domain::Role;
use fieldbook_testkit::{skip_unless_one_instance, TestServer, OPS_USER, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_a_token_user_and_teams() {
    let server = TestServer::start().await;
    let tech = server.add_user("tina", Role::Technician);
    let ops = server.token(OPS_USER).await;
    let team = server.add_team(&ops, "North", &[tech]).await;

    let login = server.login("tina").await;
    assert_eq!(login.user.username, "tina");
    assert_eq!(login.user.role, Role::Technician);
    assert_eq!(login.teams.len(), 1);
    assert_eq!(login.teams[0].id, team);
    assert!(login.expires_at > chrono::Utc::now() + chrono::Duration::days(1));
    // 256 random bits in URL-safe base64.
    assert!(login.token.len() >= 43, "token too short: {}", login.token);

    let (status, session) = server.get("/api/v1/auth/session", &login.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["user"]["id"], json!(tech));
    assert_eq!(session["teams"][0]["name"], "North");

    // Two logins, two different tokens.
    assert_ne!(server.token("tina").await, login.token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_get_identical_answers() {
    let server = TestServer::start().await;
    server.add_user("tina", Role::Technician);
    let wrong_password = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"username": "tina", "password": "not the password"})),
        )
        .await;
    let unknown_user = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"username": "nobody", "password": "not the password"})),
        )
        .await;
    assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password.1["code"], "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_account_known_or_not() {
    let server = TestServer::start_with(|c| {
        c.max_failed_logins = 3;
        c.login_lockout = Duration::from_secs(3600);
    })
    .await;
    server.add_user("tina", Role::Technician);
    server.add_user("tom", Role::Technician);
    let attempt = |username: &'static str, password: &'static str| {
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(&json!({"username": username, "password": password})),
                )
                .await
        }
    };
    for _ in 0..3 {
        let (status, _) = attempt("tina", "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = attempt("ghost", "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password is refused, and an unknown name is
    // locked the same way (no enumeration through the throttle).
    let (status, body) = attempt("tina", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_attempts");
    assert!(body["retry_after_secs"].as_u64().unwrap() > 0);
    let (ghost_status, ghost_body) = attempt("ghost", PASSWORD).await;
    assert_eq!(ghost_status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(ghost_body["code"], "too_many_attempts");
    // Per account: another user is not affected.
    server.login("tom").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_login_resets_the_failure_count() {
    let server = TestServer::start_with(|c| c.max_failed_logins = 3).await;
    server.add_user("tina", Role::Technician);
    for _ in 0..2 {
        let (status, _) = server
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({"username": "tina", "password": "wrong password!"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    server.login("tina").await;
    for _ in 0..2 {
        server
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({"username": "tina", "password": "wrong password!"})),
            )
            .await;
    }
    server.login("tina").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused() {
    let server = TestServer::start_with(|c| c.session_ttl = Duration::from_secs(1)).await;
    let token = server.token(OPS_USER).await;
    // Generous margin over the 1 s lifetime: no tight timing on a busy box.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = server.get("/api/v1/sync/pull", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_only_that_token() {
    let server = TestServer::start().await;
    let first = server.token(OPS_USER).await;
    let second = server.token(OPS_USER).await;
    let (status, _) = server
        .call(Method::POST, "/api/v1/auth/logout", Some(&first), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/api/v1/auth/session", &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.get("/api/v1/auth/session", &second).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_malformed_tokens_are_refused() {
    let server = TestServer::start().await;
    for header in [
        None,
        Some("Bearer"),
        Some("Basic abc"),
        Some("Bearer not-a-token"),
    ] {
        let mut request = server.client.get(server.url("/api/v1/sync/pull"));
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_passwords_are_stored_only_as_hashes() {
    if fieldbook_testkit::skip_unless_sqlite("tokens_and_passwords_are_stored_only_as_hashes") {
        return;
    }
    let server = TestServer::start().await;
    let token = server.token(OPS_USER).await;
    let db =
        rusqlite::Connection::open(fieldbook_server::storage::database_path(server.data_dir()))
            .unwrap();
    let stored: Vec<String> = db
        .prepare("SELECT token_hash FROM sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    assert!(!stored[0].contains(&token));
    let hash: String = db
        .query_row(
            "SELECT password_hash FROM users WHERE username = ?1",
            [OPS_USER],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

/// A client whose connections come from `ip` (any 127.x.y.z is the
/// loopback on Linux): a stranger on another address.
/// Why the per-address throttle tests skip behind several instances: every
/// request reaches an instance from the round-robin front's one address.
/// (Guesses through alternating instances meeting one throttle: instances.rs.)
const FRONT_HIDES_ADDRESSES: &str =
    "connects from several loopback addresses, which the round-robin front replaces with its own";

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse().unwrap()))
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn login_from(
    server: &TestServer,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    let response = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Finding 2 of issue 15: the lock was checked before the hash and the
/// failure recorded after it, so a burst of parallel guesses was verified in
/// full (36 of 200 instead of 5). Hashing is made slow enough here (1 MiB,
/// 20 passes) that the burst overlaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_guesses_verify_at_most_the_allowed_number() {
    const GUESSES: usize = 200;
    let server = TestServer::start_with(|c| {
        c.password_hashing = fieldbook_server::PasswordHashing {
            memory_kib: 1024,
            iterations: 20,
            parallelism: 1,
        };
    })
    .await;
    server.add_user("tina", Role::Technician);
    let allowed = server.state.config.max_failed_logins as usize;
    let guesses = (0..GUESSES).map(|i| {
        let client = server.client.clone();
        let url = server.url("/api/v1/auth/login");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"username": "tina", "password": format!("wrong guess {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let mut verified = 0;
    let mut throttled = 0;
    for guess in guesses.collect::<Vec<_>>() {
        match guess.await.unwrap() {
            StatusCode::UNAUTHORIZED => verified += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    println!("{GUESSES} parallel wrong guesses: {verified} verified, {throttled} throttled");
    assert!(
        verified <= allowed,
        "{verified} guesses were verified; at most {allowed} may be"
    );
    assert_eq!(verified + throttled, GUESSES);
    // The right password from the same address is locked out too.
    let (status, _) = login_from(&server, &server.client, "tina", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Finding 2 of issue 15: five wrong passwords from anyone locked the real
/// technician out. Now a stranger locks out only their own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_the_technician_out_from_another_address() {
    if skip_unless_one_instance(
        "a_stranger_cannot_lock_the_technician_out_from_another_address",
        FRONT_HIDES_ADDRESSES,
    ) {
        return;
    }
    let server = TestServer::start().await;
    server.add_user("tina", Role::Technician);
    let stranger = client_from("127.0.0.2");
    for _ in 0..server.state.config.max_failed_logins {
        let (status, _) = login_from(&server, &stranger, "tina", "a wrong guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = login_from(&server, &stranger, "tina", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The technician on her own address logs in.
    let (status, body) = login_from(&server, &server.client, "tina", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The slower backstop: guesses spread over many addresses lock the account
/// for everyone once the per-account allowance is used up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_from_many_addresses_meet_the_per_account_backstop() {
    if skip_unless_one_instance(
        "guesses_from_many_addresses_meet_the_per_account_backstop",
        FRONT_HIDES_ADDRESSES,
    ) {
        return;
    }
    let server = TestServer::start_with(|c| {
        c.max_failed_logins = 2;
        c.max_failed_logins_per_account = 6;
    })
    .await;
    server.add_user("tina", Role::Technician);
    for host in 2..5 {
        let stranger = client_from(&format!("127.0.0.{host}"));
        for _ in 0..2 {
            let (status, _) = login_from(&server, &stranger, "tina", "a wrong guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    let (status, body) = login_from(&server, &server.client, "tina", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_attempts");
    // Another account is not affected.
    server.add_user("tom", Role::Technician);
    server.login("tom").await;
}
