//! Checks that a photo really is a decodable image (within memory limits) and
//! draws its oriented thumbnail.
//!
//! What "a real image" means here: the whole compressed image is decoded by the
//! codec, and any error *or warning* (truncated data, bad Huffman code, CRC
//! mismatch, …) refuses the file. For JPEG, libjpeg-turbo decodes with
//! DCT-domain scaling (e.g. 1/8): every entropy-coded block of every scan is
//! still parsed, so a truncated or garbled bitstream is detected exactly as a
//! full-size decode would detect it; only the inverse DCT is done at the lower
//! resolution, which is why it is several times cheaper. What scaled decoding
//! does not do is produce the full-resolution pixels, and nothing here needs them.

use std::io::Cursor;

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::sniff::PhotoCodec;
use crate::{MediaError, MAX_DECODE_BYTES, MAX_IMAGE_SIDE, THUMBNAIL_MAX_SIDE};

/// JPEG quality of thumbnails: small files, no visible blocking at 320 px.
const THUMBNAIL_JPEG_QUALITY: i32 = 80;

/// Real progressive JPEGs have about ten scans; thousands of tiny scans are a
/// known CPU-exhaustion trick.
const MAX_PROGRESSIVE_SCANS: u32 = 500;

/// A photo that decoded cleanly.
#[derive(Debug)]
pub(crate) struct CheckedPhoto {
    /// Dimensions as the photo is meant to be seen (after EXIF orientation).
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// JPEG bytes of the oriented thumbnail, longest side ≤ [`THUMBNAIL_MAX_SIDE`].
    pub(crate) thumbnail_jpeg: Vec<u8>,
}

/// Decodes `bytes` (the complete file) to check it, and draws the thumbnail.
pub(crate) fn check_photo(bytes: &[u8], codec: PhotoCodec) -> Result<CheckedPhoto, MediaError> {
    match codec {
        PhotoCodec::Jpeg => check_jpeg(bytes),
        PhotoCodec::Image(format) => check_with_image_crate(bytes, format),
    }
}

fn check_jpeg(bytes: &[u8]) -> Result<CheckedPhoto, MediaError> {
    let mut decompressor = turbojpeg::Decompressor::new().map_err(jpeg_library_error)?;
    let header = decompressor
        .read_header(bytes)
        .map_err(|e| MediaError::corrupt(format!("JPEG header: {e}")))?;
    check_side_limits(header.width, header.height)?;

    // libjpeg-turbo cannot convert CMYK/YCCK (print-shop files, rare from
    // cameras) to RGB; the `image` crate can.
    if matches!(
        header.colorspace,
        turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
    ) {
        return check_with_image_crate(bytes, image::ImageFormat::Jpeg);
    }
    let scaling = smallest_scaling_covering(&header, THUMBNAIL_MAX_SIDE);
    let scaled = header.scaled(scaling);

    // Budget what libjpeg-turbo will allocate before it allocates it: our RGB
    // output buffer, plus, for a progressive (or possibly multi-scan
    // lossless/arithmetic) JPEG, a whole-image coefficient buffer of about
    // 2 bytes per pixel per component. A baseline JPEG decodes row by row.
    let output_bytes = 3 * scaled.width as u64 * scaled.height as u64;
    let multi_scan = header.is_progressive || header.is_lossless || header.is_arithmetic;
    let coefficient_bytes = if multi_scan {
        header.width as u64 * header.height as u64 * 3 * 2
    } else {
        0
    };
    if output_bytes + coefficient_bytes > MAX_DECODE_BYTES {
        return Err(MediaError::too_large(format!(
            "{}×{} pixels would need {} MiB to decode; the limit is {} MiB",
            header.width,
            header.height,
            (output_bytes + coefficient_bytes) >> 20,
            MAX_DECODE_BYTES >> 20
        )));
    }
    if multi_scan {
        decompressor
            .set_scan_limit(MAX_PROGRESSIVE_SCANS)
            .map_err(jpeg_library_error)?;
    }
    decompressor
        .set_scaling_factor(scaling)
        .map_err(jpeg_library_error)?;
    let mut decoded = turbojpeg::Image {
        pixels: vec![0u8; 3 * scaled.width * scaled.height],
        width: scaled.width,
        pitch: 3 * scaled.width,
        height: scaled.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    // TurboJPEG reports libjpeg warnings (premature end of data, corrupt
    // entropy data) as errors too; all of them refuse the photo.
    decompressor
        .decompress(bytes, decoded.as_deref_mut())
        .map_err(|e| MediaError::corrupt(format!("JPEG data: {e}")))?;

    let decoded = RgbImage::from_raw(
        to_u32(scaled.width)?,
        to_u32(scaled.height)?,
        decoded.pixels,
    )
    .ok_or_else(|| MediaError::corrupt("decoder returned a short pixel buffer"))?;
    let (thumb_w, thumb_h) = thumbnail_size(decoded.width(), decoded.height());
    let thumbnail = if (thumb_w, thumb_h) == decoded.dimensions() {
        decoded
    } else {
        image::imageops::resize(&decoded, thumb_w, thumb_h, FilterType::Triangle)
    };

    let orientation = jpeg_exif_orientation(bytes);
    let (width, height) = oriented_size(to_u32(header.width)?, to_u32(header.height)?, orientation);
    let mut thumbnail = DynamicImage::ImageRgb8(thumbnail);
    thumbnail.apply_orientation(orientation);
    Ok(CheckedPhoto {
        width,
        height,
        thumbnail_jpeg: encode_thumbnail(&thumbnail.into_rgb8())?,
    })
}

fn check_with_image_crate(
    bytes: &[u8],
    format: image::ImageFormat,
) -> Result<CheckedPhoto, MediaError> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits.clone());
    // `into_decoder` reads only the header and applies the dimension limits,
    // so a bomb is refused here before any pixel buffer exists.
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let (raw_w, raw_h) = decoder.dimensions();
    // A GIF or PNG header may claim a zero side, which decoders accept
    // (found by the photo_import fuzz target).
    check_side_limits(raw_w as usize, raw_h as usize)?;
    limits.reserve(decoder.total_bytes()).map_err(|_| {
        MediaError::too_large(format!(
            "{raw_w}×{raw_h} pixels would need {} MiB to decode; the limit is {} MiB",
            decoder.total_bytes() >> 20,
            MAX_DECODE_BYTES >> 20
        ))
    })?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(image_error)?;

    let (thumb_w, thumb_h) = thumbnail_size(decoded.width(), decoded.height());
    let mut thumbnail = if (thumb_w, thumb_h) == decoded.dimensions() {
        decoded
    } else {
        // Area-averaging shrink: fast on full-size decodes, and fine at 320 px.
        decoded.thumbnail_exact(thumb_w, thumb_h)
    };
    thumbnail.apply_orientation(orientation);
    let (width, height) = oriented_size(raw_w, raw_h, orientation);
    Ok(CheckedPhoto {
        width,
        height,
        // Thumbnails are opaque JPEGs: transparency is flattened by dropping alpha.
        thumbnail_jpeg: encode_thumbnail(&thumbnail.into_rgb8())?,
    })
}

