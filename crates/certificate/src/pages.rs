//! The certificate's pages as images, for showing it to the customer on the
//! technician's screen: the webview has no PDF viewer of its own, so the
//! PDF itself is rasterised here (`hayro`, pure Rust, by the author of
//! `krilla`) and the screen shows exactly what prints.

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{render, PixmapSettings, RenderCache, RenderSettings};

use crate::CertificateError;

/// One page as a PNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageImage {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Renders every page of a PDF at `pixels_per_point` (2.0: an A4 page is
/// 1190 × 1684 px, sharp on a laptop screen at any zoom the view uses).
/// The certificate embeds all its fonts, so no font of the system is used.
pub fn render_pages(pdf: &[u8], pixels_per_point: f32) -> Result<Vec<PageImage>, CertificateError> {
    let pdf = Pdf::new(pdf.to_vec())
        .map_err(|e| CertificateError::Pdf(format!("the PDF cannot be read back: {e:?}")))?;
    let cache = RenderCache::new();
    let interpreter = InterpreterSettings::default();
    let settings = RenderSettings::default();
    let pixmap_settings = PixmapSettings {
        x_scale: pixels_per_point,
        y_scale: pixels_per_point,
        bg_color: WHITE,
    };
    pdf.pages()
        .iter()
        .map(|page| {
            let pixmap = render(page, &cache, &interpreter, &settings, &pixmap_settings);
            let (width, height) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
            let png = pixmap
                .into_png()
                .map_err(|e| CertificateError::Pdf(format!("a page cannot be drawn: {e:?}")))?;
            Ok(PageImage { png, width, height })
        })
        .collect()
}
