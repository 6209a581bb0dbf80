//! Who is on the other end of a request: the TCP peer, or, when that peer is
//! a configured reverse proxy, the client the proxy names in
//! `X-Forwarded-For`. The login throttle counts failures by this address.
//!
//! `X-Forwarded-For` is free text any client can send, so it is read only
//! when the connection comes from a trusted proxy, and then from the right:
//! each proxy appends the address it received the request from, so the
//! rightmost entry that is not itself a trusted proxy is the first address
//! no one we trust vouches for beyond. Entries to its left were written by
//! the client and are ignored.

use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::Connected;
use axum::http::HeaderMap;
use axum::serve::IncomingStream;
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::tls::TlsListener;

/// The TCP peer of a connection, plain or TLS (axum's `ConnectInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: the peer's, or the one a trusted proxy forwarded.
/// `None` without a peer (a router driven without a listener, in tests).
pub fn client_address(
    config: &ServerConfig,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer?.ip().to_canonical();
    if !config.is_trusted_proxy(peer) {
        return Some(peer);
    }
    // Every X-Forwarded-For header, in order, as one comma-separated list.
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage where an address should be: no better answer than the
            // last hop we could trust.
            break;
        };
        client = ip;
        if !config.is_trusted_proxy(ip) {
            break;
        }
    }
    Some(client)
}

/// An entry of `X-Forwarded-For`: an address, maybe with a port
/// (`203.0.113.7:5123`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn config(proxies: &[&str]) -> ServerConfig {
        let mut config = ServerConfig::new("/tmp/unused".into());
        config.trusted_proxies = proxies.iter().map(|p| p.parse().unwrap()).collect();
        config
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_client_that_is_not_a_trusted_proxy_cannot_choose_its_address() {
        let config = config(&["10.0.0.5/32"]);
        let spoofed = headers(&["198.51.100.1"]);
        assert_eq!(
            client_address(&config, peer("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        // No proxies configured at all: the header is never read.
        assert_eq!(
            client_address(&super::tests::config(&[]), peer("10.0.0.5"), &spoofed),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let config = config(&["10.0.0.0/24"]);
        // The client wrote 198.51.100.1 itself; the proxy appended the real one.
        let forwarded = headers(&["198.51.100.1, 203.0.113.7"]);
        assert_eq!(
            client_address(&config, peer("10.0.0.5"), &forwarded),
            ip("203.0.113.7")
        );
        // Two trusted proxies in a row, across two header lines, with a port.
        let chained = headers(&["198.51.100.1, 203.0.113.7:5123", "10.0.0.6"]);
        assert_eq!(
            client_address(&config, peer("10.0.0.5"), &chained),
            ip("203.0.113.7")
        );
        let v6 = headers(&["[2001:db8::1]:443"]);
        assert_eq!(
            client_address(&config, peer("::ffff:10.0.0.5"), &v6),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client() {
        let config = config(&["127.0.0.1/32"]);
        assert_eq!(
            client_address(&config, peer("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        // Garbage as the last hop: nothing to its left can be believed.
        let garbage = headers(&["203.0.113.7, unknown"]);
        assert_eq!(
            client_address(&config, peer("127.0.0.1"), &garbage),
            ip("127.0.0.1")
        );
        assert_eq!(client_address(&config, None, &garbage), None);
    }
}
