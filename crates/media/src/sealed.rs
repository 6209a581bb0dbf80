//! Media files encrypted at rest: photos, videos, signature images and
//! thumbnails are stored sealed with ChaCha20-Poly1305 in the STREAM
//! construction (the one `age` uses for its payload), so a file is
//! encrypted and decrypted piece by piece with flat memory, and any byte
//! range is read by decrypting only the segments it touches.
//!
//! Layout of a sealed file:
//!
//! ```text
//! magic   8 bytes   "FBMEDIA" + format version 1
//! salt   32 bytes   random per file
//! segment 0..n      64 KiB of ciphertext + 16-byte Poly1305 tag each;
//!                   the last one holds 1..=64 KiB (0 only for an empty file)
//! ```
//!
//! Each file has its own key, HKDF-SHA256(media key, salt), so the segment
//! nonces can simply count: nonce = 11-byte big-endian segment index +
//! one byte that is 1 on the last segment only. Reordered, dropped,
//! truncated or appended segments therefore all fail authentication: a cut
//! file is refused (its new last segment was not sealed as the last), and
//! so is one segment swapped for another. The plaintext length follows
//! from the file's size; [`MediaReader::open`] proves it by decrypting the
//! last segment before anything else is read.
//!
//! What is not hidden: a file's approximate size, and its name (the SHA-256
//! of its plaintext, as before; see docs/security.md).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// First bytes of every sealed file. No photo or video format starts like
/// this (the import only stores files recognised by their own magic bytes),
/// so it tells an encrypted file from one an older version left plain.
pub const SEALED_MAGIC: [u8; 8] = *b"FBMEDIA\x01";
const SALT_LEN: usize = 32;
/// Magic and salt.
pub const SEALED_HEADER_LEN: u64 = (SEALED_MAGIC.len() + SALT_LEN) as u64;
/// Plaintext bytes per segment: small enough that a video range costs
/// little more than its own bytes, large enough that the 16-byte tag and
/// the per-segment call are noise.
pub const SEGMENT_LEN: usize = 64 * 1024;
const TAG_LEN: usize = 16;
const SEALED_SEGMENT_LEN: usize = SEGMENT_LEN + TAG_LEN;
/// HKDF `info`: names what the derived key is for.
const FILE_KEY_INFO: &[u8] = b"fieldbook media file key v1";

/// The random 256-bit key a data folder's media are encrypted with (kept
/// by `fieldbook-secrets`). Wiped from memory when dropped; never printed.
#[derive(Clone)]
pub struct MediaKey(Zeroizing<[u8; 32]>);

impl MediaKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        MediaKey(Zeroizing::new(bytes))
    }
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKey(…)")
    }
}

fn file_key(key: &MediaKey, salt: &[u8]) -> LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&key.0[..]);
    let okm = prk
        .expand(&[FILE_KEY_INFO], &CHACHA20_POLY1305)
        .expect("a 32-byte key is a valid HKDF-SHA256 output length");
    LessSafeKey::new(UnboundKey::from(okm))
}

fn segment_nonce(index: u64, last: bool) -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    Nonce::assume_unique_for_key(nonce)
}

/// Size on disk of `plain_len` bytes once sealed.
pub fn sealed_len(plain_len: u64) -> u64 {
    let segments = plain_len.div_ceil(SEGMENT_LEN as u64).max(1);
    SEALED_HEADER_LEN + plain_len + segments * TAG_LEN as u64
}

/// The plaintext length of a sealed file of `sealed` bytes, if a sealed
/// file can have that size at all.
fn plain_len(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(SEALED_HEADER_LEN)?;
    let segments = body.div_ceil(SEALED_SEGMENT_LEN as u64).max(1);
    let plain = body.checked_sub(segments * TAG_LEN as u64)?;
    // Only the last segment may be short, and it is empty only when it is
    // the only one (an empty file).
    if segments > 1 && plain <= (segments - 1) * SEGMENT_LEN as u64 {
        return None;
    }
    Some(plain)
}

