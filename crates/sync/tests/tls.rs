//! Transport against the real server speaking TLS itself: the engine trusts
//! a company's certificate authority found through the operating system's
//! certificate store, and refuses plain http:// off this computer.
//!
//! What is exercised exactly: the engine's HTTP client adds the roots that
//! `rustls-native-certs` loads. With `SSL_CERT_FILE` set (as here) that
//! crate reads that PEM file instead of the platform store; without it, on
//! Debian, it reads `/etc/ssl/certs/ca-certificates.crt`, which
//! `update-ca-certificates` maintains. The platform discovery itself is not
//! run here (it would need root to install the test CA). One test in this
//! binary: the environment variable is read once per process.

mod common;

use common::{Device, TestServer, PASSWORD};
use fieldbook_server::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_ca_in_the_os_store_is_trusted_and_plain_http_is_refused() {
    let pki = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Fieldbook company test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let files = TlsFiles {
        cert: pki.path().join("fullchain.pem"),
        key: pki.path().join("privkey.pem"),
    };
    std::fs::write(&files.cert, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
    let ca_file = pki.path().join("company-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let server = TestServer::start_with(|config| config.tls = Some(files)).await;
    let alex = server.add_technician("alex");
    server.ops().add_team("North Crew", &[alex]);
    let https = format!("https://localhost:{}", server.addr().port());

    // Control: with only the public web roots, the company CA is unknown.
    let web_roots_only = reqwest::Client::new()
        .get(format!("{https}/api/v1/health"))
        .send()
        .await;
    assert!(web_roots_only.is_err(), "the test CA is a public root?");

    // The "OS store" holds the company CA: the engine signs in and syncs.
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    std::env::remove_var("SSL_CERT_DIR");
    let device = Device::signed_in_at(&https, "alex").await;
    device.engine.sync_once().await.expect("sync over TLS");
    assert_eq!(device.engine.server_url().as_deref(), Some(https.as_str()));

    // Plain http:// to anything but this computer is refused before any
    // byte is sent (the address does not even resolve).
    let other = Device::new();
    let err = other
        .engine
        .sign_in("http://fieldbook.invalid:8787", "alex", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_server_url", "{err}");
    assert!(err.to_string().contains("https://"), "{err}");
    // …unless the setting names that host on a private network.
    let allowed = Device::with_options(|o| o.allowed_http_host = Some("fieldbook.invalid".into()));
    let err = allowed
        .engine
        .sign_in("http://fieldbook.invalid:8787", "alex", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "offline",
        "allowed, so it tried the network: {err}"
    );
}
