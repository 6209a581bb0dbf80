//! The checks can fail: the suite runs through a proxy in front of the
//! reference server that falsifies one kind of answer, and the check that
//! covers it reports a failure that says why. Through the same proxy with
//! nothing falsified, the check passes, so the failure is the lie's.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Router;
use fieldbook_conformance::{run, CheckReport, Target};
use fieldbook_testkit::{TestServer, OPS_USER, PASSWORD};
use serde_json::{json, Value};

/// Changes an answer in place: method, path, status, body.
type Lie = fn(&Method, &str, &mut StatusCode, &mut Vec<u8>);

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    lie: Lie,
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = to_bytes(body, usize::MAX).await.expect("request body");
    let mut upstream = proxy
        .client
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", proxy.upstream),
        )
        .body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.expect("upstream answer");
    let mut status = answer.status();
    let headers = answer.headers().clone();
    let mut bytes = answer.bytes().await.expect("upstream body").to_vec();
    (proxy.lie)(&parts.method, parts.uri.path(), &mut status, &mut bytes);
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(bytes)).expect("proxied response")
}

/// Serves a proxy to `server` on port 0; returns its base URL.
async fn proxy(server: &TestServer, lie: Lie) -> String {
    let state = Proxy {
        upstream: server.base_url(),
        client: reqwest::Client::new(),
        lie,
    };
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Runs the one check named `check` through a proxy telling `lie`.
async fn run_one(server: &TestServer, lie: Lie, check: &str) -> CheckReport {
    let target = Target {
        base_url: proxy(server, lie).await,
        ops_username: OPS_USER.into(),
        ops_password: PASSWORD.into(),
    };
    let mut reports = run(&target, Some(check), |r| println!("{}", r.line()))
        .await
        .expect("set up the conformance world");
    assert_eq!(reports.len(), 1, "{check} names one check");
    reports.remove(0)
}

fn honest(_: &Method, _: &str, _: &mut StatusCode, _: &mut Vec<u8>) {}

/// Asserts `check` passes through an honest proxy and fails through `lie`
/// with a reason containing `because`.
async fn caught(lie: Lie, check: &str, because: &str) {
    let server = TestServer::start().await;
    let honest_report = run_one(&server, honest, check).await;
    assert!(honest_report.passed(), "{}", honest_report.line());
    let report = run_one(&server, lie, check).await;
    let line = report.line();
    assert!(!report.passed(), "the lie went unnoticed: {line}");
    assert!(line.contains(because), "{line}");
}

fn set_json(body: &mut Vec<u8>, value: &Value) {
    *body = serde_json::to_vec(value).expect("JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_serves_another_teams_installation_fails_the_scope_check() {
    fn leak(method: &Method, path: &str, status: &mut StatusCode, body: &mut Vec<u8>) {
        if method == Method::GET
            && path.starts_with("/api/v1/installations/")
            && *status == StatusCode::NOT_FOUND
        {
            *status = StatusCode::OK;
            set_json(body, &json!({"installation": {"version": 1}}));
        }
    }
    caught(
        leak,
        "scope.another_teams_ids_answer_404_like_made_up_ids",
        "answered 200 OK",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_drops_tombstones_fails_the_pull_check() {
    fn drop_tombstones(method: &Method, path: &str, _: &mut StatusCode, body: &mut Vec<u8>) {
        if method == Method::GET && path == "/api/v1/sync/pull" {
            let mut page: Value = serde_json::from_slice(body).expect("pull page");
            page["tombstones"] = json!([]);
            set_json(body, &page);
        }
    }
    caught(
        drop_tombstones,
        "pull.withdrawn_work_comes_back_as_left_scope_tombstones",
        "expected one left_scope tombstone",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_throttles_fails_the_login_check() {
    fn never_throttle(method: &Method, path: &str, status: &mut StatusCode, body: &mut Vec<u8>) {
        if method == Method::POST
            && path == "/api/v1/auth/login"
            && *status == StatusCode::TOO_MANY_REQUESTS
        {
            *status = StatusCode::UNAUTHORIZED;
            set_json(
                body,
                &json!({"code": "invalid_credentials", "message": "Wrong username or password"}),
            );
        }
    }
    caught(
        never_throttle,
        "login.repeated_failures_are_throttled_per_account",
        "the account is not throttled",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_chunk_checksums_fails_the_tus_check() {
    fn accept_bad_checksums(_: &Method, _: &str, status: &mut StatusCode, body: &mut Vec<u8>) {
        if status.as_u16() == 460 {
            *status = StatusCode::NO_CONTENT;
            body.clear();
        }
    }
    caught(
        accept_bad_checksums,
        "tus.a_bad_chunk_checksum_is_refused_and_changes_nothing",
        "expected 460 checksum_mismatch",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_a_replay_differently_fails_the_push_check() {
    // Every push answer claims a fresh version, as a server that applied
    // the replayed mutation again would.
    fn reapply(method: &Method, path: &str, _: &mut StatusCode, body: &mut Vec<u8>) {
        if method == Method::POST && path == "/api/v1/sync/push" {
            let mut answer: Value = serde_json::from_slice(body).expect("push answer");
            for result in answer["results"].as_array_mut().into_iter().flatten() {
                if result["outcome"]["status"] == "applied" {
                    let stamp = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .expect("clock")
                        .as_nanos() as u64;
                    result["outcome"]["version"] = json!(stamp);
                }
            }
            set_json(body, &answer);
        }
    }
    caught(
        reapply,
        "push.a_replayed_mutation_gets_the_stored_answer_once",
        "a replay answered",
    )
    .await;
}
