//! A TCP proxy on 127.0.0.1 between a device and the server, for injecting
//! network faults at exact points of an HTTP exchange:
//! - cut a request after N bytes of it went through (the server sees a
//!   connection reset mid-body);
//! - forward a whole request and drop its response (the server committed,
//!   the device never hears about it);
//! - play dead (accept and close every connection) while the server is
//!   "down", and point at a new server address after a restart.
//!
//! Requests are recognised by their request line (`"PATCH /api/v1/blobs/"`)
//! in the client-to-server byte stream; HTTP/1.1 clients send one request at
//! a time per connection, so every byte the server sends after a matched
//! request line belongs to that request's response.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What to do to the request a [`FaultRule`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Forward this many bytes of the request (counted from the start of its
    /// request line), then close both connections.
    CutRequestAfter(usize),
    /// Forward the whole request; when the server starts answering, close
    /// both connections without forwarding a byte of the answer.
    DropResponse,
}

/// Fires on the `nth` (1-based) request whose request line starts with
/// `request_prefix`, counted over all connections; then the rule is spent.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub request_prefix: String,
    pub nth: u64,
    pub action: FaultAction,
    /// After firing, refuse every new connection and end the open ones at
    /// their next request (as if the server went down)
    /// until [`FaultProxy::set_up`].
    pub then_go_down: bool,
}

impl FaultRule {
    pub fn new(request_prefix: &str, nth: u64, action: FaultAction) -> Self {
        FaultRule {
            request_prefix: request_prefix.to_owned(),
            nth,
            action,
            then_go_down: false,
        }
    }

    pub fn then_go_down(mut self) -> Self {
        self.then_go_down = true;
        self
    }
}

#[derive(Debug, Default)]
struct Shared {
    upstream: Mutex<Option<SocketAddr>>,
    rules: Mutex<Vec<ArmedRule>>,
    down: AtomicBool,
    /// Client-to-server bytes forwarded, all connections together.
    bytes_up: AtomicU64,
    /// Faults that fired.
    fired: AtomicU64,
}

#[derive(Debug)]
struct ArmedRule {
    rule: FaultRule,
    seen: u64,
}

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 port 0 forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream: Mutex::new(Some(upstream)),
            ..Shared::default()
        });
        let accept_shared = Arc::clone(&shared);
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(async move { serve(client, shared).await });
            }
        });
        FaultProxy {
            addr,
            shared,
            accept_task,
        }
    }

    /// `http://127.0.0.1:<port>`: give this to the device instead of the
    /// server's own address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add_rule(&self, rule: FaultRule) {
        lock(&self.shared.rules).push(ArmedRule { rule, seen: 0 });
    }

    /// Where new connections go (after a server restart on a new port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.shared.upstream) = Some(upstream);
    }

    /// Every new connection is accepted and closed at once.
    pub fn set_down(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
    }

    pub fn set_up(&self) {
        self.shared.down.store(false, Ordering::SeqCst);
    }

    /// Client-to-server bytes forwarded so far (headers included).
    pub fn bytes_up(&self) -> u64 {
        self.shared.bytes_up.load(Ordering::SeqCst)
    }

    /// How many rules fired so far.
    pub fn faults_fired(&self) -> u64 {
        self.shared.fired.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fault armed on one connection by a matched request.
#[derive(Debug, Clone, Copy)]
enum ConnectionFault {
    /// Close once this many more client bytes went through.
    CutAfter(usize),
    DropResponse,
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>) {
    if shared.down.load(Ordering::SeqCst) {
        return; // dropping `client` closes it
    }
    let Some(upstream_addr) = *lock(&shared.upstream) else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(upstream_addr).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    // Armed by the upward pump, read by the downward one.
    let drop_response = AtomicBool::new(false);

    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        // The tail of the previous read, so a request line split across two
        // reads is still recognised.
        let mut carry: Vec<u8> = Vec::new();
        let mut armed: Option<ConnectionFault> = None;
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Down means down for every connection, also one a client kept
            // open from before (an idle keep-alive connection would
            // otherwise carry the retry of a cut request through).
            if shared.down.load(Ordering::SeqCst) && armed.is_none() {
                return;
            }
            let data = &buf[..n];
            let mut forward_len = n;
            if armed.is_none() {
                if let Some((fault, start_in_data)) = match_rules(&shared, &carry, data) {
                    shared.fired.fetch_add(1, Ordering::SeqCst);
                    armed = Some(match fault {
                        ConnectionFault::DropResponse => {
                            drop_response.store(true, Ordering::SeqCst);
                            ConnectionFault::DropResponse
                        }
                        // The limit counts from the request line; bytes of
                        // this read before it end the previous request.
                        ConnectionFault::CutAfter(limit) => {
                            ConnectionFault::CutAfter(start_in_data + limit)
                        }
                    });
                }
            }
            if let Some(ConnectionFault::CutAfter(remaining)) = armed {
                forward_len = n.min(remaining);
                armed = Some(ConnectionFault::CutAfter(remaining - forward_len));
            }
            if server_write.write_all(&data[..forward_len]).await.is_err() {
                return;
            }
            shared
                .bytes_up
                .fetch_add(forward_len as u64, Ordering::SeqCst);
            if matches!(armed, Some(ConnectionFault::CutAfter(0))) {
                // Give the server a moment to read what went through, then
                // close both sides (by returning).
                let _ = server_write.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                return;
            }
            let keep = data.len().min(64);
            carry.clear();
            carry.extend_from_slice(&data[data.len() - keep..]);
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if drop_response.load(Ordering::SeqCst) {
                // The server answered, so it has committed; the device
                // never learns it.
                return;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Whichever side ends first ends the connection: both sockets drop here.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Looks for an armed rule's request line in `data` (with `carry`, the end
/// of the previous read, in front). Returns the fault and where in `data`
/// the request line starts (0 if it began in `carry`).
fn match_rules(shared: &Shared, carry: &[u8], data: &[u8]) -> Option<(ConnectionFault, usize)> {
    let mut rules = lock(&shared.rules);
    let mut joined = Vec::with_capacity(carry.len() + data.len());
    joined.extend_from_slice(carry);
    joined.extend_from_slice(data);
    for index in 0..rules.len() {
        let prefix = rules[index].rule.request_prefix.as_bytes().to_vec();
        let Some(position) = find(&joined, &prefix) else {
            continue;
        };
        // A match wholly inside the carried tail was counted last time.
        if position + prefix.len() <= carry.len() {
            continue;
        }
        rules[index].seen += 1;
        if rules[index].seen < rules[index].rule.nth {
            continue;
        }
        let armed = rules.remove(index);
        if armed.rule.then_go_down {
            shared.down.store(true, Ordering::SeqCst);
        }
        let start_in_data = position.saturating_sub(carry.len());
        let fault = match armed.rule.action {
            FaultAction::CutRequestAfter(n) => ConnectionFault::CutAfter(n),
            FaultAction::DropResponse => ConnectionFault::DropResponse,
        };
        return Some((fault, start_in_data));
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