/// Whether the file at `path` is sealed (starts with [`SEALED_MAGIC`]).
pub fn is_sealed(path: &Path) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; SEALED_MAGIC.len()];
    Ok(read_up_to(&mut file, &mut magic)? == magic.len() && magic == SEALED_MAGIC)
}

/// The error every damaged, cut or tampered sealed file reads as.
fn damaged(path: &Path, detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is damaged: {detail}", path.display()),
    )
}

/// Whether a read error means the stored file is damaged (it will not get
/// better by trying again), as opposed to missing or unreadable.
pub fn is_damaged(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::InvalidData
}

/// Seals everything written to it into `out`, segment by segment; memory
/// stays at one segment whatever the file's size. [`SealingWriter::finish`]
/// must be called: it seals the last segment.
pub(crate) struct SealingWriter<W: Write> {
    out: W,
    key: LessSafeKey,
    /// The segment being filled; sealed in place (plus its tag) once full
    /// and more bytes follow, or at the end.
    segment: Vec<u8>,
    index: u64,
}

impl<W: Write> SealingWriter<W> {
    pub(crate) fn new(mut out: W, key: &MediaKey) -> io::Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| io::Error::other("the system's random number generator failed"))?;
        out.write_all(&SEALED_MAGIC)?;
        out.write_all(&salt)?;
        Ok(SealingWriter {
            out,
            key: file_key(key, &salt),
            segment: Vec::with_capacity(SEALED_SEGMENT_LEN),
            index: 0,
        })
    }

    fn seal_segment(&mut self, last: bool) -> io::Result<()> {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                segment_nonce(self.index, last),
                Aad::empty(),
                &mut self.segment,
            )
            .map_err(|_| io::Error::other("encryption failed"))?;
        self.segment.extend_from_slice(tag.as_ref());
        self.out.write_all(&self.segment)?;
        self.segment.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals the last segment and hands back the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.seal_segment(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A full segment is sealed only now that more bytes follow: until
        // then it might be the last one.
        if self.segment.len() == SEGMENT_LEN {
            self.seal_segment(false)?;
        }
        let take = buf.len().min(SEGMENT_LEN - self.segment.len());
        self.segment.extend_from_slice(&buf[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// What the store writes a new file through: the cipher when the folder's
/// media are encrypted, the file itself otherwise.
pub(crate) enum FileWriter<W: Write> {
    Plain(W),
    /// Boxed: the cipher's key schedule makes it far larger than `Plain`.
    Sealed(Box<SealingWriter<W>>),
}

impl<W: Write> FileWriter<W> {
    pub(crate) fn new(out: W, key: Option<&MediaKey>) -> io::Result<Self> {
        Ok(match key {
            Some(key) => FileWriter::Sealed(Box::new(SealingWriter::new(out, key)?)),
            None => FileWriter::Plain(out),
        })
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            FileWriter::Plain(mut out) => {
                out.flush()?;
                Ok(out)
            }
            FileWriter::Sealed(sealing) => sealing.finish(),
        }
    }
}

impl<W: Write> Write for FileWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            FileWriter::Plain(out) => out.write(buf),
            FileWriter::Sealed(sealing) => sealing.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            FileWriter::Plain(out) => out.flush(),
            FileWriter::Sealed(sealing) => sealing.flush(),
        }
    }
}

/// A stored media file opened for reading: its plaintext bytes, with
/// `Read` and `Seek`, whether it is sealed or (a store opened without a
/// key) plain. Seeking is free; a read decrypts only the segment it is in,
/// keeping the last one decrypted for the reads that follow.
///
/// A damaged, cut or tampered sealed file fails with
/// [`io::ErrorKind::InvalidData`] (see [`is_damaged`]) at the first read of
/// a damaged segment, never with wrong bytes.
pub struct MediaReader {
    file: File,
    path: PathBuf,
    len: u64,
    pos: u64,
    sealed: Option<SealedSegments>,
}

