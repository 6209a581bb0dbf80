//! Media import on real temp-dir files: photos, orientation, refusals, dedupe.

mod common;

use std::fs;
use std::time::{Duration, SystemTime};

use common::*;
use fieldbook_domain::{MediaType, Sha256Hex};
use fieldbook_media::{MediaStore, THUMBNAIL_MAX_SIDE};
use image::{DynamicImage, GenericImageView, RgbaImage};

struct Fixture {
    // Kept alive for the test's duration; deleted on drop.
    _dir: tempfile::TempDir,
    sources: std::path::PathBuf,
    store: MediaStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sources = dir.path().join("sources");
    fs::create_dir(&sources).unwrap();
    let store = MediaStore::open(dir.path().join("media")).unwrap();
    Fixture {
        _dir: dir,
        sources,
        store,
    }
}

fn decode_thumbnail(path: &std::path::Path) -> DynamicImage {
    let bytes = fs::read(path).expect("thumbnail exists");
    assert_eq!(
        image::guess_format(&bytes).unwrap(),
        image::ImageFormat::Jpeg,
        "thumbnails are JPEG"
    );
    image::load_from_memory(&bytes).expect("thumbnail decodes")
}

#[test]
fn jpeg_photo_is_stored_under_its_hash_with_a_thumbnail() {
    let f = fixture();
    let jpeg = jpeg_bytes(&photo_like_rgb(1200, 800, 1), 90);
    let source = write_file(&f.sources, "IMG_0001.JPG", &jpeg);

    let imported = f.store.import_file(&source).unwrap();

    assert_eq!(imported.media_type, MediaType::Photo);
    assert_eq!(imported.blob.mime, "image/jpeg");
    assert_eq!(imported.blob.size, jpeg.len() as u64);
    assert_eq!(imported.blob.sha256, Sha256Hex::digest(&jpeg));
    assert_eq!((imported.width, imported.height), (Some(1200), Some(800)));
    assert!(!imported.already_present);

    let blob_path = f.store.blob_path(&imported.blob.sha256);
    let sha = imported.blob.sha256.as_str();
    assert!(blob_path.ends_with(format!("{}/{}", &sha[..2], sha)));
    assert_eq!(fs::read(&blob_path).unwrap(), jpeg);
    assert!(f.store.contains(&imported.blob.sha256));

    let thumbnail = imported.thumbnail.clone().unwrap();
    assert_eq!(
        f.store.thumbnail_path(&imported.blob.sha256),
        Some(thumbnail.clone())
    );
    assert!(thumbnail.ends_with(format!("thumbs/{}/{}.jpg", &sha[..2], sha)));
    assert_eq!(decode_thumbnail(&thumbnail).dimensions(), (320, 213));
    assert!(files_under(&f.store.root().join("tmp")).is_empty());
}

#[test]
fn png_photo_with_alpha_is_stored_with_a_jpeg_thumbnail() {
    let f = fixture();
    let rgba = RgbaImage::from_fn(640, 480, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, (x / 3 % 256) as u8])
    });
    let png = png_bytes(&DynamicImage::ImageRgba8(rgba));
    let source = write_file(&f.sources, "site.png", &png);

    let imported = f.store.import_file(&source).unwrap();

    assert_eq!(imported.media_type, MediaType::Photo);
    assert_eq!(imported.blob.mime, "image/png");
    assert_eq!((imported.width, imported.height), (Some(640), Some(480)));
    let thumbnail = decode_thumbnail(&imported.thumbnail.unwrap());
    assert_eq!(thumbnail.dimensions(), (320, 240));
}

#[test]
fn small_photo_thumbnail_is_not_enlarged() {
    let f = fixture();
    let jpeg = jpeg_bytes(&photo_like_rgb(120, 90, 2), 85);
    let imported = f.store.import_bytes(&jpeg).unwrap();
    assert_eq!((imported.width, imported.height), (Some(120), Some(90)));
    let thumbnail = decode_thumbnail(&imported.thumbnail.unwrap());
    assert_eq!(thumbnail.dimensions(), (120, 90));
}

