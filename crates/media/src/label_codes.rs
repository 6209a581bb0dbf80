//! Barcodes and QR codes in a photo (the charger's serial label), decoded on
//! the device with `rxing` (a Rust port of ZXing; no network, no C library).
//!
//! What the codes *mean* is the domain's business
//! ([`fieldbook_domain::label::read_label`]); this module only finds them.
//! The search runs after a photo is imported, never during it (it can take
//! seconds on a photo without a code), and is bounded: it starts on a
//! downscaled copy, tries the likely scales and angles first and stops
//! starting new passes at a deadline.

use std::collections::HashSet;
use std::io::Cursor;
use std::time::Instant;

use fieldbook_domain::label::{CodeFormat, LabelCode};
use image::{GrayImage, ImageReader, Limits};
use rxing::common::HybridBinarizer;
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, Luma8LuminanceSource, MultiUseMultiFormatReader,
    RXingResult, RXingResultMetadataType, RXingResultMetadataValue,
};

use crate::sniff::PhotoCodec;
use crate::{MAX_DECODE_BYTES, MAX_IMAGE_SIDE};

/// Photos are searched for codes at most this large (longest side): enough
/// for a label filling a tenth of a 12 MP photo, and a bounded cost (about
/// 4 MP of luma) whatever the camera.
pub const CODE_SEARCH_MAX_SIDE: u32 = 2048;

/// The quick passes look at the photo this large: a label photographed to be
/// read (the usual case) is found here in a fraction of the full cost.
pub const QUICK_SEARCH_SIDE: u32 = 1024;

/// A barcode printed or photographed at an angle is looked for again in
/// copies of the photo turned by these angles (degrees): the 1D readers scan
/// rows, so a Code 128 tilted by more than about 8° is missed on the first
/// passes (the thorough one also tries the photo turned by 90°). QR and Data
/// Matrix are found at any angle, so the turned passes look for 1D codes only.
const RETRY_ANGLES: [f32; 10] = [
    15.0, -15.0, 30.0, -30.0, 45.0, -45.0, 60.0, -60.0, 75.0, -75.0,
];

/// What a search found, and whether it looked everywhere it meant to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSearch {
    /// Every distinct code found, in reading order.
    pub codes: Vec<LabelCode>,
    /// Every pass that could find a code ran (false: the time was up first,
    /// or the photo could not be decoded). A search that found a code stops
    /// early and is complete.
    pub complete: bool,
    /// How many passes ran.
    pub passes: u32,
}

/// One look at the photo. Ordered from likely and cheap to unlikely and
/// costly, so a time cap cuts the tail, not the head.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// The photo scaled to `side`, every format.
    Whole { side: u32, thorough: bool },
    /// The photo scaled to `side` and turned, 1D codes only.
    Turned { side: u32, degrees: f32 },
}

fn passes() -> Vec<Pass> {
    let mut passes = vec![
        Pass::Whole {
            side: QUICK_SEARCH_SIDE,
            thorough: false,
        },
        Pass::Whole {
            side: CODE_SEARCH_MAX_SIDE,
            thorough: true,
        },
    ];
    for side in [QUICK_SEARCH_SIDE, CODE_SEARCH_MAX_SIDE] {
        passes.extend(RETRY_ANGLES.map(|degrees| Pass::Turned { side, degrees }));
    }
    passes
}

/// How much of the search to run: the background reader first gives every
/// waiting photo the quick look (a label photographed to be read is found
/// there, in a fraction of a second), then the rest to those that need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDepth {
    /// The first pass only.
    Quick,
    /// Every pass after the first.
    Rest,
    /// Every pass.
    Full,
}

/// Decodes the photo (grayscale, at most [`CODE_SEARCH_MAX_SIDE`]) and
/// searches it (see [`search_codes_to`]).
pub(crate) fn search_photo(
    bytes: &[u8],
    codec: PhotoCodec,
    depth: SearchDepth,
    deadline: Instant,
) -> LabelSearch {
    match luma_for_search(bytes, codec) {
        Some(luma) => search_codes_to(&luma, depth, Some(deadline)),
        None => LabelSearch::default(),
    }
}

/// Searches a grayscale image for Code 128, Code 39, QR and Data Matrix
/// codes with every pass, until one finds a code (see [`search_codes_to`]).
pub fn search_codes(luma: &GrayImage, deadline: Option<Instant>) -> LabelSearch {
    search_codes_to(luma, SearchDepth::Full, deadline)
}

