//! A throwaway PostgreSQL cluster for one test binary: `initdb` into a temp
//! dir, `pg_ctl start` on a free 127.0.0.1 port, stopped and deleted on drop.
//! As root (CI), the cluster runs as the unprivileged `nobody` (PostgreSQL
//! refuses to run as root).

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

/// The superuser of the throwaway cluster (trust authentication, 127.0.0.1 only).
pub const POSTGRES_USER: &str = "fieldbook";

/// A running throwaway cluster.
#[derive(Debug)]
pub struct ThrowawayPostgres {
    bin: PathBuf,
    run_as: Option<&'static str>,
    port: u16,
    dir: TempDir,
}

/// Why there is no cluster: PostgreSQL is not installed (tests skip with
/// this message), or it is installed and failed to start (tests fail).
#[derive(Debug)]
pub enum PostgresUnavailable {
    NotInstalled(String),
    Failed(String),
}

impl ThrowawayPostgres {
    /// Starts a fresh cluster. `NotInstalled` when no `initdb` is found
    /// (`apt-get install postgresql` provides it; `make test` does that).
    /// `fsync=off`: tests throw the data away and want speed.
    pub fn start() -> Result<ThrowawayPostgres, PostgresUnavailable> {
        Self::start_with_fsync(false)
    }

    /// Like [`start`](Self::start), but commits are flushed to disk as on a
    /// production server (`fsync=on`): for benchmarks that compare it with
    /// SQLite's `synchronous=FULL` (server/benches/fleet.rs).
    pub fn start_durable() -> Result<ThrowawayPostgres, PostgresUnavailable> {
        Self::start_with_fsync(true)
    }

    fn start_with_fsync(fsync: bool) -> Result<ThrowawayPostgres, PostgresUnavailable> {
        let bin = server_bin_dir().ok_or_else(|| {
            PostgresUnavailable::NotInstalled(
                "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH); \
                 install it with `apt-get install postgresql` (make test does)"
                    .into(),
            )
        })?;
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let run_as = root.then_some("nobody");
        let dir = tempfile::Builder::new()
            .prefix("fieldbook-pg-")
            .tempdir()
            .map_err(|e| PostgresUnavailable::Failed(format!("temp dir: {e}")))?;
        if root {
            // nobody must own the cluster's directory.
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534))
                .map_err(|e| PostgresUnavailable::Failed(format!("chown the temp dir: {e}")))?;
        }
        let data = dir.path().join("data");
        let mut cluster = ThrowawayPostgres {
            bin,
            run_as,
            port: 0,
            dir,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                POSTGRES_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        // A free port can be taken between the probe and the start: retry.
        let mut last_error = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} \
                 -c fsync={} -c max_connections=200",
                cluster.port,
                cluster.dir.path().display(),
                if fsync { "on" } else { "off" }
            );
            match cluster.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-l",
                    &cluster.dir.path().join("log").to_string_lossy(),
                    "-o",
                    &options,
                    "-w",
                    "start",
                ],
            ) {
                Ok(()) => return Ok(cluster),
                Err(e) => last_error = format!("{e:?}"),
            }
        }
        Err(PostgresUnavailable::Failed(format!(
            "pg_ctl start failed 5 times; last: {last_error}; log: {}",
            std::fs::read_to_string(cluster.dir.path().join("log")).unwrap_or_default()
        )))
    }

    /// One cluster for the whole test binary, started on first use. Statics
    /// are never dropped, so a watchdog process stops and deletes it when
    /// the test process exits, however it exits. Panics with the reason
    /// when PostgreSQL is missing or does not start: a run that asked for
    /// PostgreSQL must not pass without it.
    pub fn shared() -> &'static ThrowawayPostgres {
        static SHARED: OnceLock<ThrowawayPostgres> = OnceLock::new();
        SHARED.get_or_init(|| {
            let cluster = ThrowawayPostgres::start()
                .unwrap_or_else(|e| panic!("no PostgreSQL for the tests: {e:?}"));
            cluster.stop_when_process_exits();
            cluster
        })
    }

    fn stop_when_process_exits(&self) {
        let data = self.dir.path().join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let run_as = self
            .run_as
            .map(|user| format!("runuser -u {user} -- "))
            .unwrap_or_default();
        let script = format!(
            "tail --pid={pid} -f /dev/null; {run_as}'{pg_ctl}' -D '{data}' -m immediate -w stop; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = data.display(),
            dir = self.dir.path().display(),
        );
        // Detached from the test's output: a pipe held open would keep a
        // `make … | tee` waiting after the tests ended.
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// A `postgres://` URL of `database`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{POSTGRES_USER}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// A libpq-style connection string for `database`.
    pub fn connection_string(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={POSTGRES_USER} dbname={database}",
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id (first line of `postmaster.pid`): its
    /// backends are its children, which is how a benchmark counts the
    /// database's CPU time.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        std::fs::read_to_string(pid_file)
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Creates a database (a test binary can give each test its own).
    pub fn create_database(&self, name: &str) -> Result<(), PostgresUnavailable> {
        self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                POSTGRES_USER,
                name,
            ],
        )
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), PostgresUnavailable> {
        let program = self.bin.join(tool);
        let mut command = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        // runuser keeps the environment; nobody cannot read root's home.
        command.args(args).current_dir(self.dir.path());
        let output = command
            .output()
            .map_err(|e| PostgresUnavailable::Failed(format!("run {}: {e}", program.display())))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(PostgresUnavailable::Failed(format!(
                "{tool} {args:?} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.dir.path().join("data");
            // Immediate: the data is thrown away anyway.
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}

/// The newest `/usr/lib/postgresql/N/bin` (Debian keeps the server tools
/// off PATH), else the directory of an `initdb` on PATH.
fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
            .map(|dir| canonical_dir(&dir))
    })
}

fn canonical_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir.join("initdb"))
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf())
}

fn free_port() -> Result<u16, PostgresUnavailable> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| PostgresUnavailable::Failed(format!("find a free port: {e}")))
}
