//! Reading serial labels: Code 128, QR and Data Matrix codes generated here
//! (rxing's writers), printed onto a label-like photo, then turned, blurred
//! and photographed at an angle (a perspective warp). Prints the read rate
//! per format and distortion; asserts the rates the technician relies on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fieldbook_domain::label::{read_label, CodeFormat, LabelCode};
use fieldbook_media::label_codes::{find_codes, search_codes, SearchDepth};
use fieldbook_media::sealed::SEALED_MAGIC;
use fieldbook_media::{MediaKey, MediaStore};
use image::{GrayImage, Luma};
use rxing::{BarcodeFormat, MultiFormatWriter, Writer};

/// The app stops starting search passes after this much time on one photo
/// (`fieldbook_store::LABEL_SEARCH_BUDGET`).
const APP_SEARCH_CAP: Duration = Duration::from_secs(3);

const PHOTO_W: u32 = 1280;
const PHOTO_H: u32 = 960;

/// Serial-like payloads (deterministic, varied lengths and alphabets).
fn serials() -> Vec<String> {
    (0..6)
        .map(|i| {
            format!(
                "EV{}-{:04}-{:06}",
                ["A", "BX", "T2", "Z", "QP", "K"][i],
                2020 + i,
                104_729 * (i + 3)
            )
        })
        .collect()
}

/// The code's modules as a bitmap, `module_px` pixels per module
/// (bars `bar_height` px tall for 1D codes).
fn render_code(format: &BarcodeFormat, text: &str, module_px: u32, bar_height: u32) -> GrayImage {
    let matrix = MultiFormatWriter
        .encode(text, format, 0, 0)
        .expect("the writer encodes the payload");
    let one_d = matrix.height() == 1;
    let (w, h) = if one_d {
        (matrix.width() * module_px, bar_height)
    } else {
        (matrix.width() * module_px, matrix.height() * module_px)
    };
    GrayImage::from_fn(w, h, |x, y| {
        let (mx, my) = (x / module_px, if one_d { 0 } else { y / module_px });
        if matrix.get(mx, my) {
            Luma([20])
        } else {
            Luma([245])
        }
    })
}

/// A photo of a rating plate: grey surroundings, a white label with some
/// "text" blocks, the code in its lower part.
fn label_photo(code: &GrayImage) -> GrayImage {
    let mut photo = GrayImage::from_fn(PHOTO_W, PHOTO_H, |x, y| {
        // A gentle gradient and texture, like a wall behind the charger.
        Luma([(110 + (x / 40 + y / 60) % 20 + ((x * 7 + y * 13) % 9)) as u8])
    });
    let (lx, ly, lw, lh) = (240, 160, 800, 640);
    for y in ly..ly + lh {
        for x in lx..lx + lw {
            photo.put_pixel(x, y, Luma([240]));
        }
    }
    // "Text" lines above the code.
    for line in 0..4 {
        let y0 = ly + 40 + line * 45;
        for y in y0..y0 + 18 {
            for x in (lx + 40..lx + 40 + 300 + line * 70).filter(|x| (x / 14) % 5 != 4) {
                photo.put_pixel(x, y, Luma([40]));
            }
        }
    }
    let cx = lx + (lw - code.width().min(lw)) / 2;
    let cy = ly + lh - code.height() - 60;
    image::imageops::overlay(&mut photo, code, i64::from(cx), i64::from(cy));
    photo
}

