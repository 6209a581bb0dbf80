//! Upgrade in place: the media files of a data folder from a version before
//! media encryption are plain; the first encrypted open seals each of them
//! under its own name.
//!
//! One file at a time, each step safe to die in:
//! 1. the file is sealed into a temp file in `tmp/` (hashing the plaintext
//!    as it is read) and the copy is fsynced;
//! 2. the copy is decrypted again and must give the same SHA-256: it is
//!    whole and opens with this key;
//! 3. it is renamed over the original (atomic) and the folder fsynced, so
//!    a plain file is only ever replaced by its verified encrypted copy.
//!
//! A start after a crash throws away whatever is in `tmp/` (a copy half
//! written, or never renamed) and carries on: a file already done starts
//! with [`SEALED_MAGIC`](crate::sealed::SEALED_MAGIC) and is skipped.
//!
//! Deleting or renaming over a file does not overwrite its blocks: the old
//! plaintext may stay readable on the raw disk until reused (see
//! docs/security.md).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::sealed::{is_sealed, MediaReader, SealingWriter};
use crate::{durable, MediaError, MediaKey, COPY_BUFFER_LEN};

/// Seals every plain file under `root` (except in `tmp_dir`); returns how
/// many it converted.
pub(crate) fn encrypt_plain_files(
    root: &Path,
    tmp_dir: &Path,
    key: &MediaKey,
) -> Result<u64, MediaError> {
    let mut converted = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| MediaError::io("list", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| MediaError::io("list", &dir, e))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| MediaError::io("read", &path, e))?;
            if kind.is_dir() {
                if path != tmp_dir {
                    dirs.push(path);
                }
            } else if kind.is_file()
                && !is_sealed(&path).map_err(|e| MediaError::io("read", &path, e))?
            {
                encrypt_file(&path, tmp_dir, key)?;
                converted += 1;
            }
        }
    }
    Ok(converted)
}

/// Steps 1–3 for one file.
fn encrypt_file(path: &Path, tmp_dir: &Path, key: &MediaKey) -> Result<(), MediaError> {
    let mut source = File::open(path).map_err(|e| MediaError::io("open", path, e))?;
    let mut temp = durable::temp_file(tmp_dir, "encrypt-")?;
    let temp_path = temp.path().to_path_buf();
    let write_error = |e| MediaError::io("write", &temp_path, e);

    let mut hasher = Sha256::new();
    let mut writer = SealingWriter::new(temp.as_file_mut(), key).map_err(write_error)?;
    let mut buffer = vec![0u8; COPY_BUFFER_LEN];
    durable::for_each_chunk(&mut source, path, &mut buffer, |chunk| {
        hasher.update(chunk);
        writer.write_all(chunk).map_err(write_error)
    })?;
    writer
        .finish()
        .and_then(|file| file.sync_all())
        .map_err(write_error)?;
    let original: [u8; 32] = hasher.finalize().into();

    let copy = plaintext_digest(&temp_path, key, &mut buffer);
    if !matches!(copy, Ok(copy) if copy == original) {
        return Err(MediaError::EncryptionCheckFailed {
            path: path.to_path_buf(),
        });
    }
    durable::put_in_place(temp, path, "replace")
}

fn plaintext_digest(path: &Path, key: &MediaKey, buffer: &mut [u8]) -> io::Result<[u8; 32]> {
    let mut reader = MediaReader::open(path, Some(key))?;
    let mut hasher = Sha256::new();
    loop {
        match reader.read(buffer)? {
            0 => break,
            read => hasher.update(&buffer[..read]),
        }
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [4; 32];

    fn plain_folder() -> (tempfile::TempDir, Vec<(std::path::PathBuf, Vec<u8>)>) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        fs::create_dir_all(dir.path().join("ab")).unwrap();
        fs::create_dir_all(dir.path().join("thumbs/cd")).unwrap();
        let files = vec![
            (dir.path().join("ab/one"), vec![1u8; 200_000]),
            (
                dir.path().join("thumbs/cd/two.jpg"),
                b"\xff\xd8\xff thumb".to_vec(),
            ),
        ];
        for (path, bytes) in &files {
            fs::write(path, bytes).unwrap();
        }
        (dir, files)
    }

    #[test]
    fn every_plain_file_is_sealed_once_and_reads_back_the_same() {
        let (dir, files) = plain_folder();
        let tmp = dir.path().join("tmp");
        let key = MediaKey::new(KEY);
        assert_eq!(encrypt_plain_files(dir.path(), &tmp, &key).unwrap(), 2);
        for (path, bytes) in &files {
            assert!(is_sealed(path).unwrap());
            let back = MediaReader::open(path, Some(&key))
                .unwrap()
                .read_all()
                .unwrap();
            assert_eq!(&back, bytes);
        }
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
        // Resumed or run again: nothing left to do, nothing changed.
        let before = fs::read(&files[0].0).unwrap();
        assert_eq!(encrypt_plain_files(dir.path(), &tmp, &key).unwrap(), 0);
        assert_eq!(fs::read(&files[0].0).unwrap(), before);
    }

    #[test]
    fn files_in_tmp_are_not_converted() {
        let (dir, _) = plain_folder();
        let tmp = dir.path().join("tmp");
        fs::write(tmp.join("import-1.part"), b"half an import").unwrap();
        encrypt_plain_files(dir.path(), &tmp, &MediaKey::new(KEY)).unwrap();
        assert_eq!(
            fs::read(tmp.join("import-1.part")).unwrap(),
            b"half an import"
        );
    }
}
