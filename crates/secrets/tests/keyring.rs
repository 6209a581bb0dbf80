//! Where the keys go, tested against a real Secret Service (gnome-keyring on
//! a private session bus, as `scripts/ensure-deps.sh test` installs it) and
//! against a machine where no keyring answers (a session bus address that
//! leads nowhere). Each case runs in a child process of this test binary so
//! it gets its own D-Bus environment.

use std::path::Path;
use std::process::Command;

use fieldbook_secrets::{KeyBackend, KeyringUse, Secrets, MARKER_FILE};

const ROLE_ENV: &str = "FIELDBOOK_SECRETS_TEST_ROLE";
const DIR_ENV: &str = "FIELDBOOK_SECRETS_TEST_DIR";
/// A session bus that does not exist: no keyring can answer there.
const NO_BUS: &str = "unix:path=/nonexistent/fieldbook-test-bus";

fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

fn test_dir() -> std::path::PathBuf {
    std::env::var_os(DIR_ENV)
        .expect("the parent passes the folder")
        .into()
}

/// Runs `test` of this binary again with `role`, under a fresh session bus
/// with an unlocked gnome-keyring when `with_keyring`, else with no bus.
fn run_child(test: &str, role: &str, dir: &Path, with_keyring: bool) {
    let exe = std::env::current_exe().unwrap();
    let mut command = if with_keyring {
        // A keyring of its own: gnome-keyring keeps its files under
        // XDG_DATA_HOME and its sockets under XDG_RUNTIME_DIR.
        let home = dir.join("keyring-home");
        std::fs::create_dir_all(home.join("data")).unwrap();
        std::fs::create_dir_all(home.join("run")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(home.join("run"), private).unwrap();
        }
        let mut c = Command::new("dbus-run-session");
        c.env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_RUNTIME_DIR", home.join("run"));
        c.args([
            "--",
            "sh",
            "-c",
            "echo -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec \"$0\" \"$@\"",
        ]);
        c.arg(&exe);
        c
    } else {
        let mut c = Command::new(&exe);
        c.env("DBUS_SESSION_BUS_ADDRESS", NO_BUS);
        c
    };
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env(DIR_ENV, dir);
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {test} in a child ({e}); run `scripts/ensure-deps.sh test` to install dbus and gnome-keyring")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child {role} failed:\n{stdout}\n{stderr}"
    );
    // A filtered-out test also "succeeds": make sure the body really ran.
    assert!(
        stdout.contains("1 passed"),
        "child {role} ran no test:\n{stdout}\n{stderr}"
    );
}

fn secret_tool_search() -> String {
    let output = Command::new("secret-tool")
        .args(["search", "--all", "--unlock", "service", "Fieldbook"])
        .output()
        .expect("secret-tool (libsecret-tools) is installed");
    // secret-tool prints the attributes on stderr and the secrets on stdout.
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn keys_and_token_go_to_a_real_secret_service_when_one_answers() {
    const TEST: &str = "keys_and_token_go_to_a_real_secret_service_when_one_answers";
    match role().as_deref() {
        None => {
            let dir = tempfile::tempdir().unwrap();
            run_child(TEST, "keyring", dir.path(), true);
            // The marker says "keyring": with no keyring answering now, the
            // folder gets a clear error, never a new key.
            run_child(TEST, "keyring-gone", dir.path(), false);
        }
        Some("keyring") => {
            let dir = test_dir();
            let data = dir.join("data");
            let key_dir = dir.join("keys");
            let secrets = Secrets::open(&data, &key_dir).unwrap();
            assert_eq!(secrets.backend(), KeyBackend::OsKeyring);
            let db_key = secrets.database_key().unwrap();
            let media_key = secrets.media_key().unwrap();
            assert_ne!(db_key.as_bytes(), media_key.as_bytes());
            secrets.save_token("token-in-the-keyring").unwrap();
            assert!(!key_dir.exists(), "nothing goes to a key file");

            // Another reader of the same Secret Service sees the entries.
            let listed = secret_tool_search();
            assert!(listed.contains(&*db_key.to_hex()), "{listed}");
            assert!(listed.contains("token-in-the-keyring"), "{listed}");
            let marker = std::fs::read_to_string(data.join(MARKER_FILE)).unwrap();
            assert!(
                !marker.contains(&*db_key.to_hex()),
                "the marker holds no key"
            );

            // Opened again: the same keys, not new ones.
            drop(secrets);
            let again = Secrets::open(&data, &key_dir).unwrap();
            assert_eq!(again.database_key().unwrap().as_bytes(), db_key.as_bytes());
            assert_eq!(
                again.token().unwrap().as_deref(),
                Some("token-in-the-keyring")
            );
            again.clear_token().unwrap();
            assert_eq!(again.token().unwrap(), None);

            // A second data folder gets keys of its own.
            let other = Secrets::open(&dir.join("other"), &key_dir).unwrap();
            assert_ne!(other.database_key().unwrap().as_bytes(), db_key.as_bytes());
            other.forget_everything().unwrap();
            let listed = secret_tool_search();
            assert!(listed.contains(&*db_key.to_hex()), "{listed}");

            again.save_token("token-to-forget").unwrap();
            again.forget_everything().unwrap();
            assert!(!data.join(MARKER_FILE).exists());
            let listed = secret_tool_search();
            assert!(!listed.contains(&*db_key.to_hex()), "{listed}");
            assert!(!listed.contains("token-to-forget"), "{listed}");
            // Forgetting twice (a wipe resumed after a crash) is fine.
            again.forget_everything().unwrap();

            // Recreate for the "keyring gone" step that follows.
            let fresh = Secrets::open(&data, &key_dir).unwrap();
            assert_eq!(fresh.backend(), KeyBackend::OsKeyring);
            assert_ne!(fresh.database_key().unwrap().as_bytes(), db_key.as_bytes());
        }
        Some("keyring-gone") => {
            let dir = test_dir();
            let err = Secrets::open(&dir.join("data"), &dir.join("keys")).unwrap_err();
            assert_eq!(err.code(), "keyring_unavailable", "{err}");
            assert!(err.to_string().contains("unlock the keyring"), "{err}");
            assert!(!dir.join("keys").exists(), "no key file was made instead");
        }
        Some(_) => {}
    }
}

#[test]
fn keys_go_to_a_private_file_outside_the_data_folder_when_no_keyring_answers() {
    const TEST: &str = "keys_go_to_a_private_file_outside_the_data_folder_when_no_keyring_answers";
    match role().as_deref() {
        None => {
            let dir = tempfile::tempdir().unwrap();
            run_child(TEST, "no-keyring", dir.path(), false);
        }
        Some("no-keyring") => {
            let dir = test_dir();
            let data = dir.join("data");
            let key_dir = dir.join("keys");
            let secrets = Secrets::open(&data, &key_dir).unwrap();
            let KeyBackend::File { path } = secrets.backend() else {
                panic!("expected the file backend, got {:?}", secrets.backend());
            };
            assert!(path.starts_with(&key_dir), "{}", path.display());
            assert!(secrets
                .backend()
                .description()
                .contains("because no keyring is available"));
            let key = secrets.database_key().unwrap();
            let content = std::fs::read_to_string(&path).unwrap();
            assert!(content.contains(&*key.to_hex()));
            assert_only_owner_can_read(&path, &key_dir);
            // Nothing under the data folder holds the key.
            for entry in std::fs::read_dir(&data).unwrap() {
                let text = std::fs::read(entry.unwrap().path()).unwrap();
                assert!(!String::from_utf8_lossy(&text).contains(&*key.to_hex()));
            }
        }
        Some(_) => {}
    }
}

#[cfg(unix)]
fn assert_only_owner_can_read(file: &Path, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(file), 0o600);
    assert_eq!(mode(dir), 0o700);
}