/// A projective warp given by where the four corners of the photo go
/// (top-left, top-right, bottom-right, bottom-left), filled with mid grey.
fn warp(photo: &GrayImage, corners: [(f64, f64); 4]) -> GrayImage {
    let (w, h) = (f64::from(photo.width()), f64::from(photo.height()));
    let source = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    // Map from output to source: solve the homography destination → source.
    let m = homography(corners, source);
    GrayImage::from_fn(photo.width(), photo.height(), |x, y| {
        let (xf, yf) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let d = m[6] * xf + m[7] * yf + 1.0;
        let sx = (m[0] * xf + m[1] * yf + m[2]) / d;
        let sy = (m[3] * xf + m[4] * yf + m[5]) / d;
        if sx < 0.0 || sy < 0.0 || sx >= w - 1.0 || sy >= h - 1.0 {
            return Luma([128]);
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let p = |x, y| f64::from(photo.get_pixel(x, y).0[0]);
        let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
        let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
        Luma([(top * (1.0 - fy) + bottom * fy).round() as u8])
    })
}

/// The 3×3 homography (h33 = 1) taking `from[i]` to `to[i]`, by Gaussian
/// elimination of the usual 8×8 system.
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> [f64; 8] {
    let mut a = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let ((x, y), (u, v)) = (from[i], to[i]);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let pivot = (col..8)
            .max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let factor = values[col] / pivot_row[col];
                for (value, pivot_value) in values.iter_mut().zip(pivot_row).skip(col) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    std::array::from_fn(|i| a[i][8] / a[i][i])
}

fn rotate(photo: &GrayImage, degrees: f64) -> GrayImage {
    let (w, h) = (f64::from(photo.width()), f64::from(photo.height()));
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w / 2.0, h / 2.0);
    let turn = |(x, y): (f64, f64)| {
        let (dx, dy) = (x - cx, y - cy);
        (cx + cos * dx - sin * dy, cy + sin * dx + cos * dy)
    };
    warp(
        photo,
        [
            turn((0.0, 0.0)),
            turn((w, 0.0)),
            turn((w, h)),
            turn((0.0, h)),
        ],
    )
}

/// Photographed from the lower left, about 35° off the label's normal.
fn perspective(photo: &GrayImage) -> GrayImage {
    let (w, h) = (f64::from(photo.width()), f64::from(photo.height()));
    warp(
        photo,
        [
            (0.12 * w, 0.18 * h),
            (0.95 * w, 0.02 * h),
            (0.9 * w, 0.98 * h),
            (0.08 * w, 0.8 * h),
        ],
    )
}

#[derive(Clone, Copy)]
enum Distortion {
    Straight,
    Rotated90,
    Rotated12,
    Rotated35,
    Blurred1,
    Blurred2,
    Perspective,
    PerspectiveBlurred,
}

impl Distortion {
    const ALL: [Distortion; 8] = [
        Distortion::Straight,
        Distortion::Rotated90,
        Distortion::Rotated12,
        Distortion::Rotated35,
        Distortion::Blurred1,
        Distortion::Blurred2,
        Distortion::Perspective,
        Distortion::PerspectiveBlurred,
    ];

    fn name(self) -> &'static str {
        match self {
            Distortion::Straight => "straight",
            Distortion::Rotated90 => "rotated 90°",
            Distortion::Rotated12 => "rotated 12°",
            Distortion::Rotated35 => "rotated 35°",
            Distortion::Blurred1 => "blur σ=1",
            Distortion::Blurred2 => "blur σ=2",
            Distortion::Perspective => "perspective",
            Distortion::PerspectiveBlurred => "perspective+blur σ=1",
        }
    }

    fn apply(self, photo: &GrayImage) -> GrayImage {
        match self {
            Distortion::Straight => photo.clone(),
            Distortion::Rotated90 => image::imageops::rotate90(photo),
            Distortion::Rotated12 => rotate(photo, 12.0),
            Distortion::Rotated35 => rotate(photo, 35.0),
            Distortion::Blurred1 => image::imageops::blur(photo, 1.0),
            Distortion::Blurred2 => image::imageops::blur(photo, 2.0),
            Distortion::Perspective => perspective(photo),
            Distortion::PerspectiveBlurred => image::imageops::blur(&perspective(photo), 1.0),
        }
    }
}

