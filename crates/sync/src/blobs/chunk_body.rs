//! Chunk bodies: a blocking thread reads and checksums the next chunk (for
//! its `Upload-Checksum`) while the current one is sent, and each PATCH body is
//! streamed from the file in small pieces, so memory stays flat whatever
//! the chunk size.
//!
//! Both read the blob through the media store, decrypted on the fly: tus
//! offsets, chunks and checksums are over the plaintext (the server stores
//! and checks the photo itself). A damaged encrypted file fails its read
//! with [`fieldbook_media::is_damaged`] before the chunk is sent, since the
//! checksumming reader reads every chunk first.

use std::io::{Read, Seek, SeekFrom};

use base64::Engine as _;
use fieldbook_domain::Sha256Hex;
use fieldbook_media::MediaStore;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Size of the pieces a chunk body is streamed in.
const BODY_PIECE: usize = 1 << 20;
/// Pieces read ahead of the socket.
const BODY_PIECES_AHEAD: usize = 4;

/// How each chunk is checked on its way (`Upload-Checksum`). CRC-32 where
/// the server offers it: a chunk check is there for bytes damaged or cut in
/// transit, and the server verifies the blob's SHA-256 over the whole file
/// anyway, so a second SHA-256 pass on both sides bought nothing but CPU
/// (it held uploads to about 65% of `curl`'s speed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChunkCheck {
    Sha256,
    Crc32,
}

impl ChunkCheck {
    /// The check to use with a server that lists `algorithms`
    /// (`Tus-Checksum-Algorithm`; `None` when it did not say).
    pub(super) fn offered_by(algorithms: Option<&str>) -> ChunkCheck {
        let offers_crc32 =
            algorithms.is_some_and(|list| list.split(',').any(|name| name.trim() == "crc32"));
        if offers_crc32 {
            ChunkCheck::Crc32
        } else {
            ChunkCheck::Sha256
        }
    }
}

/// A chunk's checksum, as its `Upload-Checksum` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChunkDigest {
    Sha256([u8; 32]),
    Crc32(u32),
}

impl ChunkDigest {
    pub(super) fn header_value(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        match self {
            ChunkDigest::Sha256(digest) => format!("sha256 {}", b64.encode(digest)),
            ChunkDigest::Crc32(crc) => format!("crc32 {}", b64.encode(crc.to_be_bytes())),
        }
    }
}

enum ChunkHasher {
    Sha256(Sha256),
    Crc32(crc32fast::Hasher),
}

impl ChunkHasher {
    fn new(check: ChunkCheck) -> ChunkHasher {
        match check {
            ChunkCheck::Sha256 => ChunkHasher::Sha256(Sha256::new()),
            ChunkCheck::Crc32 => ChunkHasher::Crc32(crc32fast::Hasher::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            ChunkHasher::Sha256(h) => h.update(bytes),
            ChunkHasher::Crc32(h) => h.update(bytes),
        }
    }

    fn finish(self) -> ChunkDigest {
        match self {
            ChunkHasher::Sha256(h) => ChunkDigest::Sha256(h.finalize().into()),
            ChunkHasher::Crc32(h) => ChunkDigest::Crc32(h.finalize()),
        }
    }
}

/// One PATCH: where, how long, and the checksum of those bytes.
pub(super) struct Chunk {
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(super) digest: ChunkDigest,
}

/// A chunk's bytes streamed from the file as a request body: a blocking
/// thread reads `BODY_PIECE`s, at most `BODY_PIECES_AHEAD` ahead of the
/// socket. A file that ends early ends the body with an error (the request
/// fails; the next hash pass reports the file).
pub(super) struct FileRegion {
    pieces: mpsc::Receiver<std::io::Result<Vec<u8>>>,
}

impl FileRegion {
    pub(super) fn spawn(media: MediaStore, sha256: Sha256Hex, offset: u64, len: u64) -> FileRegion {
        let (tx, rx) = mpsc::channel(BODY_PIECES_AHEAD);
        tokio::task::spawn_blocking(move || {
            let read = || -> std::io::Result<()> {
                let mut file = media.open_blob(&sha256)?;
                file.seek(SeekFrom::Start(offset))?;
                let mut left = len;
                while left > 0 {
                    let want = left.min(BODY_PIECE as u64);
                    let mut piece = Vec::with_capacity(want as usize);
                    (&mut file).take(want).read_to_end(&mut piece)?;
                    if piece.is_empty() {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    left -= piece.len() as u64;
                    if tx.blocking_send(Ok(piece)).is_err() {
                        return Ok(()); // the request was dropped
                    }
                }
                Ok(())
            };
            if let Err(err) = read() {
                let _ = tx.blocking_send(Err(err));
            }
        });
        FileRegion { pieces: rx }
    }
}

impl futures_core::Stream for FileRegion {
    type Item = std::io::Result<Vec<u8>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.pieces.poll_recv(cx)
    }
}

/// Hashes the blob `sha256` from `start` to `length` chunk by chunk on a
/// blocking thread. A chunk is hashed only once the channel has room, i.e.
/// once the previous one was taken for sending: the hashing stays one chunk
/// ahead. Dropping the receiver stops the reader.
pub(super) fn spawn_chunk_reader(
    media: MediaStore,
    sha256: Sha256Hex,
    start: u64,
    length: u64,
    chunk_size: usize,
    check: ChunkCheck,
) -> mpsc::Receiver<std::io::Result<Chunk>> {
    let (tx, rx) = mpsc::channel(1);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let result = media.open_blob(&sha256).and_then(|file| {
            read_chunks(file, start, length, chunk_size, check, &mut || {
                runtime.block_on(tx.reserve()).ok()
            })
        });
        if let Err(err) = result {
            // Nobody may be listening any more; that is fine.
            let _ = tx.blocking_send(Err(err));
        }
    });
    rx
}

