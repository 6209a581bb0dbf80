//! How the device reaches its server: which addresses it accepts, and which
//! certificate authorities it trusts.
//!
//! - Plain `http://` carries the password, the token and customers' data
//!   readable (and changeable) by anyone on the path. It is accepted only to
//!   this computer (loopback), or to the one host named by the
//!   `FIELDBOOK_ALLOW_HTTP_HOST` setting — for a server on a private network;
//!   the sign-in screen then shows a warning.
//! - HTTPS trusts the operating system's certificate store (on Linux the
//!   file `update-ca-certificates` maintains, or `SSL_CERT_FILE` /
//!   `SSL_CERT_DIR` when set) on top of the public web roots built in, so a
//!   company's own certificate authority works once IT installs it.

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::error::SyncError;

/// Refuses `url` unless it is `https://`, `http://` to loopback, or
/// `http://` to `allowed_http_host` (a name, or a private address).
pub fn check_transport(
    url: &reqwest::Url,
    allowed_http_host: Option<&str>,
) -> Result<(), SyncError> {
    if url.scheme() != "http" {
        return Ok(());
    }
    let refuse = |reason: String| SyncError::InvalidServerUrl {
        url: url.to_string(),
        reason,
    };
    let host = match url.host_str().filter(|h| !h.is_empty()) {
        Some(host) => HostName::parse(host),
        None => return Err(refuse("it has no host name".into())),
    };
    if host.is_loopback() {
        return Ok(());
    }
    if let Some(allowed) = allowed_http_host.map(str::trim).filter(|h| !h.is_empty()) {
        let allowed = HostName::parse(allowed);
        if let HostName::Ip(ip) = &allowed {
            if !is_private(ip) {
                return Err(refuse(format!(
                    "plain http:// may be allowed only on a private network, and {ip} is a public address; use https://"
                )));
            }
        }
        if allowed == host {
            return Ok(());
        }
    }
    Err(refuse(
        "plain http:// would send your password and customers' details readable by anyone on the network; use https:// (or ask support to allow this server on your private network)".into(),
    ))
}

/// The host to allow plain `http://` to, when its setting is a usable one.
pub fn allowed_http_host_warning(allowed_http_host: Option<&str>) -> Option<String> {
    let host = allowed_http_host.map(str::trim).filter(|h| !h.is_empty())?;
    match HostName::parse(host) {
        HostName::Ip(ip) if !is_private(&ip) => None,
        _ => Some(host.to_owned()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum HostName {
    Name(String),
    Ip(IpAddr),
}

impl HostName {
    fn parse(text: &str) -> HostName {
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => HostName::Ip(ip),
            Err(_) => HostName::Name(text.to_ascii_lowercase()),
        }
    }

    fn is_loopback(&self) -> bool {
        match self {
            HostName::Name(name) => name == "localhost",
            HostName::Ip(ip) => ip.is_loopback(),
        }
    }
}

fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        // fc00::/7 (unique local) and fe80::/10 (link local).
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The certificate authorities of the operating system's store, read once
/// per process. Unreadable entries are skipped (and logged): the built-in
/// web roots still apply.
pub fn os_root_certificates() -> &'static [reqwest::Certificate] {
    static ROOTS: OnceLock<Vec<reqwest::Certificate>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for err in &found.errors {
            tracing::warn!(%err, "a certificate of the system store could not be read");
        }
        found
            .certs
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn https_anywhere_and_http_only_to_this_computer() {
        for ok in [
            "https://sync.example.com",
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://[::1]:8787",
        ] {
            check_transport(&url(ok), None).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for refused in ["http://sync.example.com", "http://192.168.1.20:8787"] {
            let err = check_transport(&url(refused), None).unwrap_err();
            assert_eq!(err.code(), "invalid_server_url", "{refused}");
            assert!(err.to_string().contains("https://"), "{err}");
        }
    }

    #[test]
    fn the_setting_allows_one_named_host_or_private_address() {
        let lan = Some("fieldbook-box.lan");
        check_transport(&url("http://FIELDBOOK-BOX.lan:8787"), lan).unwrap();
        assert!(check_transport(&url("http://other.lan:8787"), lan).is_err());
        check_transport(&url("http://10.1.2.3:8787"), Some("10.1.2.3")).unwrap();
        check_transport(&url("http://[fd00::5]:8787"), Some("[fd00::5]")).unwrap();
        // A public address is not a private network.
        let err = check_transport(&url("http://8.8.8.8"), Some("8.8.8.8")).unwrap_err();
        assert!(err.to_string().contains("public"), "{err}");
        assert_eq!(allowed_http_host_warning(Some("8.8.8.8")), None);
        assert_eq!(
            allowed_http_host_warning(Some(" fieldbook-box.lan ")).as_deref(),
            Some("fieldbook-box.lan")
        );
        assert_eq!(allowed_http_host_warning(Some("  ")), None);
    }
}
