//! Bad input gets a clear `{code, message}` answer.

use fieldbook_testkit::{TestServer, OPS_USER};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn raw(
    server: &TestServer,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .body(body.to_owned());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_error(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["code"], code, "{}", answer.1);
    let message = answer.1["message"].as_str().expect("a message");
    assert!(message.len() > 10, "message too thin: {message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_codes_and_messages() {
    let server = TestServer::start_with(|c| c.json_body_limit = 64 * 1024).await;
    let token = server.token(OPS_USER).await;
    let json = Some("application/json");

    let answer = raw(&server, "/api/v1/sync/push", &token, json, "{not json").await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request");

    let answer = raw(&server, "/api/v1/sync/push", &token, None, "{}").await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request");

    let unknown_kind = json!({"mutations": [{
        "mutation_id": uuid::Uuid::new_v4(), "device_id": uuid::Uuid::new_v4(), "device_seq": 1,
        "mutation": {"kind": "installation.explode", "payload": {}}
    }]});
    let answer = raw(
        &server,
        "/api/v1/sync/push",
        &token,
        json,
        &unknown_kind.to_string(),
    )
    .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request");
    assert!(answer.1["message"]
        .as_str()
        .unwrap()
        .contains("installation.explode"));

    let huge = format!(
        "{{\"mutations\": [], \"pad\": \"{}\"}}",
        "x".repeat(100 * 1024)
    );
    let answer = raw(&server, "/api/v1/sync/push", &token, json, &huge).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // Routes other than push accept small bodies only.
    let huge_login = format!(
        "{{\"username\": \"ops\", \"password\": \"{}\"}}",
        "x".repeat(fieldbook_server::app::SMALL_JSON_BODY_LIMIT + 1)
    );
    let answer = raw(&server, "/api/v1/auth/login", &token, json, &huge_login).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let answer = server.get("/api/v1/installations/not-a-uuid", &token).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request");

    let answer = server.get("/api/v1/no/such/route", &token).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");

    let answer = server
        .post(
            "/api/v1/admin/users",
            &token,
            &json!({"username": "has space", "full_name": "X", "role": "technician", "password": "long enough pw"}),
        )
        .await;
    assert_error(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(answer.1["fields"][0]["field"], "username");

    let answer = server
        .post(
            "/api/v1/admin/users",
            &token,
            &json!({"username": "ops", "full_name": "Again", "role": "ops", "password": "long enough pw"}),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "conflict");

    let installation = server.create_installation(&token, "Z").await;
    let answer = server
        .post(
            &format!("/api/v1/admin/installations/{installation}/transition"),
            &token,
            &json!({"to": "closed"}),
        )
        .await;
    assert_error(&answer, StatusCode::CONFLICT, "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_openapi_need_no_token() {
    let server = TestServer::start().await;
    let (status, health) = server
        .call(reqwest::Method::GET, "/api/v1/health", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["api_version"], "v1");
    let (status, doc) = server
        .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    // Every route without an id (the id routes are checked against the
    // cross-team table in tests/scope.rs).
    for (method, path) in [
        ("get", "/api/v1/health"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/auth/session"),
        ("get", "/api/v1/sync/pull"),
        ("post", "/api/v1/sync/push"),
        ("post", "/api/v1/admin/users"),
        ("post", "/api/v1/admin/teams"),
        ("post", "/api/v1/admin/installations"),
        ("options", "/api/v1/blobs"),
        ("post", "/api/v1/blobs"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    // Technicians' tus discovery works without a token; the rest does not.
    let (status, _) = server
        .call(reqwest::Method::OPTIONS, "/api/v1/blobs", None, None)
        .await;
    assert!(status.is_success(), "{status}");
    let (status, _) = server
        .call(reqwest::Method::POST, "/api/v1/blobs", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Responses carry a request id for the logs.
    let response = server
        .client
        .get(server.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

/// A JSON request that is not done by the deadline gets `503 timeout`. Over
/// raw TCP: the client sends the headers and half the body, then nothing, so
/// the only way the server can answer is the deadline — whatever the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_request_past_its_deadline_gets_a_timeout_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let deadline = std::time::Duration::from_millis(300);
    let server = TestServer::start_with(|c| c.request_timeout = deadline).await;
    let addr = server.addr().to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: fieldbook\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":",
        )
        .await
        .unwrap();

    // Read until the head and the Content-Length bytes of body are in.
    let mut received = Vec::new();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .expect("a content-length");
                if body.len() >= length {
                    return (head.to_owned(), body[..length].to_owned());
                }
            }
            assert!(n > 0, "connection closed without an answer: {text}");
        }
    })
    .await
    .expect("the server answers by its deadline");
    let (head, body) = answer;
    assert!(
        started.elapsed() >= deadline,
        "answered before the deadline"
    );
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "timeout", "{body}");
    assert!(body["message"].as_str().unwrap().contains("try again"));

    // A request that completes is answered normally by the same server.
    let (status, _) = server
        .call(reqwest::Method::GET, "/api/v1/health", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
}