/// Searches a grayscale image pass by pass until one finds a code. With a
/// `deadline`, no pass starts after it (the first always runs), so the
/// search costs at most the time to the deadline plus one pass; the passes
/// are small so that overrun is short. `complete` says whether every pass
/// of `depth` ran.
pub fn search_codes_to(
    luma: &GrayImage,
    depth: SearchDepth,
    deadline: Option<Instant>,
) -> LabelSearch {
    let mut search = LabelSearch::default();
    let quick = shrink_to(luma.clone(), QUICK_SEARCH_SIDE);
    let at = |side: u32| {
        if side == QUICK_SEARCH_SIDE {
            &quick
        } else {
            luma
        }
    };
    let all = passes();
    let chosen = match depth {
        SearchDepth::Quick => &all[..1],
        SearchDepth::Rest => &all[1..],
        SearchDepth::Full => &all[..],
    };
    for &pass in chosen {
        if search.passes > 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            return search;
        }
        // A photo no larger than the quick size was seen whole already.
        let same_size = quick.dimensions() == luma.dimensions();
        if matches!(pass, Pass::Turned { side, .. } if side != QUICK_SEARCH_SIDE && same_size) {
            continue;
        }
        search.passes += 1;
        search.codes = match pass {
            Pass::Whole { side, thorough } => decode_all(at(side), &ALL_FORMATS, thorough),
            Pass::Turned { side, degrees } => {
                decode_all(&rotate(at(side), degrees), &ONE_D_FORMATS, false)
            }
        };
        if !search.codes.is_empty() {
            break;
        }
    }
    search.complete = true;
    search
}

/// Every supported code in a grayscale image, searched without a time cap
/// (see [`search_codes`]).
pub fn find_codes(luma: &GrayImage) -> Vec<LabelCode> {
    search_codes(luma, None).codes
}

const ALL_FORMATS: [BarcodeFormat; 4] = [
    BarcodeFormat::CODE_128,
    BarcodeFormat::CODE_39,
    BarcodeFormat::QR_CODE,
    BarcodeFormat::DATA_MATRIX,
];
const ONE_D_FORMATS: [BarcodeFormat; 2] = [BarcodeFormat::CODE_128, BarcodeFormat::CODE_39];

fn decode_all(luma: &GrayImage, formats: &[BarcodeFormat], try_harder: bool) -> Vec<LabelCode> {
    let (width, height) = luma.dimensions();
    if width == 0 || height == 0 {
        return Vec::new();
    }
    let Ok(source) = Luma8LuminanceSource::new(luma.as_raw().clone(), width, height) else {
        return Vec::new();
    };
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    let hints = DecodeHints {
        TryHarder: Some(try_harder),
        PossibleFormats: Some(formats.iter().copied().collect()),
        // GS1-128: the leading FNC1 becomes "]C1" and later ones GS (U+001D),
        // so variable-length GS1 fields keep their ends.
        AssumeGs1: Some(true),
        ..DecodeHints::default()
    };
    let mut reader = GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default());
    let results = reader
        .decode_multiple_with_hints(&mut bitmap, &hints)
        .unwrap_or_default();
    let mut seen = HashSet::new();
    results
        .iter()
        .filter_map(to_label_code)
        .filter(|code| seen.insert((code.format, code.text.clone())))
        .collect()
}

fn to_label_code(result: &RXingResult) -> Option<LabelCode> {
    let format = match result.getBarcodeFormat() {
        BarcodeFormat::CODE_128 => CodeFormat::Code128,
        BarcodeFormat::CODE_39 => CodeFormat::Code39,
        BarcodeFormat::QR_CODE => CodeFormat::QrCode,
        BarcodeFormat::DATA_MATRIX => CodeFormat::DataMatrix,
        _ => return None,
    };
    // GS1 symbols announce themselves in the symbology identifier
    // (ISO/IEC 15424): ]C1 GS1-128, ]Q3 GS1 QR, ]d2 GS1 DataMatrix.
    let gs1 = matches!(
        result
            .getRXingResultMetadata()
            .get(&RXingResultMetadataType::SYMBOLOGY_IDENTIFIER),
        Some(RXingResultMetadataValue::SymbologyIdentifier(id))
            if matches!(id.as_str(), "]C1" | "]Q3" | "]d2")
    );
    let text = result.getText();
    let (text, gs1) = match text.strip_prefix("]C1") {
        Some(rest) => (rest, true),
        None => (text, gs1),
    };
    (!text.is_empty()).then(|| LabelCode {
        format,
        text: text.to_owned(),
        gs1,
    })
}

/// The photo as grayscale, longest side at most [`CODE_SEARCH_MAX_SIDE`].
/// `None` if it cannot be decoded (the import's own check reports that).
fn luma_for_search(bytes: &[u8], codec: PhotoCodec) -> Option<GrayImage> {
    let luma = match codec {
        PhotoCodec::Jpeg => {
            jpeg_luma(bytes).or_else(|| image_luma(bytes, image::ImageFormat::Jpeg))
        }
        PhotoCodec::Image(format) => image_luma(bytes, format),
    }?;
    Some(shrink_to(luma, CODE_SEARCH_MAX_SIDE))
}