#[test]
fn portrait_and_landscape_thumbnails_fit_the_longest_side() {
    let f = fixture();
    for (width, height) in [(1500, 2000), (2000, 1500), (2001, 333)] {
        let jpeg = jpeg_bytes(&photo_like_rgb(width, height, 3), 80);
        let imported = f.store.import_bytes(&jpeg).unwrap();
        let (tw, th) = decode_thumbnail(&imported.thumbnail.unwrap()).dimensions();
        assert_eq!(
            tw.max(th),
            THUMBNAIL_MAX_SIDE,
            "{width}×{height} → {tw}×{th}"
        );
        let source_ratio = f64::from(width) / f64::from(height);
        let thumb_ratio = f64::from(tw) / f64::from(th);
        assert!(
            (source_ratio - thumb_ratio).abs() / source_ratio < 0.02,
            "{width}×{height} → {tw}×{th}"
        );
    }
}

#[test]
fn exif_rotated_jpeg_is_reported_and_thumbnailed_upright() {
    let f = fixture();
    // Stored 400×200 landscape, EXIF 6 = "rotate 90° clockwise to display":
    // the camera was held upright, so the photo is a 200×400 portrait whose
    // top is the stored image's left (red) half.
    let stored = jpeg_bytes(&red_left_blue_right(400, 200), 92);
    let jpeg = with_exif_orientation(&stored, 6);
    let source = write_file(&f.sources, "portrait.jpg", &jpeg);

    let imported = f.store.import_file(&source).unwrap();

    assert_eq!((imported.width, imported.height), (Some(200), Some(400)));
    let thumbnail = decode_thumbnail(&imported.thumbnail.unwrap()).to_rgb8();
    assert_eq!(thumbnail.dimensions(), (160, 320));
    let top = thumbnail.get_pixel(80, 40);
    let bottom = thumbnail.get_pixel(80, 280);
    assert!(
        top[0] > 150 && top[2] < 100,
        "top should be red, got {top:?}"
    );
    assert!(
        bottom[2] > 150 && bottom[0] < 100,
        "bottom should be blue, got {bottom:?}"
    );
}

#[test]
fn exif_orientation_3_is_upside_down_and_keeps_dimensions() {
    let f = fixture();
    let stored = jpeg_bytes(&red_left_blue_right(400, 200), 92);
    let imported = f
        .store
        .import_bytes(&with_exif_orientation(&stored, 3))
        .unwrap();
    assert_eq!((imported.width, imported.height), (Some(400), Some(200)));
    let thumbnail = decode_thumbnail(&imported.thumbnail.unwrap()).to_rgb8();
    assert_eq!(thumbnail.dimensions(), (320, 160));
    // Rotated 180°: red is now on the right.
    assert!(thumbnail.get_pixel(300, 80)[0] > 150);
    assert!(thumbnail.get_pixel(20, 80)[2] > 150);
}

#[test]
fn truncated_jpeg_is_refused_and_nothing_is_left() {
    let f = fixture();
    let jpeg = jpeg_bytes(&photo_like_rgb(800, 600, 4), 90);
    let truncated = &jpeg[..jpeg.len() * 6 / 10];
    let source = write_file(&f.sources, "cut.jpg", truncated);

    let error = f.store.import_file(&source).unwrap_err();

    assert_eq!(error.code(), "corrupt_image", "{error}");
    assert!(
        error.to_string().contains("damaged or incomplete"),
        "{error}"
    );
    assert_store_empty(f.store.root());
    assert!(!f.store.contains(&Sha256Hex::digest(truncated)));
}

#[test]
fn jpeg_with_garbage_in_its_image_data_is_refused() {
    let f = fixture();
    let mut jpeg = jpeg_bytes(&photo_like_rgb(800, 600, 5), 90);
    // An end-of-image marker in the middle of the entropy-coded data: the
    // rest of the scan is garbage as far as the decoder is concerned.
    let middle = jpeg.len() / 2;
    jpeg[middle..middle + 64].fill(0);
    jpeg[middle + 64] = 0xFF;
    jpeg[middle + 65] = 0xD9;

    let error = f.store.import_bytes(&jpeg).unwrap_err();

    assert_eq!(error.code(), "corrupt_image", "{error}");
    assert_store_empty(f.store.root());
}

