//! Files that a crash leaves either absent or whole: bytes go to a temp file
//! in `tmp/` (the same file system as their destination), are fsynced, then
//! renamed onto their name and the folder fsynced. Until the rename the temp
//! file is owned by a [`NamedTempFile`], so an error or panic on the way
//! deletes it.
//!
//! Imports, thumbnails and the upgrade that seals plain files all write this
//! way; this module is the one place the steps live.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use tempfile::NamedTempFile;

use crate::MediaError;

/// A new private (0600) temp file in `tmp_dir`, named `PREFIX…part`.
pub(crate) fn temp_file(tmp_dir: &Path, prefix: &str) -> Result<NamedTempFile, MediaError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".part")
        .tempfile_in(tmp_dir)
        .map_err(|e| MediaError::io("create a temp file in", tmp_dir, e))
}

/// Renames a written and fsynced temp file onto `dest` (atomically replacing
/// whatever was there) and fsyncs `dest`'s folder so the rename survives a
/// crash. `verb` names the step in the error ("store", "replace").
pub(crate) fn put_in_place(
    temp: NamedTempFile,
    dest: &Path,
    verb: &'static str,
) -> Result<(), MediaError> {
    temp.persist(dest)
        .map_err(|e| MediaError::io(verb, dest, e.error))?;
    match dest.parent() {
        Some(folder) => sync_dir(folder),
        None => Ok(()),
    }
}

/// Reads `source` to its end through `buffer`, handing each chunk read to
/// `each`; an interrupted read is retried.
pub(crate) fn for_each_chunk(
    source: &mut dyn Read,
    source_path: &Path,
    buffer: &mut [u8],
    mut each: impl FnMut(&[u8]) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    loop {
        match source.read(buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => each(&buffer[..read])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(MediaError::io("read", source_path, e)),
        }
    }
}

/// Creates `dir` if missing and fsyncs `parent`, so the new directory entry
/// survives a crash together with the file about to be renamed into it.
pub(crate) fn create_dir_durably(dir: &Path, parent: &Path) -> Result<(), MediaError> {
    if dir.is_dir() {
        return Ok(());
    }
    create_private_dir(dir)?;
    sync_dir(parent)
}

/// Media folders are for the OS user running Fieldbook only (0700); the
/// files in them are temp files (created 0600) renamed into place.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), MediaError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| MediaError::io("create directory", dir, e))
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), MediaError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| MediaError::io("flush to disk", dir, e))
}

/// Windows cannot open a directory as a file; NTFS journals renames itself.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), MediaError> {
    Ok(())
}
