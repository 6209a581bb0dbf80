//! The committed offset of an unfinished upload, in a small file of its own
//! (`uploads/<uuid>.offset`): 20 digits and a newline, always the same
//! size, overwritten in place. Committing a chunk is then one small write
//! and one `fdatasync` of this file, instead of rewriting the JSON record
//! (temp file, fsync, rename, directory fsync: journal commits that wait
//! behind every other writer on a busy disk). The record keeps what never
//! changes during an upload and is written at creation, recovery and
//! completion; on open the larger of the two offsets counts (the offset
//! file only ever moves forward from the record's).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

const WIDTH: usize = 21;

/// Writes `offset` and makes it durable. A new file is also made durable in
/// its directory (`dir`), so the first commit of an upload survives a crash too.
pub fn write(dir: &Path, path: &Path, offset: u64) -> std::io::Result<()> {
    let existed = path.is_file();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{offset:020}\n").as_bytes())?;
    file.sync_data()?;
    if !existed {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The offset written last; `None` when there is no file or it is not one
/// we wrote whole (the record's offset then counts).
pub fn read(path: &Path) -> Option<u64> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(WIDTH as u64 + 1)
        .read_to_string(&mut text)
        .ok()?;
    let digits = text.strip_suffix('\n')?;
    if digits.len() != WIDTH - 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_in_place_and_reads_back_only_whole_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.offset");
        assert_eq!(read(&path), None);
        write(dir.path(), &path, 64 << 20).unwrap();
        assert_eq!(read(&path), Some(64 << 20));
        write(dir.path(), &path, 7).unwrap();
        assert_eq!(read(&path), Some(7));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), WIDTH as u64);
        for torn in [
            "0000000000000000001",
            "00000000000000000012\n9",
            "abc\n",
            "",
        ] {
            std::fs::write(&path, torn).unwrap();
            assert_eq!(read(&path), None, "{torn:?}");
        }
    }
}
