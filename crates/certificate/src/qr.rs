//! The QR code, drawn as vector squares (sharp at any zoom or printer).

use rxing::{BarcodeFormat, EncodeHints, MultiFormatWriter, Writer};

use crate::CertificateError;

/// The dark modules of the QR code for `text`, as (column, row) in a square
/// of `side` modules (quiet zone included).
#[derive(Debug)]
pub(crate) struct QrModules {
    pub(crate) side: u32,
    pub(crate) dark: Vec<(u32, u32)>,
}

pub(crate) fn modules(text: &str) -> Result<QrModules, CertificateError> {
    // Level M: survives a crease or a smudge on the printout.
    let hints = EncodeHints {
        ErrorCorrection: Some("M".to_owned()),
        Margin: Some("4".to_owned()),
        ..Default::default()
    };
    let matrix = MultiFormatWriter
        .encode_with_hints(text, &BarcodeFormat::QR_CODE, 0, 0, &hints)
        .map_err(|e| CertificateError::QrCode(e.to_string()))?;
    let side = matrix.width();
    let mut dark = Vec::new();
    for y in 0..matrix.height() {
        for x in 0..side {
            if matrix.get(x, y) {
                dark.push((x, y));
            }
        }
    }
    Ok(QrModules { side, dark })
}