fn check_side_limits(width: usize, height: usize) -> Result<(), MediaError> {
    let max = MAX_IMAGE_SIDE as usize;
    if width > max || height > max {
        return Err(MediaError::too_large(format!("{width}×{height} pixels")));
    }
    if width == 0 || height == 0 {
        return Err(MediaError::corrupt(format!(
            "it claims to be {width}×{height} pixels"
        )));
    }
    Ok(())
}

/// The smallest libjpeg-turbo scale (n/8) whose output still has a longest
/// side of at least `min_side` (so a final resize only shrinks); no scaling
/// for lossless JPEG, where DCT scaling does not exist.
pub(crate) fn smallest_scaling_covering(
    header: &turbojpeg::DecompressHeader,
    min_side: u32,
) -> turbojpeg::ScalingFactor {
    if header.is_lossless {
        return turbojpeg::ScalingFactor::ONE;
    }
    smallest_scaling_of_side(header.width.max(header.height), min_side)
}

fn smallest_scaling_of_side(longest: usize, min_side: u32) -> turbojpeg::ScalingFactor {
    let mut factors: Vec<_> = turbojpeg::Decompressor::supported_scaling_factors()
        .into_iter()
        .filter(|f| f.num() <= f.denom())
        .collect();
    factors.sort_by(|a, b| (a.num() * b.denom()).cmp(&(b.num() * a.denom())));
    factors
        .into_iter()
        .find(|f| f.scale(longest) >= min_side as usize)
        .unwrap_or(turbojpeg::ScalingFactor::ONE)
}

/// Size of the thumbnail for a `width`×`height` image: longest side
/// [`THUMBNAIL_MAX_SIDE`], aspect ratio kept, never enlarged.
fn thumbnail_size(width: u32, height: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= THUMBNAIL_MAX_SIDE {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled = (u64::from(side) * u64::from(THUMBNAIL_MAX_SIDE) + u64::from(longest) / 2)
            / u64::from(longest);
        (scaled as u32).max(1)
    };
    (scale(width), scale(height))
}

fn oriented_size(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        _ => (width, height),
    }
}

