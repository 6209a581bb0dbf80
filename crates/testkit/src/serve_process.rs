//! The real `fieldbook-server` binary run the way an operator runs it
//! (`--config FILE serve`, as the systemd unit does), for the tests that
//! must kill a process or read its settings from a file: [`TestServer`]
//! runs the server in the test's own process.
//!
//! [`TestServer`]: crate::TestServer

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The settings of the test's own environment that would override the
/// config file's.
const SETTINGS_FROM_ENV: [&str; 4] = [
    "FIELDBOOK_DATA_DIR",
    "FIELDBOOK_DATABASE_URL",
    "FIELDBOOK_BLOB_STORE",
    "FIELDBOOK_CONFIG",
];

/// A `fieldbook-server` process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ServeProcess {
    child: Child,
    url: String,
}

impl ServeProcess {
    /// Starts `binary` (the test's `env!("CARGO_BIN_EXE_fieldbook-server")`)
    /// with `args`, and waits for the line that says where it listens.
    pub fn start(binary: &str, args: &[&str]) -> ServeProcess {
        let mut command = Command::new(binary);
        command
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for name in SETTINGS_FROM_ENV {
            command.env_remove(name);
        }
        let mut child = command.spawn().expect("start fieldbook-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the server's first line");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            url.starts_with("http"),
            "fieldbook-server {args:?} did not start: {line:?}"
        );
        ServeProcess { child, url }
    }

    /// Where it listens (`http://127.0.0.1:PORT` or `https://…`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// SIGKILL: no shutdown, no request finished, nothing flushed.
    pub fn kill(mut self) {
        self.child.kill().expect("kill fieldbook-server");
        self.child.wait().expect("wait for fieldbook-server");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `fieldbook-server --config CONFIG user add` with `password`, as an
/// operator creates an account.
pub fn add_user_with_cli(binary: &str, config: &Path, username: &str, role: &str, password: &str) {
    let mut command = Command::new(binary);
    command
        .args([
            "--config",
            config.to_str().expect("UTF-8 path"),
            "user",
            "add",
        ])
        .args([
            "--username",
            username,
            "--full-name",
            username,
            "--role",
            role,
        ])
        .env("FIELDBOOK_PASSWORD", password);
    for name in SETTINGS_FROM_ENV {
        command.env_remove(name);
    }
    let created = command.output().expect("run fieldbook-server user add");
    assert!(created.status.success(), "user add {username}: {created:?}");
}
