//! The certificate as a person and a machine see it: `pdftotext` finds the
//! serial, the test values and the content hash; `qpdf --check` passes;
//! `pdffonts` shows every font embedded; page 1 rendered by `pdftoppm` has a
//! QR code that decodes to the verification address.
//!
//! Set FIELDBOOK_UPDATE_SCREENSHOTS=1 to write page 1 to
//! docs/screenshots/certificate-page-1.png.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use std::collections::BTreeMap;

use fieldbook_certificate::{
    render, render_pages, results_from_report, verify_url, CertificateInput, CertificatePhoto,
    CertificateSignature,
};
use fieldbook_domain::{default_uk_template, InstallationReport, SlotFill, TestValue};
use image::{Rgb, RgbImage, Rgba, RgbaImage};

const HASH: &str = "9f2c4e1a7b3d5f60812a4c6e8b0d2f4165879a0bc2de4f6a8b0c1d2e3f405162";

fn run(tool: &str, args: &[&str]) -> std::process::Output {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool} is needed (Debian: apt-get install poppler-utils qpdf): {e}")
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A photo-like thumbnail (320×240 JPEG): a wall, a charger, a cable.
fn photo(seed: u8) -> Vec<u8> {
    let image = RgbImage::from_fn(320, 240, |x, y| {
        let wall = 170 + ((x / 8 + y / 11 + u32::from(seed)) % 25) as u8;
        let in_charger = (110..210).contains(&x) && (50..190).contains(&y);
        let in_cable = (150..160).contains(&x) && y >= 190;
        if in_charger {
            Rgb([40 + seed, 45, 50])
        } else if in_cable {
            Rgb([20, 20, 20])
        } else {
            Rgb([wall, wall - 10, wall - 25])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A signature pad PNG: dark strokes on transparent.
fn signature_png() -> Vec<u8> {
    let mut image = RgbaImage::from_pixel(600, 200, Rgba([0, 0, 0, 0]));
    for i in 0..560u32 {
        let x = 20 + i;
        let y = (100.0 + 45.0 * ((i as f32) / 38.0).sin() * (1.0 - i as f32 / 700.0)) as u32;
        for dy in 0..4 {
            image.put_pixel(x, y + dy, Rgba([15, 25, 60, 255]));
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A submitted report filled against the default UK template, as the
/// device holds it: the certificate's results come from it as in the app.
fn report() -> InstallationReport {
    let value = |v: &str| TestValue {
        value: v.to_owned(),
        confirmed: None,
    };
    let test_results: BTreeMap<String, TestValue> = [
        ("earthing_arrangement", "tn-c-s"),
        ("pen_fault_protection", "yes"),
        ("pen_fault_method", "charger-open-pen"),
        ("ze", "0.21"),
        ("zs", "0.35"),
        ("r1_r2", "0.14"),
        ("insulation_resistance", "299"),
        ("insulation_test_voltage", "500"),
        ("polarity_confirmed", "yes"),
        ("rcd_type", "a-rdc-dd"),
        ("rcd_trip_time", "23"),
        ("maximum_demand", "63"),
        ("load_management_fitted", "yes"),
        ("load_management_limit", "60"),
        ("dno_notification_required", "yes"),
        ("dno_notified", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), value(v)))
    .collect();
    InstallationReport {
        id: uuid::Uuid::from_u128(1),
        installation_id: uuid::Uuid::from_u128(2),
        submitted_by: uuid::Uuid::from_u128(3),
        charger_serial_number: "WB-PLS-2026-0042178".to_owned(),
        charger_model: "Pulsar Plus 7.4 kW (Type 2, tethered)".to_owned(),
        installation_successful: true,
        demo_given: true,
        customer_signature: None,
        issues_encountered: String::new(),
        general_notes: "Cable run clipped along the garage wall and through the loft; \
                        customer shown the app and the lock-out button."
            .to_owned(),
        submitted_at: Utc.with_ymd_and_hms(2026, 11, 30, 14, 5, 0).unwrap(),
        start_override_reason: None,
        content_hash: HASH.parse().unwrap(),
        template: Some(default_uk_template().template_ref()),
        test_results,
        photo_slots: BTreeMap::from([(
            "ct-clamp".to_owned(),
            SlotFill::NoPhoto {
                reason: "No load management CT: supply has 100 A headroom".to_owned(),
            },
        )]),
    }
}

fn input() -> CertificateInput {
    let submitted_at = Utc.with_ymd_and_hms(2026, 11, 30, 14, 5, 0).unwrap();
    CertificateInput {
        installation_number: "INS-2026-000123".to_owned(),
        customer_name: "Ada Lovelace".to_owned(),
        site_address: vec![
            "12 Analytical Row".to_owned(),
            "Marylebone, London".to_owned(),
            "NW1 6XE".to_owned(),
        ],
        installed_by: "Sam Sparks".to_owned(),
        submitted_at,
        charger_model: "Pulsar Plus 7.4 kW (Type 2, tethered)".to_owned(),
        charger_serial_number: "WB-PLS-2026-0042178".to_owned(),
        results: results_from_report(&report(), Some(&default_uk_template())),
        photos: vec![
            CertificatePhoto {
                caption: "Charger installed, wide".to_owned(),
                image: photo(1),
            },
            CertificatePhoto {
                caption: "Serial label".to_owned(),
                image: photo(30),
            },
            CertificatePhoto {
                caption: "Consumer unit and protective device".to_owned(),
                image: photo(60),
            },
            CertificatePhoto {
                caption: "Cable route".to_owned(),
                image: photo(90),
            },
            CertificatePhoto {
                caption: "Earthing".to_owned(),
                image: photo(120),
            },
        ],
        signature: Some(CertificateSignature {
            signer_name: "Ada Lovelace".to_owned(),
            signed_at: submitted_at - chrono::Duration::minutes(3),
            png: signature_png(),
        }),
        content_hash: HASH.to_owned(),
        verify_url: verify_url("https://fieldbook.example.com/", "INS-2026-000123", HASH),
    }
}

fn write_pdf(dir: &Path, input: &CertificateInput) -> PathBuf {
    let pdf = render(input).expect("the certificate renders");
    assert!(pdf.starts_with(b"%PDF-"));
    let path = dir.join("certificate.pdf");
    std::fs::write(&path, pdf).unwrap();
    path
}

#[test]
fn the_pdf_has_the_serial_the_results_and_the_hash_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = write_pdf(dir.path(), &input());
    let text = run("pdftotext", &["-layout", pdf.to_str().unwrap(), "-"]);
    let text = String::from_utf8(text.stdout).unwrap();
    for expected in [
        "Completion certificate",
        "INS-2026-000123",
        "Ada Lovelace",
        "NW1 6XE",
        "WB-PLS-2026-0042178",
        "Pulsar Plus 7.4 kW",
        "TN-C-S (PME)",
        "0.35 Ω",
        "299 MΩ",
        "500 V DC",
        "RCD trip time at IΔn",
        "23 ms",
        "Load management limit",
        "60 A",
        "Photos not taken",
        "No load management CT",
        "Serial label",
        "Sam Sparks",
        "30 Nov 2026, 14:05 UTC",
        "30 Nov 2026, 14:02 UTC",
        HASH,
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}

#[test]
fn the_pdf_is_valid_with_every_font_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = write_pdf(dir.path(), &input());
    let pdf = pdf.to_str().unwrap();
    run("qpdf", &["--check", pdf]);
    let fonts = String::from_utf8(run("pdffonts", &[pdf]).stdout).unwrap();
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(rows.len() >= 3, "{fonts}");
    for row in rows {
        // Columns: name type encoding emb sub uni object ID.
        let columns: Vec<&str> = row.split_whitespace().collect();
        let emb = columns[columns.len() - 5];
        assert_eq!(emb, "yes", "font not embedded: {row}");
        assert!(row.contains("DejaVu"), "{row}");
    }
    let info = String::from_utf8(run("pdfinfo", &[pdf]).stdout).unwrap();
    assert!(info.contains("595.28 x 841.89 pts (A4)"), "{info}");
}

#[test]
fn page_one_has_a_readable_qr_code_with_the_verification_address() {
    let dir = tempfile::tempdir().unwrap();
    let input = input();
    let pdf = write_pdf(dir.path(), &input);
    let prefix = dir.path().join("page");
    run(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "110",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let png = dir.path().join("page.png");
    if let Ok(keep) = std::env::var("FIELDBOOK_CERTIFICATE_KEEP") {
        std::fs::copy(&pdf, Path::new(&keep).join("certificate.pdf")).unwrap();
        std::fs::copy(&png, Path::new(&keep).join("page-1.png")).unwrap();
    }
    let page = image::open(&png).unwrap().into_luma8();
    let codes = fieldbook_media::label_codes::find_codes(&page);
    assert!(
        codes.iter().any(|c| c.text == input.verify_url),
        "QR codes read: {codes:?}"
    );
    if std::env::var("FIELDBOOK_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let dest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/screenshots/certificate-page-1.png");
        std::fs::copy(&png, dest).unwrap();
    }
}

#[test]
fn an_unsigned_report_and_many_photos_flow_onto_more_pages() {
    let mut input = input();
    input.signature = None;
    let more: Vec<CertificatePhoto> = (0..24)
        .map(|i| CertificatePhoto {
            caption: format!("Photo {i}"),
            image: photo(i as u8 * 7),
        })
        .collect();
    input.photos.extend(more);
    let dir = tempfile::tempdir().unwrap();
    let pdf = write_pdf(dir.path(), &input);
    let info = String::from_utf8(run("pdfinfo", &[pdf.to_str().unwrap()]).stdout).unwrap();
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(pages >= 2, "{info}");
    let text = String::from_utf8(run("pdftotext", &[pdf.to_str().unwrap(), "-"]).stdout).unwrap();
    assert!(text.contains("Not signed by the customer."));
    assert!(text.contains(&format!("page {pages} of {pages}")));
    assert!(text.contains(HASH));
}

#[test]
fn the_pages_drawn_for_the_screen_show_what_prints() {
    let input = input();
    let pdf = render(&input).unwrap();
    let pages = render_pages(&pdf, 2.0).expect("the pages draw");
    assert!(!pages.is_empty());
    // A4 (595 × 842 pt) at 2 px per point.
    let page = &pages[0];
    assert!((1189..=1191).contains(&page.width), "{}", page.width);
    assert!((1682..=1685).contains(&page.height), "{}", page.height);
    let drawn = image::load_from_memory(&page.png).unwrap();
    assert_eq!((drawn.width(), drawn.height()), (page.width, page.height));
    // The QR code reads from the screen image as from paper.
    let codes = fieldbook_media::label_codes::find_codes(&drawn.to_luma8());
    assert!(
        codes.iter().any(|c| c.text == input.verify_url),
        "QR codes read: {codes:?}"
    );
    // Not blank: the text and photos are drawn (dark pixels).
    let dark = drawn.to_luma8().pixels().filter(|p| p.0[0] < 100).count();
    assert!(dark > 20_000, "{dark} dark pixels");
}

#[test]
fn a_photo_that_is_not_an_image_is_refused_by_name() {
    let mut input = input();
    input.photos[1].image = b"not a photo".to_vec();
    let error = render(&input).unwrap_err();
    assert_eq!(error.code(), "certificate_photo");
    assert!(error.to_string().contains("Serial label"), "{error}");
}
