//! The fonts the certificate embeds (DejaVu, see `fonts/LICENSE-DejaVu`) and
//! the text measuring that line breaking needs.

use krilla::text::Font;
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

use crate::CertificateError;

static SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static SANS_BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");
static MONO: &[u8] = include_bytes!("../fonts/DejaVuSansMono.ttf");

/// Which face a piece of text is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    Regular,
    Bold,
    /// Serial numbers and the hash: 0/O and 1/l stay distinct.
    Mono,
}

#[derive(Debug)]
pub(crate) struct Fonts {
    regular: Font,
    bold: Font,
    mono: Font,
}

impl Fonts {
    pub(crate) fn load() -> Result<Fonts, CertificateError> {
        let load = |bytes: &'static [u8], name: &str| {
            Font::new(bytes.into(), 0).ok_or_else(|| {
                CertificateError::Pdf(format!("the embedded font {name} is damaged"))
            })
        };
        Ok(Fonts {
            regular: load(SANS, "DejaVu Sans")?,
            bold: load(SANS_BOLD, "DejaVu Sans Bold")?,
            mono: load(MONO, "DejaVu Sans Mono")?,
        })
    }

    pub(crate) fn font(&self, face: Face) -> Font {
        match face {
            Face::Regular => self.regular.clone(),
            Face::Bold => self.bold.clone(),
            Face::Mono => self.mono.clone(),
        }
    }
}

fn bytes(face: Face) -> &'static [u8] {
    match face {
        Face::Regular => SANS,
        Face::Bold => SANS_BOLD,
        Face::Mono => MONO,
    }
}

/// Width of `text` in points at `size` (sum of glyph advances; DejaVu has no
/// kerning that would matter for line breaking).
pub(crate) fn text_width(face: Face, size: f32, text: &str) -> f32 {
    let Ok(font) = FontRef::new(bytes(face)) else {
        return 0.0;
    };
    let charmap = font.charmap();
    let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
    text.chars()
        .map(|c| {
            charmap
                .map(c)
                .and_then(|gid| metrics.advance_width(gid))
                .unwrap_or(size * 0.6)
        })
        .sum()
}

/// Breaks `text` into lines no wider than `width` points: at spaces where it
/// can, inside a word only when the word alone is too wide (a long serial).
/// Existing line breaks are kept.
pub(crate) fn wrap(face: Face, size: f32, text: &str, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if text_width(face, size, &candidate) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: split it where it overflows.
            for c in word.chars() {
                let mut longer = line.clone();
                longer.push(c);
                if !line.is_empty() && text_width(face, size, &longer) > width {
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                } else {
                    line = longer;
                }
            }
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_with_text_and_size() {
        let short = text_width(Face::Regular, 10.0, "Serial");
        assert!(short > 20.0 && short < 40.0, "{short}");
        assert!(text_width(Face::Regular, 20.0, "Serial") > 1.9 * short);
        // Mono: every character is as wide as every other.
        let a = text_width(Face::Mono, 10.0, "iiii");
        let b = text_width(Face::Mono, 10.0, "WWWW");
        assert!((a - b).abs() < 0.01);
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_overlong_words() {
        let lines = wrap(Face::Regular, 10.0, "one two three four five six", 60.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.join(" "), "one two three four five six");
        for line in &lines {
            assert!(text_width(Face::Regular, 10.0, line) <= 60.0, "{line}");
        }
        let long = "X".repeat(80);
        let lines = wrap(Face::Mono, 10.0, &long, 100.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), long);
        assert_eq!(wrap(Face::Regular, 10.0, "a\nb", 100.0), vec!["a", "b"]);
    }
}