struct SealedSegments {
    key: LessSafeKey,
    segments: u64,
    /// Index of the segment whose plaintext `plain` holds.
    current: Option<u64>,
    plain: Vec<u8>,
}

impl std::fmt::Debug for MediaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaReader")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("sealed", &self.sealed.is_some())
            .finish_non_exhaustive()
    }
}

impl MediaReader {
    /// Opens the file at `path`. With `key`, the file must be sealed with
    /// it: its header and last segment are checked here, so a cut file is
    /// refused before a byte of it is used. Without a key the file must be
    /// plain. Missing: [`io::ErrorKind::NotFound`]; damaged or not what the
    /// store expects: [`io::ErrorKind::InvalidData`].
    pub fn open(path: &Path, key: Option<&MediaKey>) -> io::Result<MediaReader> {
        let mut file = File::open(path)?;
        let on_disk = file.metadata()?.len();
        let mut magic = [0u8; SEALED_MAGIC.len()];
        let is_sealed = read_up_to(&mut file, &mut magic)? == magic.len() && magic == SEALED_MAGIC;
        match (key, is_sealed) {
            (Some(key), true) => {
                let mut salt = [0u8; SALT_LEN];
                file.read_exact(&mut salt)
                    .map_err(|_| damaged(path, "its header is cut short"))?;
                let len = plain_len(on_disk).ok_or_else(|| {
                    damaged(
                        path,
                        "its size is not that of an encrypted file (cut short?)",
                    )
                })?;
                let segments = len.div_ceil(SEGMENT_LEN as u64).max(1);
                let mut sealed = SealedSegments {
                    key: file_key(key, &salt),
                    segments,
                    current: None,
                    plain: Vec::with_capacity(SEALED_SEGMENT_LEN),
                };
                // Only the last segment proves the length: it was sealed as
                // the last one, which a cut or lengthened file's is not.
                sealed.load(&mut file, path, len, segments - 1)?;
                Ok(MediaReader {
                    file,
                    path: path.to_owned(),
                    len,
                    pos: 0,
                    sealed: Some(sealed),
                })
            }
            (Some(_), false) => Err(damaged(
                path,
                "it is not encrypted, although every media file of this data folder is",
            )),
            (None, true) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is encrypted and this store was opened without the media key",
                    path.display()
                ),
            )),
            (None, false) => {
                file.seek(SeekFrom::Start(0))?;
                Ok(MediaReader {
                    file,
                    path: path.to_owned(),
                    len: on_disk,
                    pos: 0,
                    sealed: None,
                })
            }
        }
    }

    /// The plaintext length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole plaintext (photos and signatures; a video should be read
    /// in ranges).
    pub fn read_all(mut self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.seek(SeekFrom::Start(0))?;
        self.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

impl SealedSegments {
    /// Decrypts segment `index` into `plain` (unless it is there already).
    fn load(&mut self, file: &mut File, path: &Path, len: u64, index: u64) -> io::Result<()> {
        if self.current == Some(index) {
            return Ok(());
        }
        self.current = None;
        let last = index + 1 == self.segments;
        let plain_len = if last {
            (len - index * SEGMENT_LEN as u64) as usize
        } else {
            SEGMENT_LEN
        };
        self.plain.resize(plain_len + TAG_LEN, 0);
        file.seek(SeekFrom::Start(
            SEALED_HEADER_LEN + index * SEALED_SEGMENT_LEN as u64,
        ))?;
        file.read_exact(&mut self.plain).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                damaged(path, "it became shorter while it was read")
            } else {
                e
            }
        })?;
        self.key
            .open_in_place(segment_nonce(index, last), Aad::empty(), &mut self.plain)
            .map_err(|_| {
                damaged(
                    path,
                    format!(
                        "bytes {}–{} do not decrypt (changed or corrupted on disk)",
                        index * SEGMENT_LEN as u64,
                        index * SEGMENT_LEN as u64 + plain_len as u64
                    ),
                )
            })?;
        self.plain.truncate(plain_len);
        self.current = Some(index);
        Ok(())
    }
}

