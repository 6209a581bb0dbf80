//! Test media: real image bytes, customer signatures and signed reports.

use std::path::{Path, PathBuf};

use chrono::Utc;
use fieldbook_domain::{
    BlobRef, CustomerSignature, InstallationMedia, InstallationReport, MediaType, PhotoSlotFills,
    ReportDraft, ReportTemplate, Sha256Hex, SignaturePoint, SignatureStroke, TestResults,
    TestValue, ValidationErrors,
};
use uuid::Uuid;

/// A real PNG of `w`×`h` pixels; `seed` makes different images.
pub fn png_bytes(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_add(seed), y as u8, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// Writes a real 64×48 JPEG photo to `dir/name` and returns its path.
pub fn write_jpeg(dir: &Path, name: &str, seed: u8) -> PathBuf {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(2),
            seed,
        ])
    });
    let path = dir.join(name);
    img.save_with_format(&path, image::ImageFormat::Jpeg)
        .expect("write jpeg");
    path
}

/// A photo of a charger's rating plate (a textured wall, a white label with
/// lines of "text" and a QR code carrying `payload`), `w`×`h` pixels, as
/// JPEG: what the technician photographs for the serial number.
pub fn qr_label_jpeg(payload: &str, w: u32, h: u32) -> Vec<u8> {
    use rxing::Writer;
    let matrix = rxing::MultiFormatWriter
        .encode(payload, &rxing::BarcodeFormat::QR_CODE, 0, 0)
        .expect("the payload fits a QR code");
    // The label takes the middle half of the photo; the code a third of it.
    let (lx, ly, lw, lh) = (w / 4, h / 4, w / 2, h / 2);
    let module = (lh / 3 / matrix.height()).max(2);
    let (cx, cy) = (lx + lw / 2 - matrix.width() * module / 2, ly + lh / 2);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let in_label = (lx..lx + lw).contains(&x) && (ly..ly + lh).contains(&y);
        if !in_label {
            let v = (100 + (x / 30 + y / 45) % 25 + (x * 7 + y * 13) % 9) as u8;
            return image::Rgb([v, v - 5, v - 15]);
        }
        let in_code = x >= cx
            && y >= cy
            && (x - cx) / module < matrix.width()
            && (y - cy) / module < matrix.height();
        let dark = if in_code {
            matrix.get((x - cx) / module, (y - cy) / module)
        } else {
            // Three lines of "text" above the code.
            let line = (y.saturating_sub(ly + lh / 10)) / (lh / 10);
            y > ly + lh / 10
                && line < 3
                && (y - ly) % (lh / 10) < lh / 20
                && x > lx + lw / 10
                && x < lx + lw * 8 / 10
                && (x / 9) % 6 != 5
        };
        if dark {
            image::Rgb([25, 25, 30])
        } else {
            image::Rgb([238, 238, 232])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    out.into_inner()
}

/// Writes [`qr_label_jpeg`] (1200×900) to `dir/serial-label.jpg`.
pub fn qr_label_photo(dir: &Path, payload: &str) -> PathBuf {
    let path = dir.join("serial-label.jpg");
    std::fs::write(&path, qr_label_jpeg(payload, 1200, 900)).expect("write the label photo");
    path
}

/// The pen strokes of a short signature (20 points).
pub fn signature_strokes() -> Vec<SignatureStroke> {
    vec![SignatureStroke {
        pen_color: "#000".into(),
        min_width: 0.5,
        max_width: 2.5,
        points: (0..20)
            .map(|i| SignaturePoint {
                x: f64::from(i) * 3.0,
                y: 10.0 + f64::from(i % 5),
                pressure: 0.5,
                time: 1_700_000_000_000.0 + f64::from(i) * 16.0,
            })
            .collect(),
    }]
}

/// The PNG the signature pad would hand over for [`signature_strokes`].
pub fn signature_png() -> Vec<u8> {
    png_bytes(120, 40, 7)
}

/// A handwritten-looking signature, for screenshots: a 480×160 PNG with
/// the strokes it was drawn from.
pub fn drawn_signature() -> (Vec<u8>, Vec<SignatureStroke>) {
    let (w, h) = (480u32, 160u32);
    let points: Vec<SignaturePoint> = (0..160)
        .map(|i| {
            let t = f64::from(i) / 160.0;
            SignaturePoint {
                x: 30.0 + t * 420.0,
                y: 85.0 - 38.0 * (t * 18.0).sin() * (1.0 - t * 0.6) + 12.0 * (t * 5.0).cos(),
                pressure: 0.5,
                time: 1_780_000_000_000.0 + f64::from(i) * 12.0,
            }
        })
        .collect();
    let mut img = image::RgbaImage::from_pixel(w, h, image::Rgba([255, 255, 255, 0]));
    for pair in points.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        for step in 0..=8 {
            let s = f64::from(step) / 8.0;
            let (cx, cy) = (a.x + (b.x - a.x) * s, a.y + (b.y - a.y) * s);
            for dx in -2i32..=2 {
                for dy in -2i32..=2 {
                    let (px, py) = (cx as i32 + dx, cy as i32 + dy);
                    if dx * dx + dy * dy <= 4
                        && px >= 0
                        && py >= 0
                        && (px as u32) < w
                        && (py as u32) < h
                    {
                        img.put_pixel(px as u32, py as u32, image::Rgba([20, 30, 90, 255]));
                    }
                }
            }
        }
    }
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .expect("encode the signature PNG in memory");
    let strokes = vec![SignatureStroke {
        pen_color: "#141e5a".into(),
        min_width: 1.5,
        max_width: 3.5,
        points,
    }];
    (png.into_inner(), strokes)
}

