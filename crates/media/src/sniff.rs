//! Decides what a file is from its first bytes. The file name and extension are
//! never consulted: a text file renamed `.jpg` is still a text file.

use crate::MediaError;

/// How many leading bytes are read before deciding (enough for every
/// signature `infer` knows about).
pub(crate) const SNIFF_LEN: usize = 64 * 1024;

/// Which decoder checks a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhotoCodec {
    /// libjpeg-turbo with DCT-domain scaling (the common case: camera and phone photos).
    Jpeg,
    /// Everything else goes through the `image` crate.
    Image(image::ImageFormat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SniffedKind {
    Photo {
        codec: PhotoCodec,
        mime: &'static str,
    },
    Video {
        mime: &'static str,
    },
}

/// Classifies a file by its leading bytes (`head` must be the first
/// `min(SNIFF_LEN, file size)` bytes and not empty).
pub(crate) fn sniff(head: &[u8]) -> Result<SniffedKind, MediaError> {
    let Some(kind) = infer::get(head) else {
        return Err(MediaError::NotMedia {
            detected: "not a file type Fieldbook recognises".to_owned(),
        });
    };
    let mime = kind.mime_type();
    match kind.matcher_type() {
        infer::MatcherType::Image => {
            let codec = match mime {
                "image/jpeg" => PhotoCodec::Jpeg,
                "image/png" => PhotoCodec::Image(image::ImageFormat::Png),
                "image/webp" => PhotoCodec::Image(image::ImageFormat::WebP),
                "image/gif" => PhotoCodec::Image(image::ImageFormat::Gif),
                "image/bmp" => PhotoCodec::Image(image::ImageFormat::Bmp),
                "image/tiff" => PhotoCodec::Image(image::ImageFormat::Tiff),
                // HEIC, AVIF, camera RAW, PSD…: real photos, but nothing here can
                // decode them to check them or draw a thumbnail.
                other => {
                    return Err(MediaError::UnsupportedPhotoFormat {
                        format: format!("{} file, {other}", kind.extension().to_uppercase()),
                    })
                }
            };
            Ok(SniffedKind::Photo { codec, mime })
        }
        // Videos are stored as they are (never decoded), so every container
        // `infer` recognises as video is accepted.
        infer::MatcherType::Video => Ok(SniffedKind::Video { mime }),
        _ => Err(MediaError::NotMedia {
            detected: format!("a {} file ({mime})", kind.extension()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_not_media_whatever_the_name() {
        let err = sniff(b"hello, this is a shopping list\n").unwrap_err();
        assert_eq!(err.code(), "not_media");
    }

    #[test]
    fn pdf_is_not_media_and_says_what_it_is() {
        let err = sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n").unwrap_err();
        assert_eq!(err.code(), "not_media");
        assert!(err.to_string().contains("pdf"), "{err}");
    }

    #[test]
    fn mp4_and_quicktime_are_videos() {
        let mp4 = b"\0\0\0\x18ftypisom\0\0\0\0isomiso2";
        assert_eq!(
            sniff(mp4).unwrap(),
            SniffedKind::Video { mime: "video/mp4" }
        );
        let mov = b"\0\0\0\x14ftypqt  \0\0\0\0qt  ";
        assert_eq!(
            sniff(mov).unwrap(),
            SniffedKind::Video {
                mime: "video/quicktime"
            }
        );
    }

    #[test]
    fn heic_is_a_photo_we_cannot_open() {
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        let err = sniff(heic).unwrap_err();
        assert_eq!(err.code(), "unsupported_photo_format");
    }

    #[test]
    fn jpeg_and_png_signatures() {
        assert_eq!(
            sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0").unwrap(),
            SniffedKind::Photo {
                codec: PhotoCodec::Jpeg,
                mime: "image/jpeg"
            }
        );
        assert!(matches!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
            SniffedKind::Photo {
                mime: "image/png",
                ..
            }
        ));
    }
}