#[test]
fn png_with_a_damaged_chunk_is_refused() {
    let f = fixture();
    let mut png = png_bytes(&DynamicImage::ImageRgb8(photo_like_rgb(300, 200, 6)));
    let middle = png.len() / 2;
    png[middle] ^= 0x55; // breaks the IDAT checksum
    let source = write_file(&f.sources, "damaged.png", &png);

    let error = f.store.import_file(&source).unwrap_err();

    assert_eq!(error.code(), "corrupt_image", "{error}");
    assert_store_empty(f.store.root());
}

#[test]
fn truncated_png_is_refused() {
    let f = fixture();
    let png = png_bytes(&DynamicImage::ImageRgb8(photo_like_rgb(300, 200, 14)));

    let error = f.store.import_bytes(&png[..png.len() / 2]).unwrap_err();

    assert_eq!(error.code(), "corrupt_image", "{error}");
    assert_store_empty(f.store.root());
}

#[test]
fn text_file_named_jpg_is_refused_as_not_media() {
    let f = fixture();
    let source = write_file(
        &f.sources,
        "photo.jpg",
        b"Customer asked for the charger left of the garage door.\n",
    );

    let error = f.store.import_file(&source).unwrap_err();

    assert_eq!(error.code(), "not_media");
    assert!(
        error
            .to_string()
            .starts_with("This file is not a photo or video"),
        "{error}"
    );
    assert_store_empty(f.store.root());
}

#[test]
fn zip_named_mp4_is_refused_as_not_media() {
    let f = fixture();
    let mut zip = b"PK\x03\x04\x14\0\0\0\x08\0".to_vec();
    zip.resize(4096, 0);
    let error = f.store.import_bytes(&zip).unwrap_err();
    assert_eq!(error.code(), "not_media");
    assert!(error.to_string().contains("zip"), "{error}");
}

#[test]
fn zero_byte_file_is_refused() {
    let f = fixture();
    let source = write_file(&f.sources, "empty.jpg", b"");

    let error = f.store.import_file(&source).unwrap_err();

    assert_eq!(error.code(), "empty_file");
    assert!(error.to_string().contains("empty"), "{error}");
    assert_eq!(f.store.import_bytes(&[]).unwrap_err().code(), "empty_file");
    assert_store_empty(f.store.root());
}

#[test]
fn missing_source_file_is_an_io_error_naming_the_file() {
    let f = fixture();
    let missing = f.sources.join("gone.jpg");
    let error = f.store.import_file(&missing).unwrap_err();
    assert_eq!(error.code(), "io");
    assert!(error.to_string().contains("gone.jpg"), "{error}");
}

#[test]
fn duplicate_import_is_stored_once() {
    let f = fixture();
    let jpeg = jpeg_bytes(&photo_like_rgb(640, 480, 7), 90);
    let first_source = write_file(&f.sources, "a.jpg", &jpeg);
    let second_source = write_file(&f.sources, "copy of a.jpg", &jpeg);

    let first = f.store.import_file(&first_source).unwrap();
    let second = f.store.import_file(&second_source).unwrap();
    let third = f.store.import_bytes(&jpeg).unwrap();

    assert!(!first.already_present);
    assert!(second.already_present && third.already_present);
    assert_eq!(first.blob, second.blob);
    assert_eq!(first.thumbnail, second.thumbnail);
    assert_eq!(blob_files(f.store.root()).len(), 1);
    assert_eq!(
        files_under(&f.store.root().join("thumbs")).len(),
        1,
        "one thumbnail"
    );
    assert!(files_under(&f.store.root().join("tmp")).is_empty());
}