fn code_image(format: CodeFormat, serial: &str) -> (GrayImage, String) {
    match format {
        CodeFormat::Code128 => (
            render_code(&BarcodeFormat::CODE_128, serial, 3, 120),
            serial.to_owned(),
        ),
        CodeFormat::QrCode => {
            let payload = format!("SN={serial};MODEL=Pulsar Plus 7.4kW");
            (
                render_code(&BarcodeFormat::QR_CODE, &payload, 6, 0),
                payload,
            )
        }
        CodeFormat::DataMatrix => {
            let payload = format!("SN={serial};MODEL=Zappi 2H07");
            (
                render_code(&BarcodeFormat::DATA_MATRIX, &payload, 7, 0),
                payload,
            )
        }
        CodeFormat::Code39 => unreachable!("not generated here"),
    }
}

#[test]
fn read_rates_per_format_and_distortion() {
    let formats = [
        CodeFormat::Code128,
        CodeFormat::QrCode,
        CodeFormat::DataMatrix,
    ];
    // (read, generated, read within the app's time cap).
    let mut rates: BTreeMap<(usize, usize), (u32, u32, u32)> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (fi, format) in formats.iter().enumerate() {
        for serial in serials() {
            let (code, payload) = code_image(*format, &serial);
            let photo = label_photo(&code);
            for (di, distortion) in Distortion::ALL.iter().enumerate() {
                let distorted = distortion.apply(&photo);
                let started = Instant::now();
                let codes = search_codes(&distorted, None).codes;
                let took = started.elapsed();
                let entry = rates.entry((fi, di)).or_default();
                entry.1 += 1;
                if codes
                    .iter()
                    .any(|c| c.format == *format && c.text == payload)
                {
                    entry.0 += 1;
                    // Passes run in order, so a search that ended within the
                    // cap also reads it when capped.
                    if took <= APP_SEARCH_CAP {
                        entry.2 += 1;
                    }
                }
                // A code that is read must be read right (no misreads, ever).
                for c in &codes {
                    if c.text != payload {
                        wrong.push(format!(
                            "{:?} {} read {:?}",
                            format,
                            distortion.name(),
                            c.text
                        ));
                    }
                }
            }
        }
    }
    println!(
        "read rate (codes read / generated; in brackets: read within {APP_SEARCH_CAP:?}), \
         {PHOTO_W}×{PHOTO_H} label photos:"
    );
    print!("{:<22}", "distortion");
    for format in formats {
        print!("{:>18}", format.label());
    }
    println!();
    for (di, distortion) in Distortion::ALL.iter().enumerate() {
        print!("{:<22}", distortion.name());
        for fi in 0..formats.len() {
            let (read, total, in_cap) = rates[&(fi, di)];
            print!("{:>18}", format!("{read}/{total} ({in_cap})"));
        }
        println!();
    }
    assert!(wrong.is_empty(), "misreads: {wrong:?}");
    // What the technician relies on: a label photographed straight, turned
    // on its side, slightly blurred or at an angle is read every time.
    for (di, distortion) in Distortion::ALL.iter().enumerate() {
        if matches!(
            distortion,
            Distortion::Blurred2 | Distortion::PerspectiveBlurred | Distortion::Rotated35
        ) {
            continue;
        }
        for (fi, format) in formats.iter().enumerate() {
            let (read, total, _) = rates[&(fi, di)];
            assert_eq!(
                read,
                total,
                "{} {}: {read}/{total}",
                format.label(),
                distortion.name()
            );
        }
    }
}

