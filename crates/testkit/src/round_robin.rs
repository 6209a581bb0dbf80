//! A round-robin front for several server instances: what a load balancer
//! does, at its most hostile to a server that keeps state in one process.
//! Each request goes to the next instance in turn, so consecutive requests
//! of one client (a device's pull pages, a tus creation and its PATCHes)
//! land on different instances.
//!
//! Bodies are streamed both ways, never buffered: a request cut by the
//! client is cut upstream, a download cut by a stopped instance is cut for
//! the client, and large uploads cost no memory here. The `Host` header
//! goes through unchanged (URLs the server builds name the front). When an
//! instance hangs up without an answer (a body refused from its declared
//! length, a stopped instance), the front hangs up on the client too, so the
//! client sees what it would have seen talking to the instance.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName};
use axum::response::Response;
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1); the
/// client library sets its own on the next hop.
const HOP_BY_HOP: [HeaderName; 5] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

#[derive(Clone)]
struct Upstreams {
    instances: Arc<Vec<SocketAddr>>,
    next: Arc<AtomicUsize>,
    client: reqwest::Client,
}

/// The front: listens on one address for its whole life (like
/// [`TestServer`](crate::TestServer)), can stop listening and listen again.
#[derive(Debug)]
pub(crate) struct RoundRobin {
    addr: SocketAddr,
    instances: Arc<Vec<SocketAddr>>,
    next: Arc<AtomicUsize>,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl RoundRobin {
    /// A front on a free port before `instances` (in turn, first first).
    pub(crate) async fn start(instances: Vec<SocketAddr>) -> RoundRobin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the round-robin front");
        let mut front = RoundRobin {
            addr: listener.local_addr().expect("front address"),
            instances: Arc::new(instances),
            next: Arc::new(AtomicUsize::new(0)),
            running: None,
        };
        front.serve(listener);
        front
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening; requests in flight finish.
    pub(crate) async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the round-robin front did not stop within 30 s")
                .expect("the round-robin front's task");
        }
    }

    /// Listens on the same address again (retried briefly: the OS may hold
    /// the port a moment after the stop).
    pub(crate) async fn resume(&mut self) {
        assert!(self.running.is_none(), "the front is already up");
        let mut last_error = None;
        for _ in 0..50 {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return;
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!(
            "the front cannot listen on {} again: {last_error:?}",
            self.addr
        );
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let upstreams = Upstreams {
            instances: Arc::clone(&self.instances),
            next: Arc::clone(&self.next),
            client: reqwest::Client::builder()
                // The instance's answer is the client's to follow or not.
                .redirect(reqwest::redirect::Policy::none())
                // Instances stop and restart on the same port: a pooled
                // connection to a stopped one would fail the next request.
                .pool_max_idle_per_host(0)
                .build()
                .expect("the front's HTTP client"),
        };
        let app = Router::new().fallback(forward).with_state(upstreams);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        self.running = Some((stop, task));
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        if let Some((_, task)) = self.running.take() {
            task.abort();
        }
    }
}

/// Sends the request to the next instance and streams its answer back.
async fn forward(State(upstreams): State<Upstreams>, request: Request) -> Response {
    let turn = upstreams.next.fetch_add(1, Ordering::Relaxed);
    let instance = upstreams.instances[turn % upstreams.instances.len()];
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = upstreams
        .client
        .request(parts.method.clone(), format!("http://{instance}{path}"));
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(name) {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = upstream.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    let Ok(answer) = upstream.send().await else {
        // axum has no way to close a connection without a response but
        // unwinding its task; resume_unwind skips the panic hook, so
        // nothing is printed.
        std::panic::resume_unwind(Box::new("the instance hung up"));
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(name) {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .expect("a forwarded response")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny instance that answers its name, the request's body length
    /// and its Host header.
    async fn named(name: &'static str) -> SocketAddr {
        let app = Router::new().fallback(move |request: Request| async move {
            let host = request.headers()[header::HOST].to_str().unwrap().to_owned();
            let body = axum::body::to_bytes(request.into_body(), usize::MAX)
                .await
                .unwrap();
            format!("{name} {} {host}", body.len())
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_go_to_each_instance_in_turn_through_one_address() {
        let mut front = RoundRobin::start(vec![named("a").await, named("b").await]).await;
        let url = format!("http://{}/x", front.addr());
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for n in 0..4 {
            let answer = client
                .post(&url)
                .body(vec![7u8; 10 * n])
                .send()
                .await
                .unwrap();
            answers.push(answer.text().await.unwrap());
        }
        let host = front.addr().to_string();
        assert_eq!(
            answers,
            [
                format!("a 0 {host}"),
                format!("b 10 {host}"),
                format!("a 20 {host}"),
                format!("b 30 {host}")
            ]
        );
        front.stop().await;
        assert!(client.get(&url).send().await.is_err(), "the front stopped");
        front.resume().await;
        let answer = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(answer, format!("a 0 {host}"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_that_does_not_answer_is_a_hang_up_not_an_answer() {
        let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone_addr = gone.local_addr().unwrap();
        drop(gone);
        let front = RoundRobin::start(vec![gone_addr]).await;
        let result = reqwest::get(format!("http://{}/", front.addr())).await;
        assert!(result.is_err(), "{result:?}");
    }
}