#[test]
fn damaged_existing_blob_is_replaced_whole() {
    let f = fixture();
    let jpeg = jpeg_bytes(&photo_like_rgb(320, 240, 8), 90);
    let first = f.store.import_bytes(&jpeg).unwrap();
    let blob_path = f.store.blob_path(&first.blob.sha256);
    // Damage from outside the store (e.g. a half-restored backup).
    fs::write(&blob_path, &jpeg[..100]).unwrap();

    let again = f.store.import_bytes(&jpeg).unwrap();

    assert!(!again.already_present);
    assert_eq!(fs::read(&blob_path).unwrap(), jpeg);
}

#[test]
fn small_video_is_stored_without_decoding_or_thumbnail() {
    let f = fixture();
    let mut mp4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    let mut payload = vec![0u8; 300_000];
    PseudoRandom::new(9).fill(&mut payload);
    mp4.extend_from_slice(&payload);
    let source = write_file(&f.sources, "walkthrough.MP4", &mp4);

    let imported = f.store.import_file(&source).unwrap();

    assert_eq!(imported.media_type, MediaType::Video);
    assert_eq!(imported.blob.mime, "video/mp4");
    assert_eq!(imported.blob.size, mp4.len() as u64);
    assert_eq!(imported.blob.sha256, Sha256Hex::digest(&mp4));
    assert_eq!((imported.width, imported.height), (None, None));
    assert_eq!(imported.thumbnail, None);
    assert_eq!(f.store.thumbnail_path(&imported.blob.sha256), None);
    assert_eq!(
        fs::read(f.store.blob_path(&imported.blob.sha256)).unwrap(),
        mp4
    );
}

#[test]
fn signature_png_imports_from_memory() {
    let f = fixture();
    let signature = image::GrayAlphaImage::from_fn(600, 200, |x, y| {
        let on_stroke = (y as i32 - 100 - ((x as f32 / 40.0).sin() * 40.0) as i32).abs() < 3;
        image::LumaA([0, if on_stroke { 255 } else { 0 }])
    });
    let png = png_bytes(&DynamicImage::ImageLumaA8(signature));

    let imported = f.store.import_bytes(&png).unwrap();

    assert_eq!(imported.media_type, MediaType::Photo);
    assert_eq!(imported.blob.mime, "image/png");
    assert_eq!((imported.width, imported.height), (Some(600), Some(200)));
    assert_eq!(
        fs::read(f.store.blob_path(&imported.blob.sha256)).unwrap(),
        png
    );
}

#[test]
fn progress_for_a_photo_is_monotonic_and_reaches_the_size() {
    let f = fixture();
    let jpeg = jpeg_bytes(&photo_like_rgb(1600, 1200, 10), 95);
    let source = write_file(&f.sources, "big.jpg", &jpeg);
    let mut calls = Vec::new();

    f.store
        .import_file_with_progress(&source, &mut |done, total| calls.push((done, total)))
        .unwrap();

    assert!(!calls.is_empty());
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(calls.last(), Some(&(jpeg.len() as u64, jpeg.len() as u64)));
}

#[test]
fn open_removes_stale_temp_files_but_not_recent_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("media");
    drop(MediaStore::open(&root).unwrap());
    let stale = root.join("tmp/import-crashed.part");
    let recent = root.join("tmp/import-running.part");
    fs::write(&stale, b"half a video").unwrap();
    fs::write(&recent, b"a video being imported").unwrap();
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 60 * 60))
        .unwrap();

    MediaStore::open(&root).unwrap();

    assert!(!stale.exists());
    assert!(recent.exists());
}

fn turbojpeg_encode(
    pixels: &[u8],
    width: usize,
    height: usize,
    format: turbojpeg::PixelFormat,
    configure: impl FnOnce(&mut turbojpeg::Compressor),
) -> Vec<u8> {
    let mut compressor = turbojpeg::Compressor::new().unwrap();
    compressor.set_quality(88).unwrap();
    configure(&mut compressor);
    compressor
        .compress_to_vec(turbojpeg::Image {
            pixels,
            width,
            pitch: width * format.size(),
            height,
            format,
        })
        .unwrap()
}

