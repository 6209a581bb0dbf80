//! Content-addressed media files: streaming import with SHA-256, image checks, oriented thumbnails.
//!
//! Layout under the store's root:
//!
//! ```text
//! ab/<sha256>              the blob, named by the SHA-256 of its bytes (first two hex chars as dir)
//! thumbs/ab/<sha256>.jpg   oriented JPEG thumbnail of a photo, longest side 320 px
//! tmp/                     imports in progress (removed on error; stale leftovers removed on open)
//! ```
//!
//! Encrypted at rest: a store opened with [`MediaStore::open_encrypted`]
//! writes every blob and thumbnail sealed with the data folder's media key
//! (see [`sealed`] for the format) under the same names (the SHA-256 of the
//! plaintext), so dedupe and uploads are unchanged; everything reads them
//! through [`MediaStore::open_blob`] / [`MediaReader`], which decrypts on
//! the fly. Files an older version left plain are encrypted by
//! [`MediaStore::encrypt_plain_files`] (see the `upgrade` module), which
//! the local store runs until its database records the folder converted.
//!
//! Crash and error safety: bytes are written to a temp file in `tmp/` (same
//! file system as the blobs), fsynced, then renamed onto their final name and
//! the directory fsynced. A rename is atomic, so a blob path either does not
//! exist or holds the complete, fsynced content; an existing blob is never
//! opened for writing. Every temp file is owned by a [`tempfile::NamedTempFile`]
//! until the rename, so any error (or panic) on the way deletes it: a refused or
//! failed import leaves nothing behind.

mod durable;
mod error;
pub mod label_codes;
pub mod media_url;
mod photo;
pub mod sealed;
mod sniff;
mod upgrade;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use fieldbook_domain::{BlobRef, MediaType, Sha256Hex};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

pub use error::MediaError;
pub use sealed::{is_damaged, MediaKey, MediaReader};

use sealed::{read_up_to, FileWriter};
use sniff::{SniffedKind, SNIFF_LEN};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX_SIDE: u32 = 320;
/// Photos wider or taller than this are refused (a 200 MP phone photo is 16320 px wide).
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory a photo check may allocate for decoding; more is refused as a
/// decompression bomb rather than attempted.
pub const MAX_DECODE_BYTES: u64 = 512 << 20;
/// Photos are checked from memory (the decoders need the whole compressed
/// file), so their file size is bounded. Videos are streamed and unbounded.
pub const MAX_PHOTO_FILE_BYTES: u64 = 256 << 20;

/// Streaming buffer: large enough for fast sequential IO, small enough that a
/// 2 GB video import uses a constant few MiB.
const COPY_BUFFER_LEN: usize = 1 << 20;
/// A temp file untouched this long cannot belong to a running import (every
/// write refreshes its modification time), so `open` removes it.
const STALE_TEMP_AGE: Duration = Duration::from_secs(60 * 60);

/// The content-addressed media directory of one data directory.
#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
    tmp_dir: PathBuf,
    thumbs_dir: PathBuf,
    /// `None`: files are stored plain (tests and tools). Shared by clones,
    /// so the key a remote wipe renews applies to every copy of the store
    /// (the app's `media://` protocol holds one).
    key: Arc<RwLock<Option<MediaKey>>>,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedMedia {
    /// SHA-256, size in bytes and MIME type (from the content, not the file name).
    pub blob: BlobRef,
    pub media_type: MediaType,
    /// Photo dimensions as the photo is meant to be seen (after EXIF orientation); `None` for videos.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Path of the JPEG thumbnail (photos only).
    pub thumbnail: Option<PathBuf>,
    /// The same bytes were already in the store; nothing new was written.
    pub already_present: bool,
}

/// Bytes hashed into a fsynced temp file, not yet visible under their blob name.
/// Dropping it deletes the temp file.
struct StagedBlob {
    temp: NamedTempFile,
    sha256: Sha256Hex,
    /// Plaintext bytes.
    size: u64,
    /// Bytes on disk (more than `size` when sealed).
    stored_len: u64,
}