#[test]
fn a_stored_label_photo_is_searched_after_its_import_and_offers_its_serial() {
    let serial = "WB-PLS-0042178";
    let (code, payload) = code_image(CodeFormat::QrCode, serial);
    let photo = image::DynamicImage::ImageLuma8(label_photo(&code)).to_rgb8();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("label.jpg");
    photo.save(&path).unwrap();

    let store = MediaStore::open(dir.path().join("media")).unwrap();
    let imported = store.import_file(&path).unwrap();
    let search = store
        .search_label_codes(
            &imported.blob.sha256,
            SearchDepth::Full,
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(search.complete);
    assert_eq!(
        search.codes,
        vec![LabelCode {
            format: CodeFormat::QrCode,
            text: payload,
            gs1: false
        }]
    );
    let offer = read_label(&search.codes[0]).unwrap();
    assert_eq!(offer.serial_number.as_deref(), Some(serial));

    // Stored encrypted at rest (as the app stores it), the photo is
    // searched decrypted and offers the same; a video is not searched.
    let sealed =
        MediaStore::open_encrypted(dir.path().join("sealed"), MediaKey::new([5; 32])).unwrap();
    let sha = sealed.import_file(&path).unwrap().blob.sha256;
    assert!(std::fs::read(sealed.blob_path(&sha))
        .unwrap()
        .starts_with(&SEALED_MAGIC));
    let found = sealed
        .search_label_codes(&sha, SearchDepth::Full, Duration::from_secs(30))
        .unwrap();
    assert_eq!(found.codes, search.codes);
    let mut video = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2".to_vec();
    video.resize(200_000, 7);
    let video = sealed.import_bytes(&video).unwrap().blob.sha256;
    let none = sealed
        .search_label_codes(&video, SearchDepth::Full, Duration::from_secs(30))
        .unwrap();
    assert!(none.codes.is_empty());
    assert_eq!(offer.model.as_deref(), Some("Pulsar Plus 7.4kW"));

    // A GS1-128 label (FNC1 first, then between variable-length fields):
    // read as GS1, serial from AI 21, model from AI 240.
    let code = render_code_with_gs1("\u{f1}0104012345678901\u{f1}21SER778899\u{f1}240EVB-22");
    let codes = find_codes(&label_photo(&code));
    assert_eq!(
        codes,
        vec![LabelCode {
            format: CodeFormat::Code128,
            text: "0104012345678901\u{1d}21SER778899\u{1d}240EVB-22".to_owned(),
            gs1: true
        }]
    );
    let reading = read_label(&codes[0]).unwrap();
    assert_eq!(reading.serial_number.as_deref(), Some("SER778899"));
    assert_eq!(reading.model.as_deref(), Some("EVB-22"));

    // A photo without any code: every pass runs without a cap; with a cap
    // the search stops starting passes at the deadline and says so.
    let blank = label_photo(&GrayImage::from_pixel(10, 10, Luma([240])));
    let blank = image::imageops::resize(&blank, 2048, 1536, image::imageops::FilterType::Triangle);
    let started = Instant::now();
    let whole = search_codes(&blank, None);
    let uncapped = started.elapsed();
    assert!(whole.codes.is_empty() && whole.complete);
    let started = Instant::now();
    let capped = search_codes(&blank, Some(started));
    assert!(!capped.complete, "{capped:?}");
    assert_eq!(capped.passes, 1);
    println!(
        "no-code photo 2048×1536: all {} passes {uncapped:?}; capped at once: 1 pass {:?}",
        whole.passes,
        started.elapsed()
    );

    // A photo without a code has none, and a video is not searched.
    let plain = dir.path().join("plain.png");
    GrayImage::from_pixel(200, 100, Luma([90]))
        .save(&plain)
        .unwrap();
    let plain = store.import_file(&plain).unwrap();
    let search = store
        .search_label_codes(
            &plain.blob.sha256,
            SearchDepth::Full,
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(search.codes.is_empty() && search.complete);
}

/// rxing's Code 128 writer takes U+00F1 as FNC1.
fn render_code_with_gs1(text: &str) -> GrayImage {
    let matrix = MultiFormatWriter
        .encode(text, &BarcodeFormat::CODE_128, 0, 0)
        .unwrap();
    GrayImage::from_fn(matrix.width() * 2, 120, |x, _| {
        if matrix.get(x / 2, 0) {
            Luma([20])
        } else {
            Luma([245])
        }
    })
}