impl Read for MediaReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(sealed) = self.sealed.as_mut() else {
            let read = self.file.read(buf)?;
            self.pos += read as u64;
            return Ok(read);
        };
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let index = self.pos / SEGMENT_LEN as u64;
        sealed.load(&mut self.file, &self.path, self.len, index)?;
        let within = (self.pos - index * SEGMENT_LEN as u64) as usize;
        let available = &sealed.plain[within..];
        let read = available.len().min(buf.len());
        buf[..read].copy_from_slice(&available[..read]);
        self.pos += read as u64;
        Ok(read)
    }
}

impl Seek for MediaReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if self.sealed.is_none() {
            self.pos = self.file.seek(to)?;
            return Ok(self.pos);
        }
        let target = match to {
            SeekFrom::Start(pos) => Some(pos),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// Reads until `buffer` is full or the source ends; returns how much was read.
pub(crate) fn read_up_to(source: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [5; 32];

    fn sealed_file(plain: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut writer = SealingWriter::new(file.as_file_mut(), &MediaKey::new(KEY)).unwrap();
        // Odd-sized writes: segments must not depend on how bytes arrive.
        for piece in plain.chunks(10_007) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap();
        file
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
            .collect()
    }

    fn open(file: &tempfile::NamedTempFile) -> io::Result<MediaReader> {
        MediaReader::open(file.path(), Some(&MediaKey::new(KEY)))
    }

    #[test]
    fn lengths_round_trip_at_every_segment_boundary() {
        let s = SEGMENT_LEN as u64;
        for plain in [0, 1, s - 1, s, s + 1, 2 * s, 3 * s + 17, 1 << 31] {
            assert_eq!(plain_len(sealed_len(plain)), Some(plain), "{plain}");
        }
        // Sizes no sealed file can have: shorter than a header and a tag,
        // or an empty segment after a full one.
        assert_eq!(plain_len(SEALED_HEADER_LEN + 3), None);
        assert_eq!(
            plain_len(SEALED_HEADER_LEN + SEALED_SEGMENT_LEN as u64 + TAG_LEN as u64),
            None
        );
    }

    #[test]
    fn sealed_bytes_read_back_whole_and_in_any_range_and_hide_the_plaintext() {
        let plain = pattern(3 * SEGMENT_LEN + 1234);
        let file = sealed_file(&plain);
        let on_disk = std::fs::read(file.path()).unwrap();
        assert_eq!(on_disk.len() as u64, sealed_len(plain.len() as u64));
        assert!(on_disk.starts_with(&SEALED_MAGIC));
        assert!(!on_disk.windows(64).any(|w| w == &plain[1000..1064]));
        assert!(is_sealed(file.path()).unwrap());

        assert_eq!(open(&file).unwrap().read_all().unwrap(), plain);
        let mut reader = open(&file).unwrap();
        assert_eq!(reader.len(), plain.len() as u64);
        for (start, len) in [
            (0, 10),
            (SEGMENT_LEN - 5, 10),
            (2 * SEGMENT_LEN + 7, SEGMENT_LEN),
            (plain.len() - 3, 3),
        ] {
            reader.seek(SeekFrom::Start(start as u64)).unwrap();
            let mut part = Vec::new();
            (&mut reader)
                .take(len as u64)
                .read_to_end(&mut part)
                .unwrap();
            assert_eq!(part, &plain[start..start + len], "{start}+{len}");
        }
        reader.seek(SeekFrom::End(5)).unwrap();
        assert_eq!(reader.read(&mut [0u8; 4]).unwrap(), 0);
    }

    #[test]
    fn two_seals_of_the_same_bytes_differ() {
        let plain = pattern(1000);
        let a = std::fs::read(sealed_file(&plain).path()).unwrap();
        let b = std::fs::read(sealed_file(&plain).path()).unwrap();
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b, "each file has its own salt, so its own key");
    }

    #[test]
    fn a_flipped_bit_fails_its_segment_and_only_reads_of_it() {
        let plain = pattern(3 * SEGMENT_LEN);
        let file = sealed_file(&plain);
        let mut bytes = std::fs::read(file.path()).unwrap();
        bytes[SEALED_HEADER_LEN as usize + SEALED_SEGMENT_LEN + 100] ^= 1;
        std::fs::write(file.path(), &bytes).unwrap();

        let err = open(&file).unwrap().read_all().unwrap_err();
        assert!(is_damaged(&err), "{err}");
        assert!(err.to_string().contains("do not decrypt"), "{err}");
        // Segment 0 is intact: a range in it is served, a range in segment 1 is not.
        let mut reader = open(&file).unwrap();
        let mut first = vec![0u8; 100];
        reader.read_exact(&mut first).unwrap();
        assert_eq!(first, &plain[..100]);
        reader
            .seek(SeekFrom::Start(SEGMENT_LEN as u64 + 5))
            .unwrap();
        assert!(is_damaged(&reader.read(&mut [0u8; 10]).unwrap_err()));
    }

    #[test]
    fn a_cut_or_lengthened_file_is_refused_on_open() {
        let plain = pattern(2 * SEGMENT_LEN + 10);
        let file = sealed_file(&plain);
        let bytes = std::fs::read(file.path()).unwrap();
        // Cut at a segment boundary: every remaining segment is intact,
        // but the new last one was not sealed as the last.
        let boundary = SEALED_HEADER_LEN as usize + 2 * SEALED_SEGMENT_LEN;
        for cut in [boundary, bytes.len() - 1, 20] {
            std::fs::write(file.path(), &bytes[..cut]).unwrap();
            let err = open(&file).unwrap_err();
            assert!(is_damaged(&err), "cut at {cut}: {err}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0u8; 100]);
        std::fs::write(file.path(), &longer).unwrap();
        assert!(is_damaged(&open(&file).unwrap_err()));
    }

    #[test]
    fn segments_swapped_between_positions_fail() {
        let plain = pattern(3 * SEGMENT_LEN);
        let file = sealed_file(&plain);
        let mut bytes = std::fs::read(file.path()).unwrap();
        let first = SEALED_HEADER_LEN as usize;
        let (a, b) = bytes[first..first + 2 * SEALED_SEGMENT_LEN].split_at_mut(SEALED_SEGMENT_LEN);
        a.swap_with_slice(b);
        std::fs::write(file.path(), &bytes).unwrap();
        assert!(is_damaged(&open(&file).unwrap().read_all().unwrap_err()));
    }

    #[test]
    fn a_wrong_key_or_no_key_reads_nothing() {
        let file = sealed_file(&pattern(5000));
        let err = MediaReader::open(file.path(), Some(&MediaKey::new([6; 32]))).unwrap_err();
        assert!(is_damaged(&err), "{err}");
        let err = MediaReader::open(file.path(), None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");

        // And a plain file where sealed ones are expected is not served.
        let mut plain = tempfile::NamedTempFile::new().unwrap();
        plain.write_all(b"\x89PNG\r\n\x1a\n plain").unwrap();
        let err = MediaReader::open(plain.path(), Some(&MediaKey::new(KEY))).unwrap_err();
        assert!(is_damaged(&err), "{err}");
        assert_eq!(
            MediaReader::open(plain.path(), None)
                .unwrap()
                .read_all()
                .unwrap(),
            b"\x89PNG\r\n\x1a\n plain"
        );
    }

    #[test]
    fn an_empty_file_seals_and_opens() {
        let file = sealed_file(&[]);
        let reader = open(&file).unwrap();
        assert!(reader.is_empty());
        assert_eq!(reader.read_all().unwrap(), Vec::<u8>::new());
    }
}