#[cfg(not(unix))]
fn assert_only_owner_can_read(_file: &Path, _dir: &Path) {}

#[test]
fn the_key_file_backend_keeps_forgets_and_reports_missing_keys() {
    if role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key_dir = dir.path().join("keys");
    let secrets = Secrets::open_with(&data, &key_dir, KeyringUse::Never).unwrap();
    let key = secrets.database_key().unwrap();
    assert_eq!(secrets.token().unwrap(), None);
    secrets.save_token("a-token").unwrap();
    drop(secrets);

    // The marker decides: even with the keyring allowed, the file is used.
    let again = Secrets::open(&data, &key_dir).unwrap();
    assert!(matches!(again.backend(), KeyBackend::File { .. }));
    assert_eq!(again.database_key().unwrap().as_bytes(), key.as_bytes());
    assert_eq!(again.token().unwrap().as_deref(), Some("a-token"));

    // A key file that vanished is reported, not silently replaced.
    let KeyBackend::File { path } = again.backend() else {
        unreachable!()
    };
    let saved = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = again.database_key().unwrap_err();
    assert_eq!(err.code(), "key_missing", "{err}");
    std::fs::write(&path, b"{ not json").unwrap();
    assert_eq!(again.database_key().unwrap_err().code(), "key_file_corrupt");
    std::fs::write(&path, &saved).unwrap();

    again.forget_everything().unwrap();
    assert!(!path.exists());
    assert!(!data.join(MARKER_FILE).exists());
    // A new start after forgetting: new keys.
    let fresh = Secrets::open_with(&data, &key_dir, KeyringUse::Never).unwrap();
    assert_ne!(fresh.database_key().unwrap().as_bytes(), key.as_bytes());
    assert_eq!(fresh.token().unwrap(), None);

    // Renewed (remote wipe): the old keys and token are gone, new ones work
    // at once and after a restart.
    fresh.save_token("token-before-the-wipe").unwrap();
    let old_key = fresh.database_key().unwrap();
    let KeyBackend::File { path: old_file } = fresh.backend() else {
        unreachable!()
    };
    fresh.renew().unwrap();
    assert!(!old_file.exists(), "the old key file is deleted");
    assert_eq!(fresh.token().unwrap(), None);
    let new_key = fresh.database_key().unwrap();
    assert_ne!(new_key.as_bytes(), old_key.as_bytes());
    drop(fresh);
    let reopened = Secrets::open_with(&data, &key_dir, KeyringUse::Never).unwrap();
    assert_eq!(
        reopened.database_key().unwrap().as_bytes(),
        new_key.as_bytes()
    );
}

#[test]
fn a_key_file_inside_the_data_folder_is_refused() {
    if role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let err =
        Secrets::open_with(dir.path(), &dir.path().join("keys"), KeyringUse::Never).unwrap_err();
    assert_eq!(err.code(), "key_file_inside_data_folder");
    assert!(!dir.path().join(MARKER_FILE).exists());
}
