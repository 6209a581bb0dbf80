//! A disk that fills up and gets space back, for the no-space tests of the
//! device (crates/store/tests/no_space.rs) and the server
//! (server/tests/no_space.rs, which includes this file).
//!
//! The test runs again as a child process whose temp directory (`TMPDIR`)
//! is a small file system of its own, so the rest of the machine never
//! fills up:
//! 1. a tmpfs mounted in a private mount namespace (`unshare -rm`): needs
//!    no clean-up, the mount goes with the child;
//! 2. else a tmpfs mounted directly (root without user namespaces),
//!    unmounted afterwards;
//! 3. else, where mounts are forbidden, an injected write error: the child's
//!    file-size limit (RLIMIT_FSIZE) drops to zero, so every write that
//!    would grow a file fails (EFBIG rather than ENOSPC, SIGXFSZ ignored).
//!
//! Only if none of these is possible does the test skip, saying why.
#![allow(dead_code)] // each test binary uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MODE_ENV: &str = "FIELDBOOK_NO_SPACE_MODE";
const DIR_ENV: &str = "FIELDBOOK_NO_SPACE_DIR";

/// How this child's disk fills up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A small tmpfs: writes fail with ENOSPC, as on a full disk.
    Tmpfs,
    /// The file-size limit: writes that grow a file fail with EFBIG.
    FileSizeLimit,
}

/// The child's side: its small file system and the switch that fills it.
#[derive(Debug)]
pub struct Disk {
    pub mode: Mode,
    dir: PathBuf,
    filler: Option<PathBuf>,
}

/// `Some` in the child the parent started with [`run_on_small_disk`].
pub fn child_disk() -> Option<Disk> {
    let mode = match std::env::var(MODE_ENV).ok()?.as_str() {
        "tmpfs" => Mode::Tmpfs,
        "fsize" => Mode::FileSizeLimit,
        other => panic!("unknown no-space mode {other}"),
    };
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("the small disk's directory"));
    Some(Disk {
        mode,
        dir,
        filler: None,
    })
}

impl Disk {
    /// The directory on the small file system (also the child's `TMPDIR`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Uses up every byte: from now on, writes that need space fail.
    pub fn fill(&mut self) {
        match self.mode {
            Mode::Tmpfs => {
                let path = self.dir.join("filler");
                let mut file = std::fs::File::create(&path).expect("the filler file");
                for chunk in [1 << 20, 4096, 1] {
                    let bytes = vec![0xAA; chunk];
                    loop {
                        match file.write_all(&bytes) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                            Err(e) => panic!("filling the disk: {e}"),
                        }
                    }
                }
                self.filler = Some(path);
            }
            Mode::FileSizeLimit => set_own_file_size_limit("0"),
        }
    }

    /// Gives the space back.
    pub fn free(&mut self) {
        match self.mode {
            Mode::Tmpfs => {
                if let Some(path) = self.filler.take() {
                    std::fs::remove_file(path).expect("the filler removed");
                }
            }
            Mode::FileSizeLimit => set_own_file_size_limit("unlimited"),
        }
    }

    /// The error codes a write on the full disk may be refused with: a
    /// full disk says `disk_full`; the file-size limit's EFBIG is a plain
    /// IO (or database) failure.
    pub fn full_codes(&self) -> &'static [&'static str] {
        match self.mode {
            Mode::Tmpfs => &["disk_full"],
            Mode::FileSizeLimit => &["disk_full", "io", "database"],
        }
    }
}

fn set_own_file_size_limit(soft: &str) {
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--fsize={soft}:unlimited"))
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit --fsize={soft}");
}

fn quietly(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The parent's side: runs the test `test_name` of this binary again as a
/// child whose temp directory is a fresh file system of `size_mib` MiB, and
/// asserts it passed. `false` (and a printed reason) when this machine
/// allows neither a mount nor the file-size limit.
pub fn run_on_small_disk(test_name: &str, size_mib: u32) -> bool {
    let root = tempfile::tempdir().expect("a directory to mount on");
    let dir = root.path();
    let size = format!("size={size_mib}m");
    let exe = std::env::current_exe().expect("the test binary");
    let test_args = ["--exact", test_name, "--nocapture", "--test-threads=1"];
    let mount_in_namespace = "mount -t tmpfs -o \"$0\" tmpfs \"$1\" && shift && exec \"$@\"";

    let probe_namespace = quietly(
        Command::new("unshare")
            .args(["-rm", "--", "sh", "-c", mount_in_namespace])
            .arg("size=1m")
            .arg(dir)
            .arg("true"),
    );
    let status = if probe_namespace {
        Command::new("unshare")
            .args(["-rm", "--", "sh", "-c", mount_in_namespace])
            .arg(&size)
            .arg(dir)
            .arg(&exe)
            .args(test_args)
            .env(MODE_ENV, "tmpfs")
            .env(DIR_ENV, dir)
            .env("TMPDIR", dir)
            .status()
            .expect("the child")
    } else if quietly(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
            .arg(dir),
    ) {
        let status = Command::new(&exe)
            .args(test_args)
            .env(MODE_ENV, "tmpfs")
            .env(DIR_ENV, dir)
            .env("TMPDIR", dir)
            .status();
        let unmounted = quietly(Command::new("umount").arg(dir));
        assert!(unmounted, "umount {}", dir.display());
        status.expect("the child")
    } else if quietly(Command::new("prlimit").arg("--version")) {
        eprintln!("no mount possible here: injecting write errors with RLIMIT_FSIZE instead");
        // An ignored signal stays ignored across exec: over-limit writes then
        // fail with EFBIG instead of killing the process.
        Command::new("sh")
            .args(["-c", "trap '' XFSZ; exec \"$@\"", "sh"])
            .arg(&exe)
            .args(test_args)
            .env(MODE_ENV, "fsize")
            .env(DIR_ENV, dir)
            .env("TMPDIR", dir)
            .status()
            .expect("the child")
    } else {
        eprintln!(
            "SKIPPED {test_name}: this machine allows no tmpfs mount (neither `unshare -rm` \
             nor `mount` as root) and has no `prlimit` to inject write errors"
        );
        return false;
    };
    assert!(
        status.success(),
        "the child on the small disk failed: {status}"
    );
    true
}
