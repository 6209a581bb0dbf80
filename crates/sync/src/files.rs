//! Small files in the data dir (token, settings), replaced atomically so a
//! crash leaves either the old or the new content, never half of one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::SyncError;

/// Writes `bytes` to `path` via a temp file in the same directory: written,
/// fsynced, renamed over `path`, directory fsynced. On Unix the file is
/// created with `mode` (e.g. 0o600 for the token) before any byte lands.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SyncError> {
    let dir = path.parent().ok_or_else(|| {
        SyncError::io(
            format!("{} has no folder", path.display()),
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    fs::create_dir_all(dir)
        .map_err(|e| SyncError::io(format!("cannot create {}", dir.display()), e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // The rename itself must survive a power cut.
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        SyncError::io(format!("cannot write {}", path.display()), e)
    })
}

/// The file's content, or `None` when it does not exist.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, SyncError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SyncError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Removes the file; a file that is already gone is fine.
pub(crate) fn remove_if_exists(path: &Path) -> Result<(), SyncError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SyncError::io(
            format!("cannot remove {}", path.display()),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        write_atomically(&path, b"one", 0o600).unwrap();
        write_atomically(&path, b"two", 0o600).unwrap();
        assert_eq!(read_if_exists(&path).unwrap().unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("settings.json")]);
        remove_if_exists(&path).unwrap();
        remove_if_exists(&path).unwrap();
        assert_eq!(read_if_exists(&path).unwrap(), None);
    }
}
