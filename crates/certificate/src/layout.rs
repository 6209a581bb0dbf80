//! Laying the certificate out on A4 pages, then drawing it with krilla.
//!
//! Two steps: [`lay_out`] turns the input into pages of drawing operations
//! (pure: positions and text, testable without a PDF), and [`draw`] writes
//! them. Blocks that do not fit the rest of a page start the next one; every
//! page carries a footer with the job number and "page n of m".

use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::{DateTime as PdfDateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::TextDirection;
use krilla::Document;

use chrono::{Datelike, Timelike};

use crate::fonts::{text_width, wrap, Face, Fonts};
use crate::{print_time, qr, CertificateError, CertificateInput};

/// A4 in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Content stops here; the footer sits below.
const CONTENT_BOTTOM: f32 = PAGE_H - MARGIN - 18.0;

/// Greys only (0 = black): the certificate reads the same printed in black and white.
const BLACK: u8 = 0;
const DARK: u8 = 60;
const MID: u8 = 110;
const RULE: u8 = 185;
const SHADE: u8 = 238;

const PHOTO_COLUMNS: usize = 4;
const PHOTO_GAP: f32 = 10.0;
const PHOTO_H: f32 = 88.0;
const QR_SIDE: f32 = 96.0;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Text {
        x: f32,
        /// Baseline.
        y: f32,
        face: Face,
        size: f32,
        gray: u8,
        text: String,
    },
    FillRect {
        rect: (f32, f32, f32, f32),
        gray: u8,
    },
    StrokeRect {
        rect: (f32, f32, f32, f32),
        width: f32,
        gray: u8,
    },
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
        gray: u8,
    },
    /// The verification QR code, filling the (square) rect.
    Qr { rect: (f32, f32, f32, f32) },
    /// A photo of the input, or the signature, fitted into the rect.
    Image {
        source: ImageSource,
        rect: (f32, f32, f32, f32),
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageSource {
    Photo(usize),
    Signature,
}

/// Pages of operations, filled top to bottom.
#[derive(Debug)]
struct Pages {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Pages {
    fn new() -> Pages {
        Pages {
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    /// Makes room for a block `height` high: a new page if it does not fit.
    fn need(&mut self, height: f32) {
        if self.y + height > CONTENT_BOTTOM && self.y > MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn text(&mut self, x: f32, y: f32, face: Face, size: f32, gray: u8, text: &str) {
        self.push(Op::Text {
            x,
            y,
            face,
            size,
            gray,
            text: text.to_owned(),
        });
    }

    /// A section title, kept on one page with the first `keep_with` points
    /// of what follows it.
    fn heading(&mut self, title: &str, keep_with: f32) {
        self.need(30.0 + keep_with);
        self.y += 20.0;
        self.text(MARGIN, self.y, Face::Bold, 12.5, BLACK, title);
        self.y += 6.0;
        self.push(Op::Line {
            from: (MARGIN, self.y),
            to: (MARGIN + CONTENT_W, self.y),
            width: 0.8,
            gray: DARK,
        });
        self.y += 4.0;
    }
}

pub(crate) fn render(input: &CertificateInput) -> Result<Vec<u8>, CertificateError> {
    let qr = qr::modules(&input.verify_url)?;
    let pages = lay_out(input);
    draw(input, &qr, pages)
}

fn lay_out(input: &CertificateInput) -> Vec<Vec<Op>> {
    let mut p = Pages::new();
    header(&mut p, input);
    parties(&mut p, input);
    charger(&mut p, input);
    // On the first page whatever follows: the part that makes the paper checkable.
    verification(&mut p, input);
    for section in &input.results {
        results_section(&mut p, section);
    }
    photos(&mut p, input);
    signature(&mut p, input);
    let count = p.pages.len();
    for (index, page) in p.pages.iter_mut().enumerate() {
        let footer = format!(
            "Fieldbook completion certificate · {} · page {} of {count}",
            input.installation_number,
            index + 1
        );
        page.push(Op::Line {
            from: (MARGIN, PAGE_H - MARGIN - 8.0),
            to: (MARGIN + CONTENT_W, PAGE_H - MARGIN - 8.0),
            width: 0.5,
            gray: RULE,
        });
        page.push(Op::Text {
            x: MARGIN,
            y: PAGE_H - MARGIN + 4.0,
            face: Face::Regular,
            size: 7.5,
            gray: MID,
            text: footer,
        });
    }
    p.pages
}

fn header(p: &mut Pages, input: &CertificateInput) {
    p.y += 18.0;
    p.text(
        MARGIN,
        p.y,
        Face::Bold,
        22.0,
        BLACK,
        "Completion certificate",
    );
    let number = &input.installation_number;
    let number_w = text_width(Face::Mono, 12.0, number);
    p.text(
        MARGIN + CONTENT_W - number_w,
        p.y,
        Face::Mono,
        12.0,
        BLACK,
        number,
    );
    p.y += 17.0;
    p.text(
        MARGIN,
        p.y,
        Face::Regular,
        10.5,
        DARK,
        "Electric vehicle charger installation",
    );
    p.y += 10.0;
    p.push(Op::Line {
        from: (MARGIN, p.y),
        to: (MARGIN + CONTENT_W, p.y),
        width: 2.0,
        gray: BLACK,
    });
    p.y += 6.0;
}

/// Customer and site on the left, the job on the right.
fn parties(p: &mut Pages, input: &CertificateInput) {
    let column_w = CONTENT_W / 2.0 - 10.0;
    let right_x = MARGIN + CONTENT_W / 2.0 + 10.0;
    let top = p.y + 18.0;
    let mut left = vec![(Face::Bold, 11.0, input.customer_name.clone())];
    for line in &input.site_address {
        left.push((Face::Regular, 10.0, line.clone()));
    }
    let completed = print_time(&input.submitted_at);
    let right = [
        ("Installed by", input.installed_by.as_str()),
        ("Completed", completed.as_str()),
    ];
    p.text(MARGIN, top, Face::Bold, 8.0, MID, "CUSTOMER AND SITE");
    p.text(right_x, top, Face::Bold, 8.0, MID, "INSTALLATION");
    let mut y_left = top + 15.0;
    for (face, size, text) in left {
        for line in wrap(face, size, &text, column_w) {
            p.text(MARGIN, y_left, face, size, BLACK, &line);
            y_left += size + 4.0;
        }
    }
    let mut y_right = top + 15.0;
    for (label, value) in right {
        p.text(right_x, y_right, Face::Regular, 9.0, DARK, label);
        for line in wrap(Face::Regular, 10.0, value, column_w - 70.0) {
            p.text(right_x + 70.0, y_right, Face::Regular, 10.0, BLACK, &line);
            y_right += 14.0;
        }
    }
    p.y = y_left.max(y_right);
}

fn charger(p: &mut Pages, input: &CertificateInput) {
    p.heading("Charger", 60.0);
    let label_w = 110.0;
    let value_w = CONTENT_W - label_w - 16.0;
    let rows = [
        ("Model", Face::Bold, input.charger_model.as_str()),
        (
            "Serial number",
            Face::Mono,
            input.charger_serial_number.as_str(),
        ),
    ];
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, face, value)| wrap(*face, 12.0, value, value_w))
        .collect();
    let height: f32 = lines
        .iter()
        .map(|l| l.len() as f32 * 16.0 + 8.0)
        .sum::<f32>()
        + 8.0;
    p.need(height);
    p.push(Op::FillRect {
        rect: (MARGIN, p.y + 4.0, CONTENT_W, height),
        gray: SHADE,
    });
    let mut y = p.y + 22.0;
    for ((label, face, _), value_lines) in rows.iter().zip(&lines) {
        p.text(MARGIN + 8.0, y, Face::Regular, 9.5, DARK, label);
        for line in value_lines {
            p.text(MARGIN + 8.0 + label_w, y, *face, 12.0, BLACK, line);
            y += 16.0;
        }
        y += 8.0;
    }
    p.y += height + 4.0;
}

fn results_section(p: &mut Pages, section: &crate::ResultSection) {
    p.heading(&section.title, 30.0);
    let label_w = CONTENT_W * 0.45;
    let value_x = MARGIN + label_w + 12.0;
    let value_w = CONTENT_W - label_w - 12.0;
    for row in &section.rows {
        let labels = wrap(Face::Regular, 9.5, &row.label, label_w - 4.0);
        let values = wrap(Face::Bold, 10.0, &row.value, value_w);
        let lines = labels.len().max(values.len()) as f32;
        let height = lines * 13.0 + 8.0;
        p.need(height);
        let mut y = p.y + 14.0;
        for line in &labels {
            p.text(MARGIN, y, Face::Regular, 9.5, DARK, line);
            y += 13.0;
        }
        let mut y = p.y + 14.0;
        for line in &values {
            p.text(value_x, y, Face::Bold, 10.0, BLACK, line);
            y += 13.0;
        }
        p.y += height;
        p.push(Op::Line {
            from: (MARGIN, p.y),
            to: (MARGIN + CONTENT_W, p.y),
            width: 0.4,
            gray: RULE,
        });
    }
}

fn photos(p: &mut Pages, input: &CertificateInput) {
    if input.photos.is_empty() {
        return;
    }
    p.heading("Photos", 8.0 + PHOTO_H + 24.0);
    let cell_w = (CONTENT_W - PHOTO_GAP * (PHOTO_COLUMNS as f32 - 1.0)) / PHOTO_COLUMNS as f32;
    let indexed: Vec<(usize, &crate::CertificatePhoto)> = input.photos.iter().enumerate().collect();
    for row in indexed.chunks(PHOTO_COLUMNS) {
        let captions: Vec<Vec<String>> = row
            .iter()
            .map(|(_, photo)| {
                let mut lines = wrap(Face::Regular, 7.5, &photo.caption, cell_w);
                lines.truncate(2);
                lines
            })
            .collect();
        let caption_lines = captions.iter().map(Vec::len).max().unwrap_or(0) as f32;
        let height = 8.0 + PHOTO_H + 4.0 + caption_lines * 9.5 + 4.0;
        p.need(height);
        let top = p.y + 8.0;
        for (column, ((index, _), caption)) in row.iter().zip(&captions).enumerate() {
            let x = MARGIN + column as f32 * (cell_w + PHOTO_GAP);
            p.push(Op::Image {
                source: ImageSource::Photo(*index),
                rect: (x, top, cell_w, PHOTO_H),
            });
            p.push(Op::StrokeRect {
                rect: (x, top, cell_w, PHOTO_H),
                width: 0.5,
                gray: RULE,
            });
            let mut y = top + PHOTO_H + 11.0;
            for line in caption {
                p.text(x, y, Face::Regular, 7.5, DARK, line);
                y += 9.5;
            }
        }
        p.y += height;
    }
}

fn signature(p: &mut Pages, input: &CertificateInput) {
    p.heading("Customer sign-off", 98.0);
    let Some(signature) = &input.signature else {
        p.need(24.0);
        p.y += 18.0;
        p.text(
            MARGIN,
            p.y,
            Face::Regular,
            10.0,
            BLACK,
            "Not signed by the customer.",
        );
        p.y += 6.0;
        return;
    };
    let box_w = 230.0;
    let box_h = 82.0;
    p.need(box_h + 16.0);
    let top = p.y + 10.0;
    p.push(Op::Image {
        source: ImageSource::Signature,
        rect: (MARGIN + 4.0, top + 4.0, box_w - 8.0, box_h - 8.0),
    });
    p.push(Op::Line {
        from: (MARGIN, top + box_h),
        to: (MARGIN + box_w, top + box_h),
        width: 0.8,
        gray: BLACK,
    });
    let text_x = MARGIN + box_w + 20.0;
    let text_w = CONTENT_W - box_w - 20.0;
    let mut y = top + 20.0;
    p.text(text_x, y, Face::Regular, 9.0, DARK, "Signed by");
    y += 15.0;
    for line in wrap(Face::Bold, 11.0, &signature.signer_name, text_w) {
        p.text(text_x, y, Face::Bold, 11.0, BLACK, &line);
        y += 15.0;
    }
    p.text(text_x, y, Face::Regular, 9.0, DARK, "on");
    y += 14.0;
    p.text(
        text_x,
        y,
        Face::Regular,
        10.0,
        BLACK,
        &print_time(&signature.signed_at),
    );
    p.y = (top + box_h).max(y) + 6.0;
}

fn verification(p: &mut Pages, input: &CertificateInput) {
    p.heading("Check this certificate", QR_SIDE + 12.0);
    let text_x = MARGIN + QR_SIDE + 16.0;
    let text_w = CONTENT_W - QR_SIDE - 16.0;
    let explain = wrap(
        Face::Regular,
        9.0,
        "Scan the code, or open the address below, to compare this certificate with the \
         report held on the server. The report content hash identifies exactly what was \
         submitted and signed.",
        text_w,
    );
    let url = wrap(Face::Mono, 7.5, &input.verify_url, text_w);
    // One line when it fits (a search of the PDF then finds the whole hash).
    let hash_lines = wrap(Face::Mono, 8.5, &input.content_hash, text_w);
    let text_h = 14.0
        + 12.0 * hash_lines.len() as f32
        + 8.0
        + 11.0 * explain.len() as f32
        + 4.0
        + 9.5 * url.len() as f32;
    let height = text_h.max(QR_SIDE) + 12.0;
    p.need(height);
    let top = p.y + 8.0;
    p.push(Op::Qr {
        rect: (MARGIN, top, QR_SIDE, QR_SIDE),
    });
    let mut y = top + 10.0;
    p.text(
        text_x,
        y,
        Face::Regular,
        9.0,
        DARK,
        "Report content hash (SHA-256)",
    );
    y += 14.0;
    for line in &hash_lines {
        p.text(text_x, y, Face::Mono, 8.5, BLACK, line);
        y += 12.0;
    }
    y += 8.0;
    for line in &explain {
        p.text(text_x, y, Face::Regular, 9.0, BLACK, line);
        y += 11.0;
    }
    y += 4.0;
    for line in &url {
        p.text(text_x, y, Face::Mono, 7.5, DARK, line);
        y += 9.5;
    }
    p.y = top + height;
}

fn draw(
    input: &CertificateInput,
    qr: &qr::QrModules,
    pages: Vec<Vec<Op>>,
) -> Result<Vec<u8>, CertificateError> {
    let fonts = Fonts::load()?;
    let photos = input
        .photos
        .iter()
        .enumerate()
        .map(|(index, photo)| {
            load_image(&photo.image).map_err(|reason| CertificateError::Photo {
                index,
                caption: photo.caption.clone(),
                reason,
            })
        })
        .collect::<Result<Vec<Image>, _>>()?;
    let signature = input
        .signature
        .as_ref()
        .map(|s| load_image(&s.png).map_err(CertificateError::Signature))
        .transpose()?;

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!(
                "Completion certificate {}",
                input.installation_number
            ))
            .creator("Fieldbook".to_owned())
            .language("en-GB".to_owned())
            .creation_date(pdf_date(&input.submitted_at)),
    );
    for ops in pages {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
            .ok_or_else(|| CertificateError::Pdf("A4 page size refused".to_owned()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    face,
                    size,
                    gray,
                    text,
                } => {
                    surface.set_fill(Some(fill(gray)));
                    surface.set_stroke(None);
                    surface.draw_text(
                        Point::from_xy(x, y),
                        fonts.font(face),
                        size,
                        &text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::FillRect { rect, gray } => {
                    if let Some(path) = rect_path(rect) {
                        surface.set_fill(Some(fill(gray)));
                        surface.set_stroke(None);
                        surface.draw_path(&path);
                    }
                }
                Op::StrokeRect { rect, width, gray } => {
                    if let Some(path) = rect_path(rect) {
                        surface.set_fill(None);
                        surface.set_stroke(Some(stroke(gray, width)));
                        surface.draw_path(&path);
                    }
                }
                Op::Line {
                    from,
                    to,
                    width,
                    gray,
                } => {
                    let mut builder = PathBuilder::new();
                    builder.move_to(from.0, from.1);
                    builder.line_to(to.0, to.1);
                    if let Some(path) = builder.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(stroke(gray, width)));
                        surface.draw_path(&path);
                    }
                }
                Op::Qr { rect } => draw_qr(&mut surface, qr, rect),
                Op::Image { source, rect } => {
                    let image = match source {
                        ImageSource::Photo(index) => photos.get(index),
                        ImageSource::Signature => signature.as_ref(),
                    };
                    if let Some(image) = image {
                        draw_fitted(&mut surface, image, rect);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| CertificateError::Pdf(format!("{e:?}")))
}

fn fill(gray: u8) -> Fill {
    Fill {
        paint: luma::Color::new(gray).into(),
        ..Fill::default()
    }
}

fn stroke(gray: u8, width: f32) -> Stroke {
    Stroke {
        paint: luma::Color::new(gray).into(),
        width,
        ..Stroke::default()
    }
}

fn rect_path((x, y, w, h): (f32, f32, f32, f32)) -> Option<krilla::geom::Path> {
    let mut builder = PathBuilder::new();
    builder.push_rect(Rect::from_xywh(x, y, w, h)?);
    builder.finish()
}

fn load_image(bytes: &[u8]) -> Result<Image, String> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Image::from_jpeg(bytes.to_vec().into(), true)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Image::from_png(bytes.to_vec().into(), true)
    } else {
        Err("neither a JPEG nor a PNG".to_owned())
    }
}

/// Draws `image` as large as fits in `rect`, centred, aspect kept.
fn draw_fitted(
    surface: &mut krilla::surface::Surface<'_>,
    image: &Image,
    (x, y, w, h): (f32, f32, f32, f32),
) {
    let (iw, ih) = image.size();
    if iw == 0 || ih == 0 {
        return;
    }
    let scale = (w / iw as f32).min(h / ih as f32);
    let (dw, dh) = (iw as f32 * scale, ih as f32 * scale);
    let Some(size) = Size::from_wh(dw, dh) else {
        return;
    };
    surface.push_transform(&Transform::from_translate(
        x + (w - dw) / 2.0,
        y + (h - dh) / 2.0,
    ));
    surface.draw_image(image.clone(), size);
    surface.pop();
}

/// Dark modules as black squares, runs along a row merged into one rectangle.
fn draw_qr(
    surface: &mut krilla::surface::Surface<'_>,
    qr: &qr::QrModules,
    (x, y, side, _): (f32, f32, f32, f32),
) {
    let module = side / qr.side as f32;
    let mut builder = PathBuilder::new();
    let mut index = 0;
    while index < qr.dark.len() {
        let (col, row) = qr.dark[index];
        let mut run = 1;
        while index + run < qr.dark.len() && qr.dark[index + run] == (col + run as u32, row) {
            run += 1;
        }
        if let Some(rect) = Rect::from_xywh(
            x + col as f32 * module,
            y + row as f32 * module,
            run as f32 * module,
            module,
        ) {
            builder.push_rect(rect);
        }
        index += run;
    }
    if let Some(path) = builder.finish() {
        surface.set_fill(Some(fill(BLACK)));
        surface.set_stroke(None);
        surface.draw_path(&path);
    }
}

fn pdf_date(at: &chrono::DateTime<chrono::Utc>) -> PdfDateTime {
    PdfDateTime::new(at.year().clamp(0, 9999) as u16)
        .month(at.month() as u8)
        .day(at.day() as u8)
        .hour(at.hour() as u8)
        .minute(at.minute() as u8)
        .second(at.second() as u8)
}