/// libjpeg-turbo decodes straight to grayscale at the smallest DCT scale that
/// still covers the search size: a 12 MP photo costs a quarter of a full decode.
fn jpeg_luma(bytes: &[u8]) -> Option<GrayImage> {
    let mut decompressor = turbojpeg::Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    if header.width > MAX_IMAGE_SIDE as usize || header.height > MAX_IMAGE_SIDE as usize {
        return None;
    }
    let scaling = crate::photo::smallest_scaling_covering(&header, CODE_SEARCH_MAX_SIDE);
    let scaled = header.scaled(scaling);
    if (scaled.width * scaled.height) as u64 > MAX_DECODE_BYTES {
        return None;
    }
    decompressor.set_scaling_factor(scaling).ok()?;
    let mut pixels = vec![0u8; scaled.width * scaled.height];
    decompressor
        .decompress(
            bytes,
            turbojpeg::Image {
                pixels: pixels.as_mut_slice(),
                width: scaled.width,
                pitch: scaled.width,
                height: scaled.height,
                format: turbojpeg::PixelFormat::GRAY,
            },
        )
        .ok()?;
    GrayImage::from_raw(
        u32::try_from(scaled.width).ok()?,
        u32::try_from(scaled.height).ok()?,
        pixels,
    )
}

fn image_luma(bytes: &[u8], format: image::ImageFormat) -> Option<GrayImage> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    Some(reader.decode().ok()?.into_luma8())
}

fn shrink_to(luma: GrayImage, max_side: u32) -> GrayImage {
    let (width, height) = luma.dimensions();
    let longest = width.max(height);
    if longest <= max_side {
        return luma;
    }
    let scale = |side: u32| ((u64::from(side) * u64::from(max_side)) / u64::from(longest)).max(1);
    image::imageops::resize(
        &luma,
        scale(width) as u32,
        scale(height) as u32,
        image::imageops::FilterType::Triangle,
    )
}

/// The image turned by `degrees` about its centre (bilinear, white where the
/// turned image has no source pixel, which reads as a label's quiet zone).
fn rotate(luma: &GrayImage, degrees: f32) -> GrayImage {
    let (width, height) = luma.dimensions();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let out_w = (width as f32 * cos.abs() + height as f32 * sin.abs()).ceil() as u32;
    let out_h = (width as f32 * sin.abs() + height as f32 * cos.abs()).ceil() as u32;
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let (ox, oy) = (out_w as f32 / 2.0, out_h as f32 / 2.0);
    GrayImage::from_fn(out_w, out_h, |x, y| {
        // Inverse mapping: where in the source this output pixel comes from.
        let dx = x as f32 + 0.5 - ox;
        let dy = y as f32 + 0.5 - oy;
        let sx = cos * dx + sin * dy + cx - 0.5;
        let sy = -sin * dx + cos * dy + cy - 0.5;
        image::Luma([sample_bilinear(luma, sx, sy)])
    })
}

fn sample_bilinear(luma: &GrayImage, x: f32, y: f32) -> u8 {
    let (width, height) = luma.dimensions();
    if x < 0.0 || y < 0.0 || x > (width - 1) as f32 || y > (height - 1) as f32 {
        return 255;
    }
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |x, y| f32::from(luma.get_pixel(x, y).0[0]);
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    (top * (1.0 - fy) + bottom * fy).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_whole_image_and_fills_corners_white() {
        let black = GrayImage::from_pixel(100, 50, image::Luma([0]));
        let turned = rotate(&black, 90.0);
        assert!((49..=51).contains(&turned.width()) && (99..=101).contains(&turned.height()));
        let turned = rotate(&black, 45.0);
        assert_eq!(turned.get_pixel(0, 0).0[0], 255);
        let centre = turned.get_pixel(turned.width() / 2, turned.height() / 2).0[0];
        assert_eq!(centre, 0);
    }

    #[test]
    fn shrinking_keeps_aspect_and_never_enlarges() {
        let big = GrayImage::new(4096, 1024);
        assert_eq!(shrink_to(big, 2048).dimensions(), (2048, 512));
        let small = GrayImage::new(300, 200);
        assert_eq!(shrink_to(small, 2048).dimensions(), (300, 200));
    }

    #[test]
    fn an_image_without_codes_has_none() {
        let blank = GrayImage::from_pixel(640, 480, image::Luma([200]));
        assert!(find_codes(&blank).is_empty());
        let unreadable = search_photo(
            b"not an image",
            PhotoCodec::Jpeg,
            SearchDepth::Full,
            Instant::now(),
        );
        assert_eq!(unreadable, LabelSearch::default());
    }

    #[test]
    fn a_deadline_stops_new_passes_but_the_first_always_runs() {
        let blank = GrayImage::from_pixel(800, 600, image::Luma([200]));
        let past = Instant::now();
        let cut = search_codes(&blank, Some(past));
        assert_eq!(cut.passes, 1);
        assert!(!cut.complete && cut.codes.is_empty());
        // Small enough for the quick size: the full-size turned passes would
        // look at the same pixels again and are skipped.
        let whole = search_codes(&blank, None);
        assert_eq!(whole.passes as usize, passes().len() - RETRY_ANGLES.len());
        assert!(whole.complete);
        let large = GrayImage::from_pixel(1100, 800, image::Luma([200]));
        assert_eq!(search_codes(&large, None).passes as usize, passes().len());
        // The quick look and the rest make up the whole search.
        let quick = search_codes_to(&large, SearchDepth::Quick, None);
        assert_eq!((quick.passes, quick.complete), (1, true));
        let rest = search_codes_to(&large, SearchDepth::Rest, None);
        assert_eq!(rest.passes as usize, passes().len() - 1);
    }
}