/// Reads the EXIF orientation from a JPEG's APP1 segment (only the markers
/// before the first scan are walked; pixel data is never touched).
pub(crate) fn jpeg_exif_orientation(jpeg: &[u8]) -> Orientation {
    const SOI_LEN: usize = 2;
    const APP1: u8 = 0xE1;
    const SOS: u8 = 0xDA;
    const EOI: u8 = 0xD9;
    let mut pos = SOI_LEN;
    while pos + 4 <= jpeg.len() {
        if jpeg[pos] != 0xFF {
            break;
        }
        let marker = jpeg[pos + 1];
        match marker {
            // Fill byte before a marker.
            0xFF => {
                pos += 1;
                continue;
            }
            SOS | EOI => break,
            // Markers without a length field.
            0x01 | 0xD0..=0xD7 => {
                pos += 2;
                continue;
            }
            _ => {}
        }
        let segment_len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        let Some(body) = jpeg.get(pos + 4..pos + 2 + segment_len.max(2)) else {
            break;
        };
        if marker == APP1 {
            if let Some(tiff) = body.strip_prefix(b"Exif\0\0") {
                return Orientation::from_exif_chunk(tiff).unwrap_or(Orientation::NoTransforms);
            }
        }
        pos += 2 + segment_len.max(2);
    }
    Orientation::NoTransforms
}

fn encode_thumbnail(thumbnail: &RgbImage) -> Result<Vec<u8>, MediaError> {
    let mut compressor = turbojpeg::Compressor::new().map_err(jpeg_library_error)?;
    compressor
        .set_quality(THUMBNAIL_JPEG_QUALITY)
        .map_err(jpeg_library_error)?;
    compressor
        .set_subsamp(turbojpeg::Subsamp::Sub2x2)
        .map_err(jpeg_library_error)?;
    let width = thumbnail.width() as usize;
    compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: thumbnail.as_raw().as_slice(),
            width,
            pitch: 3 * width,
            height: thumbnail.height() as usize,
            format: turbojpeg::PixelFormat::RGB,
        })
        .map_err(jpeg_library_error)
}

fn to_u32(side: usize) -> Result<u32, MediaError> {
    u32::try_from(side).map_err(|_| MediaError::too_large(format!("{side} pixels wide")))
}

/// libjpeg-turbo failing to initialise or to accept a parameter is not the
/// photo's fault, but there is nothing better to tell the technician than that
/// the photo could not be processed.
fn jpeg_library_error(error: turbojpeg::Error) -> MediaError {
    MediaError::corrupt(format!("JPEG library: {error}"))
}

fn image_error(error: image::ImageError) -> MediaError {
    match error {
        image::ImageError::Limits(limit) => MediaError::too_large(limit),
        image::ImageError::Unsupported(unsupported) => MediaError::UnsupportedPhotoFormat {
            format: unsupported.to_string(),
        },
        image::ImageError::IoError(io) => MediaError::corrupt(format!("incomplete data: {io}")),
        other => MediaError::corrupt(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_size_keeps_aspect_and_never_enlarges() {
        assert_eq!(thumbnail_size(4000, 3000), (320, 240));
        assert_eq!(thumbnail_size(3000, 4000), (240, 320));
        assert_eq!(thumbnail_size(200, 100), (200, 100));
        assert_eq!(thumbnail_size(100_000, 1), (320, 1));
    }

    #[test]
    fn scaling_picks_smallest_factor_still_covering_the_thumbnail() {
        let f = smallest_scaling_of_side(4000, THUMBNAIL_MAX_SIDE);
        assert_eq!((f.num(), f.denom()), (1, 8));
        // 1/8 would give 250 px, too small to shrink to 320.
        let f = smallest_scaling_of_side(2000, THUMBNAIL_MAX_SIDE);
        assert_eq!((f.num(), f.denom()), (1, 4));
        let f = smallest_scaling_of_side(300, THUMBNAIL_MAX_SIDE);
        assert_eq!(f.scale(300), 300);
    }

    #[test]
    fn exif_orientation_is_read_from_app1_and_ignored_elsewhere() {
        // SOI, APP1 "Exif" big-endian TIFF with one IFD entry: Orientation = 6.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        let tiff: &[u8] = &[
            b'M', b'M', 0, 42, 0, 0, 0, 8, // header, IFD at 8
            0, 1, // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation SHORT 6
            0, 0, 0, 0, // no next IFD
        ];
        let len = (2 + 6 + tiff.len()) as u16;
        jpeg.extend_from_slice(&len.to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(tiff);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        assert_eq!(jpeg_exif_orientation(&jpeg), Orientation::Rotate90);
        assert_eq!(oriented_size(400, 200, Orientation::Rotate90), (200, 400));

        // Same bytes inside a COM segment are not EXIF.
        jpeg[3] = 0xFE;
        assert_eq!(jpeg_exif_orientation(&jpeg), Orientation::NoTransforms);
        // Truncated segment length does not panic.
        assert_eq!(
            jpeg_exif_orientation(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF]),
            Orientation::NoTransforms
        );
    }
}