#[test]
fn progressive_grayscale_and_cmyk_jpegs_import() {
    let f = fixture();
    let rgb = photo_like_rgb(900, 600, 11);

    let progressive = turbojpeg_encode(rgb.as_raw(), 900, 600, turbojpeg::PixelFormat::RGB, |c| {
        c.set_progressive(true).unwrap();
    });
    let gray_pixels: Vec<u8> = rgb.pixels().map(|p| p[1]).collect();
    let grayscale = turbojpeg_encode(&gray_pixels, 900, 600, turbojpeg::PixelFormat::GRAY, |c| {
        c.set_subsamp(turbojpeg::Subsamp::Gray).unwrap();
    });
    // Print-shop CMYK: libjpeg-turbo cannot convert it to RGB, `image` can.
    let cmyk_pixels: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0])
        .collect();
    let cmyk = turbojpeg_encode(&cmyk_pixels, 900, 600, turbojpeg::PixelFormat::CMYK, |c| {
        c.set_colorspace(turbojpeg::Colorspace::CMYK).unwrap();
        c.set_subsamp(turbojpeg::Subsamp::None).unwrap();
    });

    // A progressive JPEG cut short still has every pixel (earlier scans are
    // coarse versions of the image), but it is incomplete: refused.
    let cut = &progressive[..progressive.len() * 7 / 10];
    assert_eq!(
        f.store.import_bytes(cut).unwrap_err().code(),
        "corrupt_image"
    );

    for (name, jpeg) in [
        ("progressive", progressive),
        ("grayscale", grayscale),
        ("cmyk", cmyk),
    ] {
        let imported = f
            .store
            .import_bytes(&jpeg)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(imported.blob.mime, "image/jpeg", "{name}");
        assert_eq!(
            (imported.width, imported.height),
            (Some(900), Some(600)),
            "{name}"
        );
        let thumbnail = decode_thumbnail(&imported.thumbnail.unwrap());
        assert_eq!(thumbnail.dimensions(), (320, 213), "{name}");
    }
}

#[test]
fn lossless_webp_imports() {
    let f = fixture();
    let rgb = photo_like_rgb(500, 400, 12);
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .encode(rgb.as_raw(), 500, 400, image::ExtendedColorType::Rgb8)
        .unwrap();

    let imported = f.store.import_bytes(&webp).unwrap();

    assert_eq!(imported.blob.mime, "image/webp");
    assert_eq!((imported.width, imported.height), (Some(500), Some(400)));
    assert_eq!(
        decode_thumbnail(&imported.thumbnail.unwrap()).dimensions(),
        (320, 256)
    );
}

#[test]
fn failure_while_storing_leaves_no_temp_file_no_thumbnail_and_no_blob() {
    let f = fixture();
    let jpeg = jpeg_bytes(&photo_like_rgb(640, 480, 13), 90);
    let sha = Sha256Hex::digest(&jpeg);
    // A file squatting on the blob's shard directory name makes the final
    // step (creating `ab/` and renaming into it) fail after the photo was
    // checked, hashed, written and its thumbnail stored.
    let squatter = f.store.root().join(&sha.as_str()[..2]);
    fs::write(&squatter, b"not a directory").unwrap();

    let error = f.store.import_bytes(&jpeg).unwrap_err();

    assert_eq!(error.code(), "io", "{error}");
    assert!(!f.store.contains(&sha));
    assert_eq!(f.store.thumbnail_path(&sha), None);
    assert!(files_under(&f.store.root().join("tmp")).is_empty());
    assert!(files_under(&f.store.root().join("thumbs")).is_empty());
    assert_eq!(blob_files(f.store.root()), vec![squatter]);
}

#[test]
fn error_codes_are_stable() {
    let f = fixture();
    let cases: [(&[u8], &str); 4] = [
        (b"", "empty_file"),
        (b"just some text", "not_media"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01garbage", "corrupt_image"),
        (
            b"\0\0\0\x18ftypavif\0\0\0\0avifmif1",
            "unsupported_photo_format",
        ),
    ];
    for (bytes, code) in cases {
        assert_eq!(f.store.import_bytes(bytes).unwrap_err().code(), code);
    }
    assert_store_empty(f.store.root());
}
