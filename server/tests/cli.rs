//! The binary itself: `seed-demo` prints working credentials, `serve` serves
//! them, and the admin subcommands do what Central Ops need.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fieldbook-server");

/// Runs a command on the test run's database: on PostgreSQL
/// (`FIELDBOOK_TEST_DATABASE=postgres`), every command naming one data dir
/// gets the same fresh database of the test binary's cluster through
/// `FIELDBOOK_DATABASE_URL`; on SQLite, the data dir's own file.
trait OnTestDatabase {
    fn on_test_database(&mut self) -> &mut Self;
}

impl OnTestDatabase for Command {
    fn on_test_database(&mut self) -> &mut Self {
        if !fieldbook_testkit::testing_on_postgres() {
            return self;
        }
        let args: Vec<String> = self
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let Some(dir) = args
            .windows(2)
            .find(|w| w[0] == "--data-dir")
            .map(|w| w[1].clone())
        else {
            return self;
        };
        static DATABASES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
        let mut databases = DATABASES.lock().unwrap();
        let url = databases.entry(dir).or_insert_with(|| {
            let cluster = fieldbook_testkit::ThrowawayPostgres::shared();
            let name = format!("cli{}", uuid::Uuid::new_v4().simple());
            cluster.create_database(&name).unwrap();
            cluster.url(&name)
        });
        self.env("FIELDBOOK_DATABASE_URL", url.as_str())
    }
}

fn run(args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .on_test_database()
        .output()
        .expect("run fieldbook-server");
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `serve` as a child process, killed (by its own handle) on drop.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(data_dir: &str) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .on_test_database()
            .spawn()
            .expect("spawn serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("listening line")
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Served { child, base }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_then_serve_gives_a_server_a_device_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(&["seed-demo", "--data-dir", d, "--installations", "30"]);
    // "  alex / alex-demo-password / technician / North Crew"
    let (username, password) = out
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.trim().split(" / ").collect();
            (parts.len() == 4 && parts[2] == "technician")
                .then(|| (parts[0].to_owned(), parts[1].to_owned()))
        })
        .next()
        .unwrap_or_else(|| panic!("no technician credentials printed:\n{out}"));

    // Seeding twice is refused rather than mixing data sets.
    let again = Command::new(BIN)
        .args(["seed-demo", "--data-dir", d])
        .env("RUST_BACKTRACE", "0")
        .on_test_database()
        .output()
        .unwrap();
    assert!(!again.status.success());

    // Central Ops on the command line.
    let created = run(&[
        "installation",
        "create",
        "--data-dir",
        d,
        "--created-by",
        "ops",
        "--customer-name",
        "Ada Lovelace",
        "--address",
        "1 Analytical Row",
        "--city",
        "London",
        "--postcode",
        "N1 1AA",
        "--charger-model",
        "Zappi 7kW",
        "--date",
        "2026-12-01",
        "--slot",
        "morning",
    ]);
    let human_id = created.split_whitespace().next().unwrap().to_owned();
    assert!(
        human_id.starts_with("INS-") && human_id.len() == 15,
        "{created}"
    );
    let team_line = out
        .lines()
        .find(|l| l.contains(&format!("{username} / ")))
        .unwrap();
    let team = team_line.rsplit(" / ").next().unwrap().trim().to_owned();
    run(&[
        "installation",
        "assign",
        "--data-dir",
        d,
        "--installation",
        &human_id,
        "--team",
        &team,
        "--assigned-by",
        "ops",
    ]);
    let moved = run(&[
        "installation",
        "transition",
        "--data-dir",
        d,
        "--installation",
        &human_id,
        "--to",
        "confirmed",
    ]);
    assert!(moved.contains("confirmed"), "{moved}");

    let served = Served::start(d);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", served.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("token").to_owned();
    let page: Value = client
        .get(format!("{}/api/v1/sync/pull?limit=1000", served.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let installations = page["installations"].as_array().unwrap();
    assert!(!installations.is_empty());
    assert!(installations
        .iter()
        .any(|i| i["record"]["installation_id"] == human_id.as_str()
            && i["record"]["status"] == "confirmed"));
    assert_eq!(page["has_more"], false);
}

#[test]
fn user_and_team_commands_create_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = Command::new(BIN)
        .args([
            "user",
            "add",
            "--data-dir",
            d,
            "--username",
            "tina",
            "--full-name",
            "Tina Tech",
            "--role",
            "technician",
        ])
        .env("FIELDBOOK_PASSWORD", "a good long password")
        .on_test_database()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let team = run(&[
        "team",
        "add",
        "--data-dir",
        d,
        "--name",
        "West Crew",
        "--member",
        "tina",
    ]);
    assert!(team.starts_with("team West Crew "), "{team}");
    // An unknown member is an error, not a silent skip.
    let bad = Command::new(BIN)
        .args([
            "team",
            "add",
            "--data-dir",
            d,
            "--name",
            "Ghosts",
            "--member",
            "nobody",
        ])
        .env("RUST_BACKTRACE", "0")
        .on_test_database()
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nobody"));

    assert!(team.ends_with("(1 members)\n"), "{team}");
    let membership = |command: &str| {
        Command::new(BIN)
            .args([
                "team",
                command,
                "--data-dir",
                d,
                "--team",
                "West Crew",
                "--member",
                "tina",
            ])
            .env("RUST_BACKTRACE", "0")
            .on_test_database()
            .output()
            .unwrap()
    };
    let removed = membership("remove-member");
    assert!(removed.status.success());
    assert!(
        String::from_utf8_lossy(&removed.stdout).ends_with("(0 members)\n"),
        "{removed:?}"
    );
    // Removing someone who is not a member says so.
    let again = membership("remove-member");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("team member"),
        "{again:?}"
    );
    let added = membership("add-member");
    assert!(String::from_utf8_lossy(&added.stdout).ends_with("(1 members)\n"));
}