/// Room for one chunk in the reader's channel.
type ChunkSlot<'a> = mpsc::Permit<'a, std::io::Result<Chunk>>;

/// The reading half of [`spawn_chunk_reader`]. `slot` waits for room for
/// the next chunk and returns `None` when the consumer is gone.
fn read_chunks<'a>(
    mut file: impl Read + Seek,
    start: u64,
    length: u64,
    chunk_size: usize,
    check: ChunkCheck,
    slot: &mut dyn FnMut() -> Option<ChunkSlot<'a>>,
) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(start))?;
    let mut offset = start;
    let mut buffer = vec![0u8; BODY_PIECE];
    while offset < length {
        let Some(slot) = slot() else {
            return Ok(());
        };
        let len = (length - offset).min(chunk_size as u64);
        let mut hasher = ChunkHasher::new(check);
        let mut left = len;
        while left > 0 {
            let want = left.min(buffer.len() as u64) as usize;
            let n = file.read(&mut buffer[..want])?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the file ends at {} bytes", offset + len - left),
                ));
            }
            hasher.update(&buffer[..n]);
            left -= n as u64;
        }
        slot.send(Ok(Chunk {
            offset,
            len,
            digest: hasher.finish(),
        }));
        offset += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::path::Path;

    fn collect(path: &Path, start: u64, length: u64, chunk: usize) -> std::io::Result<Vec<Chunk>> {
        collect_with(path, start, length, chunk, ChunkCheck::Sha256)
    }

    fn collect_with(
        path: &Path,
        start: u64,
        length: u64,
        chunk: usize,
        check: ChunkCheck,
    ) -> std::io::Result<Vec<Chunk>> {
        collect_from(File::open(path)?, start, length, chunk, check)
    }

    fn collect_from(
        file: impl Read + Seek,
        start: u64,
        length: u64,
        chunk: usize,
        check: ChunkCheck,
    ) -> std::io::Result<Vec<Chunk>> {
        let (tx, mut rx) = mpsc::channel(1024);
        read_chunks(file, start, length, chunk, check, &mut || {
            tx.try_reserve().ok()
        })?;
        let mut out = Vec::new();
        while let Ok(read) = rx.try_recv() {
            out.push(read?);
        }
        Ok(out)
    }

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        file
    }

    #[test]
    fn chunks_cover_the_file_with_their_own_checksums() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let file = file_with(&bytes);
        let chunks = collect(file.path(), 0, bytes.len() as u64, 4096).unwrap();
        assert_eq!(
            chunks.iter().map(|c| (c.offset, c.len)).collect::<Vec<_>>(),
            vec![(0, 4096), (4096, 4096), (8192, 1808)]
        );
        for c in &chunks {
            let range = c.offset as usize..(c.offset + c.len) as usize;
            assert_eq!(
                c.digest,
                ChunkDigest::Sha256(Sha256Hex::digest(&bytes[range]).to_bytes())
            );
        }
        let crc =
            collect_with(file.path(), 0, bytes.len() as u64, 4096, ChunkCheck::Crc32).unwrap();
        for c in &crc {
            let range = c.offset as usize..(c.offset + c.len) as usize;
            assert_eq!(c.digest, ChunkDigest::Crc32(crc32fast::hash(&bytes[range])));
        }
    }

    #[test]
    fn crc32_is_used_only_when_the_server_offers_it() {
        assert_eq!(
            ChunkCheck::offered_by(Some("sha256,crc32")),
            ChunkCheck::Crc32
        );
        assert_eq!(ChunkCheck::offered_by(Some("crc32")), ChunkCheck::Crc32);
        assert_eq!(ChunkCheck::offered_by(Some("sha256")), ChunkCheck::Sha256);
        assert_eq!(
            ChunkCheck::offered_by(Some("crc32c,sha1")),
            ChunkCheck::Sha256
        );
        assert_eq!(ChunkCheck::offered_by(None), ChunkCheck::Sha256);
        assert_eq!(
            ChunkDigest::Crc32(0x0102_0304).header_value(),
            "crc32 AQIDBA=="
        );
    }

    #[test]
    fn a_resumed_read_starts_at_the_offset() {
        let bytes = vec![7u8; 5000];
        let file = file_with(&bytes);
        let chunks = collect(file.path(), 3000, 5000, 4096).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].offset, chunks[0].len), (3000, 2000));
        assert_eq!(
            chunks[0].digest,
            ChunkDigest::Sha256(Sha256Hex::digest(&[7u8; 2000]).to_bytes())
        );
    }

    #[test]
    fn a_file_shorter_than_recorded_is_an_unexpected_eof() {
        let file = file_with(&[1u8; 100]);
        let err = collect(file.path(), 0, 150, 64).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_reader_reads_ahead_only_when_there_is_room() {
        let file = file_with(&[0u8; 1000]);
        // Room for two chunks and nobody taking them: the reader stops
        // after two instead of reading the whole file into memory.
        let (tx, mut rx) = mpsc::channel(2);
        read_chunks(
            File::open(file.path()).unwrap(),
            0,
            1000,
            100,
            ChunkCheck::Sha256,
            &mut || tx.try_reserve().ok(),
        )
        .unwrap();
        let mut offsets = Vec::new();
        while let Ok(read) = rx.try_recv() {
            offsets.push(read.unwrap().offset);
        }
        assert_eq!(offsets, vec![0, 100]);

        // The consumer is gone: nothing is read.
        let (tx, rx) = mpsc::channel::<std::io::Result<Chunk>>(2);
        drop(rx);
        read_chunks(
            File::open(file.path()).unwrap(),
            0,
            1000,
            100,
            ChunkCheck::Sha256,
            &mut || tx.try_reserve().ok(),
        )
        .unwrap();
    }

    fn encrypted_media() -> (tempfile::TempDir, MediaStore) {
        let dir = tempfile::tempdir().unwrap();
        let media = MediaStore::open_encrypted(
            dir.path().join("media"),
            fieldbook_media::MediaKey::new([3; 32]),
        )
        .unwrap();
        (dir, media)
    }

    /// An MP4-looking blob large enough for several encrypted segments.
    fn video_bytes() -> Vec<u8> {
        let mut bytes = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2".to_vec();
        bytes.extend((0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        bytes
    }

    #[test]
    fn chunks_of_an_encrypted_blob_are_over_its_plaintext() {
        let (_dir, media) = encrypted_media();
        let bytes = video_bytes();
        let sha = media.import_bytes(&bytes).unwrap().blob.sha256;
        let chunks = collect_from(
            media.open_blob(&sha).unwrap(),
            1000,
            bytes.len() as u64,
            100_000,
            ChunkCheck::Sha256,
        )
        .unwrap();
        assert_eq!(chunks[0].offset, 1000);
        for c in &chunks {
            let range = c.offset as usize..(c.offset + c.len) as usize;
            assert_eq!(
                c.digest,
                ChunkDigest::Sha256(Sha256Hex::digest(&bytes[range]).to_bytes())
            );
        }
        assert_eq!(
            chunks.iter().map(|c| c.len).sum::<u64>(),
            bytes.len() as u64 - 1000
        );
    }

    #[test]
    fn a_damaged_encrypted_blob_fails_as_damaged_before_its_chunk_is_hashed_whole() {
        let (_dir, media) = encrypted_media();
        let bytes = video_bytes();
        let sha = media.import_bytes(&bytes).unwrap().blob.sha256;
        let path = media.blob_path(&sha);
        let mut on_disk = std::fs::read(&path).unwrap();
        on_disk[200_000] ^= 1;
        std::fs::write(&path, &on_disk).unwrap();
        let err = collect_from(
            media.open_blob(&sha).unwrap(),
            0,
            bytes.len() as u64,
            100_000,
            ChunkCheck::Crc32,
        )
        .err()
        .unwrap();
        assert!(fieldbook_media::is_damaged(&err), "{err}");
    }
}
