//! Media encrypted at rest, on real temp-dir files: what lands on disk is
//! sealed (no photo byte readable), everything reads back through the
//! store, dedupe still works, a plain folder is converted in place, and a
//! key renewed by a wipe reaches every clone of the store.

mod common;

use std::fs;
use std::io::{Read, Seek, SeekFrom};

use common::*;
use fieldbook_domain::Sha256Hex;
use fieldbook_media::sealed::{sealed_len, SEALED_MAGIC};
use fieldbook_media::{is_damaged, MediaKey, MediaStore};

const KEY: [u8; 32] = [11; 32];

fn key() -> MediaKey {
    MediaKey::new(KEY)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `root` (tmp/ included) is sealed and holds none of
/// `plain`'s bytes: 32-byte samples from all over it are looked for.
fn assert_nothing_plain(root: &std::path::Path, plain: &[u8]) {
    for file in files_under(root) {
        let bytes = fs::read(&file).unwrap();
        assert!(
            bytes.starts_with(&SEALED_MAGIC),
            "{} is not sealed",
            file.display()
        );
        for start in (0..plain.len().saturating_sub(32)).step_by(plain.len() / 16 + 1) {
            assert!(
                !contains(&bytes, &plain[start..start + 32]),
                "{} holds bytes {start}.. of the photo",
                file.display()
            );
        }
    }
}

fn mp4_like(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    let mut rest = vec![0u8; len - bytes.len()];
    PseudoRandom::new(seed).fill(&mut rest);
    bytes.extend_from_slice(&rest);
    bytes
}

#[test]
fn an_encrypted_photo_import_leaves_no_plaintext_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = MediaStore::open_encrypted(dir.path().join("media"), key()).unwrap();
    assert_eq!(store.encrypt_plain_files().unwrap(), 0, "a new folder");
    assert!(store.is_encrypted());
    let jpeg = jpeg_bytes(&photo_like_rgb(1200, 800, 3), 90);
    let source = write_file(dir.path(), "IMG_0003.JPG", &jpeg);

    let imported = store.import_file(&source).unwrap();
    // Named and sized by the plaintext, as without encryption.
    assert_eq!(imported.blob.sha256, Sha256Hex::digest(&jpeg));
    assert_eq!(imported.blob.size, jpeg.len() as u64);
    assert_eq!((imported.width, imported.height), (Some(1200), Some(800)));
    let sha = imported.blob.sha256.clone();
    assert_eq!(
        fs::metadata(store.blob_path(&sha)).unwrap().len(),
        sealed_len(jpeg.len() as u64)
    );
    assert_nothing_plain(&dir.path().join("media"), &jpeg);

    assert_eq!(store.read_blob(&sha).unwrap(), jpeg);
    let thumbnail = store.open_thumbnail(&sha).unwrap().read_all().unwrap();
    let decoded = image::load_from_memory(&thumbnail).expect("the thumbnail is a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (320, 213));

    // The same photo again is recognised by its name and sealed size.
    let again = store.import_file(&source).unwrap();
    assert!(again.already_present);
    assert_eq!(store.read_blob(&sha).unwrap(), jpeg);
}

#[test]
fn a_video_reads_back_in_ranges_and_a_damaged_part_is_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = MediaStore::open_encrypted(dir.path().join("media"), key()).unwrap();
    let video = mp4_like(3 << 20, 7);
    let sha = store.import_bytes(&video).unwrap().blob.sha256;

    let mut reader = store.open_blob(&sha).unwrap();
    assert_eq!(reader.len(), video.len() as u64);
    let start = (2 << 20) + 12_345;
    reader.seek(SeekFrom::Start(start as u64)).unwrap();
    let mut part = vec![0u8; 200_000];
    reader.read_exact(&mut part).unwrap();
    assert_eq!(part, &video[start..start + 200_000]);

    // One byte flipped on disk in the middle: the start still reads, the
    // damaged part and the whole file fail as damaged.
    let path = store.blob_path(&sha);
    let mut on_disk = fs::read(&path).unwrap();
    let middle = on_disk.len() / 2;
    on_disk[middle] ^= 0x40;
    fs::write(&path, &on_disk).unwrap();
    let mut reader = store.open_blob(&sha).unwrap();
    let mut head = vec![0u8; 1000];
    reader.read_exact(&mut head).unwrap();
    assert_eq!(head, &video[..1000]);
    let err = store.read_blob(&sha).unwrap_err();
    assert!(is_damaged(&err), "{err}");
}

#[test]
fn a_plain_folder_is_encrypted_on_the_first_encrypted_open_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("media");
    let jpeg = jpeg_bytes(&photo_like_rgb(800, 600, 9), 85);
    let video = mp4_like(300_000, 8);
    let (photo_sha, video_sha) = {
        let plain = MediaStore::open(&root).unwrap();
        let photo = plain.import_bytes(&jpeg).unwrap().blob.sha256;
        let video = plain.import_bytes(&video).unwrap().blob.sha256;
        assert_eq!(fs::read(plain.blob_path(&photo)).unwrap(), jpeg);
        (photo, video)
    };
    // A plaintext leftover of an import a crash cut short.
    fs::write(root.join("tmp/import-x.part"), &jpeg[..5000]).unwrap();

    let store = MediaStore::open_encrypted(&root, key()).unwrap();
    // Opening alone reads no file: the files stay as they are until asked.
    assert_eq!(fs::read(store.blob_path(&photo_sha)).unwrap(), jpeg);
    assert!(!root.join("tmp/import-x.part").exists(), "tmp/ is emptied");
    assert_eq!(
        store.encrypt_plain_files().unwrap(),
        3,
        "the photo, its thumbnail and the video"
    );
    assert_nothing_plain(&root, &jpeg);
    assert_nothing_plain(&root, &video);
    assert_eq!(store.read_blob(&photo_sha).unwrap(), jpeg);
    assert_eq!(store.read_blob(&video_sha).unwrap(), video);
    assert!(store.open_thumbnail(&photo_sha).unwrap().len() > 100);

    // Done once: the next open converts nothing.
    drop(store);
    let store = MediaStore::open_encrypted(&root, key()).unwrap();
    assert_eq!(store.encrypt_plain_files().unwrap(), 0);
    // And the plain store cannot read what is now sealed.
    let plain = MediaStore::open(&root).unwrap();
    assert!(plain.read_blob(&photo_sha).is_err());
}

#[test]
fn a_renewed_key_reaches_every_clone_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("media");
    let store = MediaStore::open_encrypted(&root, key()).unwrap();
    let protocol_copy = store.clone();
    let before = store
        .import_bytes(&mp4_like(10_000, 1))
        .unwrap()
        .blob
        .sha256;

    // A remote wipe erases the folder and starts again with a new key.
    fs::remove_dir_all(&root).unwrap();
    store.start_again(Some(MediaKey::new([12; 32]))).unwrap();
    let video = mp4_like(10_000, 2);
    let after = store.import_bytes(&video).unwrap().blob.sha256;
    assert_eq!(protocol_copy.read_blob(&after).unwrap(), video);
    assert_eq!(
        protocol_copy.read_blob(&before).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    // Nothing under the old key opens the new file.
    let old_key = fieldbook_media::MediaReader::open(&store.blob_path(&after), Some(&key()));
    assert!(is_damaged(&old_key.unwrap_err()));
}