impl MediaStore {
    /// Opens (creating if needed) the media directory at `root`, storing
    /// files plain, and removes temp files left behind by an import that was
    /// interrupted by a crash. The app uses [`MediaStore::open_encrypted`].
    pub fn open(root: impl Into<PathBuf>) -> Result<MediaStore, MediaError> {
        let store = Self::new(root.into(), None)?;
        store.remove_temp_files(Some(STALE_TEMP_AGE))?;
        Ok(store)
    }

    /// Opens (creating if needed) the media directory at `root` with every
    /// file encrypted with `key`. Files an older version stored plain are
    /// not looked for here (that would read every file at every start):
    /// the caller records whether the folder may still hold some and, if
    /// so, calls [`MediaStore::encrypt_plain_files`] (the local store keeps
    /// that in its database).
    ///
    /// The data folder's lock must be held: everything in `tmp/` is then
    /// left over from before (an import or a conversion a crash cut short,
    /// possibly plaintext) and is removed.
    pub fn open_encrypted(
        root: impl Into<PathBuf>,
        key: MediaKey,
    ) -> Result<MediaStore, MediaError> {
        let store = Self::new(root.into(), Some(key))?;
        store.remove_temp_files(None)?;
        Ok(store)
    }

    /// Encrypts every file an older version left plain, crash-safe and
    /// resumable (the `upgrade` module): reads the first bytes of every
    /// file in the folder, so it is for the one start after an upgrade, not
    /// every start. Returns how many files it converted (none for a store
    /// opened without a key). The data folder's lock must be held.
    pub fn encrypt_plain_files(&self) -> Result<u64, MediaError> {
        match self.key() {
            Some(key) => upgrade::encrypt_plain_files(&self.root, &self.tmp_dir, &key),
            None => Ok(0),
        }
    }

    fn new(root: PathBuf, key: Option<MediaKey>) -> Result<MediaStore, MediaError> {
        let store = MediaStore {
            tmp_dir: root.join("tmp"),
            thumbs_dir: root.join("thumbs"),
            root,
            key: Arc::new(RwLock::new(key)),
        };
        store.create_dirs()?;
        Ok(store)
    }

    fn create_dirs(&self) -> Result<(), MediaError> {
        for dir in [&self.root, &self.tmp_dir, &self.thumbs_dir] {
            durable::create_private_dir(dir)?;
        }
        Ok(())
    }

    /// After the media directory was erased (remote wipe): creates its
    /// folders again and stores new files with `key` from now on, in this
    /// store and every clone of it.
    pub fn start_again(&self, key: Option<MediaKey>) -> Result<(), MediaError> {
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = key;
        self.create_dirs()
    }