/// A photo of the installation whose blob is `bytes` (not uploaded: the
/// server holds it as "awaiting blob").
pub fn photo(installation_id: Uuid, bytes: &[u8]) -> InstallationMedia {
    InstallationMedia {
        id: Uuid::new_v4(),
        installation_id,
        media_type: MediaType::Photo,
        file: BlobRef {
            sha256: Sha256Hex::digest(bytes),
            size: bytes.len() as u64,
            mime: "image/jpeg".into(),
        },
        caption: "Charger on the garage wall".into(),
        uploaded_by: Uuid::nil(),
        uploaded_at: Utc::now(),
    }
}

/// A complete report over the given media hashes, signed by the customer
/// over exactly that content.
pub fn signed_report(installation_id: Uuid, media: &[Sha256Hex]) -> InstallationReport {
    let mut draft = ReportDraft::new(installation_id, Utc::now());
    draft.charger_serial_number = "SN-123456".into();
    draft.charger_model = "Zappi 7kW".into();
    draft.installation_successful = Some(true);
    draft.demo_given = true;
    draft.general_notes = "All good.".into();
    let content_hash = draft.content_hash(media);
    let png = signature_png();
    draft.customer_signature = Some(CustomerSignature {
        png: BlobRef {
            sha256: Sha256Hex::digest(&png),
            size: png.len() as u64,
            mime: "image/png".into(),
        },
        strokes: signature_strokes(),
        signer_name: "Ada Customer".into(),
        signed_at: Utc::now(),
        content_hash,
    });
    draft
        .into_report(Uuid::new_v4(), Uuid::nil(), Utc::now(), media, None)
        .expect("a complete report")
}

/// Test results that complete the default UK template for an ordinary
/// TN-C-S job without load management.
pub fn uk_test_results() -> TestResults {
    [
        ("earthing_arrangement", "tn-c-s"),
        ("pen_fault_protection", "yes"),
        ("pen_fault_method", "charger-open-pen"),
        ("ze", "0.21"),
        ("zs", "0.48"),
        ("r1_r2", "0.27"),
        ("insulation_resistance", "999"),
        ("insulation_test_voltage", "500"),
        ("polarity_confirmed", "yes"),
        ("rcd_type", "a-rdc-dd"),
        ("rcd_trip_time", "23.5"),
        ("maximum_demand", "63"),
        ("load_management_fitted", "no"),
        ("dno_notification_required", "no"),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_owned(),
            TestValue {
                value: v.to_owned(),
                confirmed: None,
            },
        )
    })
    .collect()
}

/// A complete report filled against `template` with these results and
/// photo slots, signed over exactly that content and `media`.
pub fn signed_templated_report(
    installation_id: Uuid,
    media: &[Sha256Hex],
    template: &ReportTemplate,
    test_results: TestResults,
    photo_slots: PhotoSlotFills,
) -> Result<InstallationReport, ValidationErrors> {
    let mut draft = ReportDraft::new(installation_id, Utc::now());
    draft.charger_serial_number = "SN-123456".into();
    draft.charger_model = "Zappi 7kW".into();
    draft.installation_successful = Some(true);
    draft.demo_given = true;
    draft.template = Some(template.template_ref());
    draft.test_results = test_results;
    draft.photo_slots = photo_slots;
    let content_hash = draft.content_hash(media);
    let png = signature_png();
    draft.customer_signature = Some(CustomerSignature {
        png: BlobRef {
            sha256: Sha256Hex::digest(&png),
            size: png.len() as u64,
            mime: "image/png".into(),
        },
        strokes: signature_strokes(),
        signer_name: "Ada Customer".into(),
        signed_at: Utc::now(),
        content_hash,
    });
    draft.into_report(
        Uuid::new_v4(),
        Uuid::nil(),
        Utc::now(),
        media,
        Some(template),
    )
}

/// Fills a draft's test results and photo checklist for the default UK
/// template (an ordinary TN-C-S job), each required photo slot with a
/// stated reason: what a test that is not about templates needs before it
/// can submit.
pub fn fill_default_template(draft: &mut ReportDraft) {
    draft.test_results = uk_test_results();
    draft.photo_slots = fieldbook_domain::default_uk_template()
        .photo_slots
        .iter()
        .filter(|s| s.required == fieldbook_domain::template::Requirement::Always)
        .map(|s| {
            (
                s.key.clone(),
                fieldbook_domain::SlotFill::NoPhoto {
                    reason: "Test job: no camera".into(),
                },
            )
        })
        .collect();
}
