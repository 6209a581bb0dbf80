//! The fallback key file and the marker: small files replaced atomically
//! (temp file, fsync, rename, fsync of the folder), created 0600 before any
//! byte lands, in a folder only the owner can enter.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Result, SecretsError};

/// Item name → value (hex key or token).
pub(crate) type Items = BTreeMap<String, String>;

pub(crate) fn absolute(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir)
        .map_err(|e| SecretsError::io(format!("cannot resolve {}", dir.display()), e))
}

pub(crate) fn read(path: &Path) -> Result<Items> {
    let Some(bytes) = read_if_exists(path)? else {
        return Ok(Items::new());
    };
    let bytes = Zeroizing::new(bytes);
    serde_json::from_slice(&bytes).map_err(|e| SecretsError::MalformedFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

pub(crate) fn write(path: &Path, items: &Items) -> Result<()> {
    let json = Zeroizing::new(serde_json::to_vec_pretty(items).expect("strings serialise"));
    write_atomically(path, &json, 0o600)
}

pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SecretsError::io(
            format!("cannot read {}", path.display()),
            e,
        )),
    }
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SecretsError::io(
            format!("cannot remove {}", path.display()),
            e,
        )),
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().expect("a key file path has a folder");
    create_private_dir(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    let result = (|| {
        let _ = fs::remove_file(&tmp);
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
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        SecretsError::io(format!("cannot write {}", path.display()), e)
    })?;
    sync_parent(path)
}

/// The rename or removal itself must survive a power cut.
fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| SecretsError::io(format!("cannot sync {}", dir.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| SecretsError::io(format!("cannot create {}", dir.display()), e))
}
