//! How the server is deployed: its own HTTPS with a company's certificate
//! (checked with a test CA made here and a client that trusts only that CA),
//! the console cookie's `Secure` flag, the login throttle behind a reverse
//! proxy, and the binary started from a config file as the systemd unit
//! starts it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fieldbook_domain::Role;
use fieldbook_protocol::CreateUserRequest;
use fieldbook_server::{admin, AppState, PasswordHashing, RunningServer, ServerConfig, TlsFiles};
use fieldbook_testkit::ServeProcess;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::StatusCode;
use serde_json::json;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_fieldbook-server");
const PASSWORD: &str = "correct horse battery";

/// A throwaway certificate authority and a server certificate it signed for
/// `localhost` and 127.0.0.1, as PEM files in `dir`.
struct TestPki {
    ca_pem: String,
    files: TlsFiles,
}

impl TestPki {
    fn create(dir: &Path) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Fieldbook test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();

        let files = TlsFiles {
            cert: dir.join("fullchain.pem"),
            key: dir.join("privkey.pem"),
        };
        // Leaf first, then the CA, as certificate vendors ship a chain.
        std::fs::write(&files.cert, format!("{}{}", server.pem(), ca.pem())).unwrap();
        std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            files,
        }
    }

    /// A client that trusts this CA and nothing else.
    fn client(&self, server: SocketAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .resolve("localhost", server)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }
}

struct Served {
    server: Option<RunningServer>,
    _dir: TempDir,
}

impl Served {
    async fn start(adjust: impl FnOnce(&mut ServerConfig, &Path)) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path().join("data"));
        config.password_hashing = PasswordHashing::insecure_fast_for_tests();
        adjust(&mut config, dir.path());
        let state = AppState::open(config).unwrap();
        admin::create_user(
            &state.storage,
            state.config.password_hashing,
            &CreateUserRequest {
                username: "ops".into(),
                full_name: "Ops Tester".into(),
                role: Role::Ops,
                password: PASSWORD.into(),
            },
        )
        .unwrap();
        let server = fieldbook_server::start(state, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        Served {
            server: Some(server),
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr
    }
}

async fn console_login(
    client: &reqwest::Client,
    base: &str,
    forwarded_for: Option<&str>,
    password: &str,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{base}/api/v1/ops/session"))
        .json(&json!({"username": "ops", "password": password}));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

fn set_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn serves_https_with_the_given_certificate_and_a_secure_cookie() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(pki_dir.path());
    let files = pki.files.clone();
    let served = Served::start(|config, _| config.tls = Some(files)).await;
    let base = format!("https://localhost:{}", served.addr().port());
    let client = pki.client(served.addr());

    let health = client
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.version(), reqwest::Version::HTTP_11);

    let login = console_login(&client, &base, None, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = set_cookie(&login);
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));

    // A client that does not trust the company's CA refuses the server...
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .resolve("localhost", served.addr())
        .build()
        .unwrap();
    let refused = stranger.get(format!("{base}/api/v1/health")).send().await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
    // ...and nothing is served in plain HTTP on the TLS port.
    let plain = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/api/v1/health",
            served.addr().port()
        ))
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was answered: {plain:?}"
    );
    // The server still answers after those failed handshakes.
    let again = client.get(format!("{base}/api/v1/health")).send().await;
    assert_eq!(again.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_cookie_is_secure_behind_a_tls_proxy_and_not_on_plain_http() {
    let plain = Served::start(|_, _| {}).await;
    let base = format!("http://{}", plain.addr());
    let login = console_login(&reqwest::Client::new(), &base, None, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(!set_cookie(&login).contains("Secure"));

    let proxied = Served::start(|config, _| {
        config.public_url = Some("https://fieldbook.example.com".into());
    })
    .await;
    let base = format!("http://{}", proxied.addr());
    let login = console_login(&reqwest::Client::new(), &base, None, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(set_cookie(&login).contains("; Secure"));
}

#[tokio::test]
async fn the_login_throttle_counts_the_forwarded_client_only_behind_a_trusted_proxy() {
    let client = reqwest::Client::new();
    let wrong = "not the password";
    // Behind a trusted proxy (this test is the proxy, on 127.0.0.1): one
    // client locked out does not lock out another.
    let proxied = Served::start(|config, _| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let base = format!("http://{}", proxied.addr());
    let limit = ServerConfig::new("unused".into()).max_failed_logins;
    for _ in 0..limit {
        let r = console_login(&client, &base, Some("203.0.113.7"), wrong).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = console_login(&client, &base, Some("203.0.113.7"), PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = console_login(&client, &base, Some("198.51.100.20"), PASSWORD).await;
    assert_eq!(other.status(), StatusCode::OK);

    // Without a trusted proxy the header is the client's own words: a new
    // X-Forwarded-For on every guess changes nothing.
    let direct = Served::start(|_, _| {}).await;
    let base = format!("http://{}", direct.addr());
    for i in 0..limit {
        let r = console_login(&client, &base, Some(&format!("198.51.100.{i}")), wrong).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = console_login(&client, &base, Some("198.51.100.99"), PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_binary_takes_its_settings_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    let config = dir.path().join("config.toml");
    // Relative paths are relative to the file.
    std::fs::write(
        &config,
        "addr = \"127.0.0.1:0\"\ndata_dir = \"data\"\ntls_cert = \"fullchain.pem\"\ntls_key = \"privkey.pem\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let created = Command::new(BIN)
        .args(["--config", config, "user", "add", "--username", "kim"])
        .args(["--full-name", "Kim Field", "--role", "technician"])
        .env("FIELDBOOK_PASSWORD", PASSWORD)
        .env_remove("FIELDBOOK_DATA_DIR")
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    assert!(dir.path().join("data/fieldbook.sqlite3").is_file());

    let served = ServeProcess::start(BIN, &["serve", "--config", config]);
    assert!(
        served.url().starts_with("https://127.0.0.1:"),
        "{}",
        served.url()
    );
    let addr: SocketAddr = served.url()["https://".len()..].parse().unwrap();
    let login = pki
        .client(addr)
        .post(format!(
            "https://localhost:{}/api/v1/auth/login",
            addr.port()
        ))
        .json(&json!({"username": "kim", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    drop(served);

    // A flag wins over the file.
    let other = dir.path().join("other");
    let elsewhere = ServeProcess::start(
        BIN,
        &[
            "--config",
            config,
            "serve",
            "--data-dir",
            other.to_str().unwrap(),
        ],
    );
    assert!(
        elsewhere.url().starts_with("https://"),
        "{}",
        elsewhere.url()
    );
    assert!(other.join("fieldbook.sqlite3").is_file());
    drop(elsewhere);

    // A key that is not a key stops the start with a message naming the file.
    std::fs::write(dir.path().join("privkey.pem"), "not a key\n").unwrap();
    let failed = Command::new(BIN)
        .args(["--config", config, "serve"])
        .env_remove("FIELDBOOK_DATA_DIR")
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("privkey.pem"), "{stderr}");
}