/// `device wipe`: Central Ops order a device wiped from the command line;
/// the device's own session is told at its next request, with the secret
/// to confirm with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_wipe_orders_a_lost_device_to_erase_itself() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run(&["seed-demo", "--data-dir", d, "--installations", "5"]);
    let served = Served::start(d);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", served.base))
        .json(&json!({"username": "alex", "password": "alex-demo-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("token").to_owned();
    let device = uuid::Uuid::new_v4().to_string();
    let pull = |client: &reqwest::Client| {
        client
            .get(format!("{}/api/v1/sync/pull?limit=1", served.base))
            .bearer_auth(&token)
            .header("X-Fieldbook-Device", &device)
            .send()
    };
    assert_eq!(pull(&client).await.unwrap().status(), 200);

    let out = run(&[
        "device",
        "wipe",
        "--data-dir",
        d,
        "--device",
        &device,
        "--kind",
        "lost",
    ]);
    assert!(
        out.contains("ordered wiped as lost; not confirmed yet"),
        "{out}"
    );
    let answer = pull(&client).await.unwrap();
    assert_eq!(answer.status(), 410);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "wipe_ordered", "{body}");
    assert!(body["wipe"]["confirmation"].is_string(), "{body}");

    // A device the server never saw, or a kind that does not exist, is refused.
    for args in [
        vec![
            "device",
            "wipe",
            "--data-dir",
            d,
            "--device",
            "00000000-0000-0000-0000-000000000001",
            "--kind",
            "lost",
        ],
        vec![
            "device",
            "wipe",
            "--data-dir",
            d,
            "--device",
            &device,
            "--kind",
            "stolen",
        ],
    ] {
        let output = Command::new(BIN)
            .args(&args)
            .on_test_database()
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
    }
}

#[test]
fn backup_refuses_a_postgresql_database_and_says_what_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "backup",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--database-url",
            "postgres://fieldbook@127.0.0.1:1/fieldbook",
            "--to",
            dir.path().join("copy.sqlite3").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!dir.path().join("copy.sqlite3").exists());
}