    /// Whether files are stored encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.key().is_some()
    }

    fn key(&self) -> Option<MediaKey> {
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The blob with this hash, opened to read its plaintext (decrypted on
    /// the fly, any range; see [`MediaReader`]). A missing blob is
    /// [`io::ErrorKind::NotFound`], a damaged one fails [`is_damaged`].
    pub fn open_blob(&self, sha256: &Sha256Hex) -> io::Result<MediaReader> {
        MediaReader::open(&self.blob_path(sha256), self.key().as_ref())
    }

    /// The photo's thumbnail, opened to read its JPEG bytes (as [`MediaStore::open_blob`]).
    pub fn open_thumbnail(&self, sha256: &Sha256Hex) -> io::Result<MediaReader> {
        MediaReader::open(&self.thumbnail_destination(sha256), self.key().as_ref())
    }

    /// The whole plaintext of a blob (a photo or the signature image for a
    /// document; read a video in ranges through [`MediaStore::open_blob`]).
    pub fn read_blob(&self, sha256: &Sha256Hex) -> io::Result<Vec<u8>> {
        self.open_blob(sha256)?.read_all()
    }

    /// The store's directory (as given to [`MediaStore::open`]).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Imports the photo or video at `source`. See [`MediaStore::import_file_with_progress`].
    pub fn import_file(&self, source: &Path) -> Result<ImportedMedia, MediaError> {
        self.import_file_with_progress(source, &mut |_, _| {})
    }

    /// Imports the photo or video at `source`, calling `on_progress(done, total)`
    /// (bytes) as it is copied into the store. What the file is comes from its
    /// content; photos must decode cleanly within the memory limits. On any
    /// error nothing is left in the store.
    pub fn import_file_with_progress(
        &self,
        source: &Path,
        on_progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportedMedia, MediaError> {
        let mut file = File::open(source).map_err(|e| MediaError::io("open", source, e))?;
        let size_hint = file
            .metadata()
            .map_err(|e| MediaError::io("read", source, e))?
            .len();
        let mut head = vec![0u8; SNIFF_LEN];
        let head_len =
            read_up_to(&mut file, &mut head).map_err(|e| MediaError::io("read", source, e))?;
        head.truncate(head_len);
        if head.is_empty() {
            return Err(MediaError::EmptyFile);
        }
        match sniff::sniff(&head)? {
            SniffedKind::Photo { codec, mime } => {
                if size_hint > MAX_PHOTO_FILE_BYTES {
                    return Err(photo_file_too_large(size_hint));
                }
                let mut bytes = head;
                bytes.reserve(
                    usize::try_from(size_hint)
                        .unwrap_or(0)
                        .saturating_sub(bytes.len()),
                );
                // `take` bounds memory even if the file grows while we read it.
                file.take(MAX_PHOTO_FILE_BYTES + 1 - bytes.len() as u64)
                    .read_to_end(&mut bytes)
                    .map_err(|e| MediaError::io("read", source, e))?;
                if bytes.len() as u64 > MAX_PHOTO_FILE_BYTES {
                    return Err(photo_file_too_large(bytes.len() as u64));
                }
                self.import_photo(&bytes, codec, mime, on_progress)
            }
            SniffedKind::Video { mime } => {
                let staged = self.stage(&head, &mut file, source, size_hint, on_progress)?;
                self.finish_video(staged, mime)
            }
        }
    }

    /// Imports in-memory bytes (the signature PNG), with the same checks as a file.
    pub fn import_bytes(&self, bytes: &[u8]) -> Result<ImportedMedia, MediaError> {
        if bytes.is_empty() {
            return Err(MediaError::EmptyFile);
        }
        let no_progress = &mut |_, _| {};
        match sniff::sniff(&bytes[..bytes.len().min(SNIFF_LEN)])? {
            SniffedKind::Photo { codec, mime } => {
                if bytes.len() as u64 > MAX_PHOTO_FILE_BYTES {
                    return Err(photo_file_too_large(bytes.len() as u64));
                }
                self.import_photo(bytes, codec, mime, no_progress)
            }
            SniffedKind::Video { mime } => {
                let staged = self.stage(
                    bytes,
                    &mut io::empty(),
                    Path::new("memory"),
                    bytes.len() as u64,
                    no_progress,
                )?;
                self.finish_video(staged, mime)
            }
        }
    }

    /// Stores bytes this app made itself (the completion certificate PDF),
    /// content-addressed and durable like an import, without the photo and
    /// video checks (which would refuse a PDF).
    pub fn store_generated(&self, bytes: &[u8], mime: &str) -> Result<BlobRef, MediaError> {
        let staged = self.stage(
            bytes,
            &mut io::empty(),
            Path::new("memory"),
            bytes.len() as u64,
            &mut |_, _| {},
        )?;
        let sha256 = staged.sha256.clone();
        let size = staged.size;
        self.commit(staged)?;
        Ok(BlobRef {
            sha256,
            size,
            mime: mime.to_owned(),
        })
    }

    /// Where the blob with this hash lives (whether or not it exists).
    pub fn blob_path(&self, sha256: &Sha256Hex) -> PathBuf {
        self.root.join(shard(sha256)).join(sha256.as_str())
    }

    /// The photo's thumbnail, if one exists.
    pub fn thumbnail_path(&self, sha256: &Sha256Hex) -> Option<PathBuf> {
        let path = self.thumbnail_destination(sha256);
        path.is_file().then_some(path)
    }

    /// Searches the stored photo with this hash for barcodes and QR codes
    /// (the charger's serial label): the passes of `depth`, within about
    /// `budget` of work (see [`label_codes::search_codes_to`]). Meant to run
    /// after the import, off the technician's path: the import never waits
    /// for it.
    pub fn search_label_codes(
        &self,
        sha256: &Sha256Hex,
        depth: label_codes::SearchDepth,
        budget: Duration,
    ) -> Result<label_codes::LabelSearch, MediaError> {
        // Decrypted on the fly: the head tells a photo (read whole, at most
        // MAX_PHOTO_FILE_BYTES, the decoder needs every byte) from a video
        // (never read: it has no label to search).
        let read_error = |e| MediaError::io("read", &self.blob_path(sha256), e);
        let mut file = self.open_blob(sha256).map_err(read_error)?;
        let mut head = vec![0u8; SNIFF_LEN];
        let head_len = read_up_to(&mut file, &mut head).map_err(read_error)?;
        match sniff::sniff(&head[..head_len])? {
            SniffedKind::Photo { codec, .. } => {
                let bytes = file.read_all().map_err(read_error)?;
                Ok(label_codes::search_photo(
                    &bytes,
                    codec,
                    depth,
                    std::time::Instant::now() + budget,
                ))
            }
            SniffedKind::Video { .. } => Ok(label_codes::LabelSearch::default()),
        }
    }

    /// Whether the blob with this hash is in the store.
    pub fn contains(&self, sha256: &Sha256Hex) -> bool {
        self.blob_path(sha256).is_file()
    }

    fn thumbnail_destination(&self, sha256: &Sha256Hex) -> PathBuf {
        self.thumbs_dir
            .join(shard(sha256))
            .join(format!("{}.jpg", sha256.as_str()))
    }

    fn import_photo(
        &self,
        bytes: &[u8],
        codec: sniff::PhotoCodec,
        mime: &'static str,
        on_progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportedMedia, MediaError> {
        // The decode (CPU) runs on a second thread while this one hashes,
        // writes and fsyncs (mostly IO wait): an import costs about the longer
        // of the two instead of their sum. Barcodes are not searched here:
        // that can take seconds, and runs after the import (see
        // [`MediaStore::search_label_codes`]).
        let (checked, staged) = std::thread::scope(|scope| {
            let checker = scope.spawn(|| photo::check_photo(bytes, codec));
            let staged = self.stage(
                bytes,
                &mut io::empty(),
                Path::new("memory"),
                bytes.len() as u64,
                on_progress,
            );
            let checked = checker.join().unwrap_or_else(|_| {
                Err(MediaError::corrupt("the image decoder failed on this file"))
            });
            (checked, staged)
        });
        // The photo's verdict comes first: "damaged photo" is the more useful
        // message even if the disk also failed. Either way `staged` is dropped
        // on return, which deletes its temp file.
        let checked = checked?;
        let staged = staged?;

        let sha256 = staged.sha256.clone();
        let size = staged.size;
        let thumbnail = self.thumbnail_destination(&sha256);
        let thumbnail_created = self.write_thumbnail(&thumbnail, &checked.thumbnail_jpeg)?;
        let already_present = match self.commit(staged) {
            Ok(already_present) => already_present,
            Err(error) => {
                // Do not leave a thumbnail for a blob that is not there.
                if thumbnail_created {
                    let _ = fs::remove_file(&thumbnail);
                }
                return Err(error);
            }
        };
        Ok(ImportedMedia {
            blob: BlobRef {
                sha256,
                size,
                mime: mime.to_owned(),
            },
            media_type: MediaType::Photo,
            width: Some(checked.width),
            height: Some(checked.height),
            thumbnail: Some(thumbnail),
            already_present,
        })
    }

    fn finish_video(
        &self,
        staged: StagedBlob,
        mime: &'static str,
    ) -> Result<ImportedMedia, MediaError> {
        let sha256 = staged.sha256.clone();
        let size = staged.size;
        let already_present = self.commit(staged)?;
        Ok(ImportedMedia {
            blob: BlobRef {
                sha256,
                size,
                mime: mime.to_owned(),
            },
            media_type: MediaType::Video,
            width: None,
            height: None,
            thumbnail: None,
            already_present,
        })
    }

    /// Streams `head` then the rest of `source` into a temp file in `tmp/`,
    /// hashing as it goes with a fixed-size buffer, and fsyncs it.
    fn stage(
        &self,
        head: &[u8],
        source: &mut dyn Read,
        source_path: &Path,
        size_hint: u64,
        on_progress: &mut dyn FnMut(u64, u64),
    ) -> Result<StagedBlob, MediaError> {
        let mut temp = durable::temp_file(&self.tmp_dir, "import-")?;
        let temp_path = temp.path().to_path_buf();
        let write_error = |e| MediaError::io("write", &temp_path, e);
        let mut hasher = Sha256::new();
        let mut done: u64 = 0;
        let mut writer =
            FileWriter::new(temp.as_file_mut(), self.key().as_ref()).map_err(write_error)?;
        let mut append = |chunk: &[u8], writer: &mut FileWriter<_>| -> Result<(), MediaError> {
            hasher.update(chunk);
            writer.write_all(chunk).map_err(write_error)?;
            done += chunk.len() as u64;
            on_progress(done, size_hint.max(done));
            Ok(())
        };
        for chunk in head.chunks(COPY_BUFFER_LEN) {
            append(chunk, &mut writer)?;
        }
        let mut buffer = vec![0u8; COPY_BUFFER_LEN];
        durable::for_each_chunk(source, source_path, &mut buffer, |chunk| {
            append(chunk, &mut writer)
        })?;
        if done == 0 {
            return Err(MediaError::EmptyFile);
        }
        writer.finish().map_err(write_error)?;
        let file = temp.as_file();
        file.sync_all()
            .map_err(|e| MediaError::io("flush to disk", &temp_path, e))?;
        let stored_len = file
            .metadata()
            .map_err(|e| MediaError::io("read", &temp_path, e))?
            .len();
        Ok(StagedBlob {
            temp,
            sha256: Sha256Hex::from_bytes(hasher.finalize().into()),
            size: done,
            stored_len,
        })
    }

    /// Makes a staged blob visible under its hash. Returns whether identical
    /// content was already stored (the temp file is then simply deleted).
    fn commit(&self, staged: StagedBlob) -> Result<bool, MediaError> {
        let dest = self.blob_path(&staged.sha256);
        // Same name means same content; a size mismatch can only be damage
        // from outside, which the atomic rename below replaces.
        if let Ok(existing) = fs::metadata(&dest) {
            if existing.is_file() && existing.len() == staged.stored_len {
                return Ok(true);
            }
        }
        let shard_dir = self.root.join(shard(&staged.sha256));
        durable::create_dir_durably(&shard_dir, &self.root)?;
        durable::put_in_place(staged.temp, &dest, "store")?;
        Ok(false)
    }

    /// Writes a thumbnail atomically (temp file + rename). Returns whether it
    /// created the file (false when an identical thumbnail was already there).
    fn write_thumbnail(&self, dest: &Path, jpeg: &[u8]) -> Result<bool, MediaError> {
        if dest.is_file() {
            return Ok(false);
        }
        let shard_dir = dest.parent().unwrap_or(&self.thumbs_dir);
        durable::create_dir_durably(shard_dir, &self.thumbs_dir)?;
        let mut temp = durable::temp_file(&self.tmp_dir, "thumb-")?;
        let temp_path = temp.path().to_path_buf();
        FileWriter::new(temp.as_file_mut(), self.key().as_ref())
            .and_then(|mut writer| {
                writer.write_all(jpeg)?;
                writer.finish()
            })
            .and_then(|file| file.sync_all())
            .map_err(|e| MediaError::io("write", &temp_path, e))?;
        durable::put_in_place(temp, dest, "store")?;
        Ok(true)
    }

    /// Removes the files in `tmp/` older than `older_than` (all with `None`).
    fn remove_temp_files(&self, older_than: Option<Duration>) -> Result<(), MediaError> {
        let entries =
            fs::read_dir(&self.tmp_dir).map_err(|e| MediaError::io("list", &self.tmp_dir, e))?;
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let age = metadata
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok());
            let stale = match older_than {
                Some(limit) => age.is_some_and(|age| age > limit),
                None => true,
            };
            if metadata.is_file() && stale {
                // Best effort: a leftover that cannot be removed now will be next time.
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

fn shard(sha256: &Sha256Hex) -> &str {
    &sha256.as_str()[..2]
}

fn photo_file_too_large(size: u64) -> MediaError {
    MediaError::too_large(format!(
        "the file is {} MiB; photos are limited to {} MiB",
        size >> 20,
        MAX_PHOTO_FILE_BYTES >> 20
    ))
}
