//! The completion certificate of an installation: an A4 PDF made on the
//! technician's device after submit, offline.
//!
//! It shows the job and customer, the charger's model and serial number, the
//! test results (an ordered list of sections of label/value rows, values as
//! exact text with their units), photos as thumbnails, the customer's
//! signature with signer and time, and the report's content hash with a QR
//! code carrying the address where anyone can check it against the server.
//!
//! The PDF is written with `krilla`: fonts are subset and embedded (DejaVu,
//! shipped in `fonts/` with its licence), text is real text (selectable and
//! searchable), and only black, white and greys are used, so it prints the
//! same on a black-and-white printer. No Tauri, no IO: bytes in, bytes out.
//!
//! Why `krilla`: it is the PDF writer under Typst (maintained, pure Rust, no
//! C library to ship on three OSes), it subsets and embeds fonts itself and
//! writes the ToUnicode maps that make text selectable and `pdftotext`
//! readable, it embeds JPEG thumbnails without re-encoding, and it can
//! validate against PDF/A. `printpdf` leaves subsetting and text extraction
//! more to the caller; `genpdf` sits on an older `printpdf`; a headless
//! browser is far too heavy for a field laptop. The pages for the screen are
//! drawn with `hayro`, a pure-Rust PDF rasteriser by `krilla`'s author.

mod fonts;
mod from_report;
mod layout;
mod pages;
mod qr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use from_report::results_from_report;
pub use pages::{render_pages, PageImage};

/// Everything the certificate shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateInput {
    /// The human-readable job number (`INS-2026-000123`).
    pub installation_number: String,
    pub customer_name: String,
    /// The site address, one line per entry.
    pub site_address: Vec<String>,
    /// Who installed the charger (the technician who submitted the report).
    pub installed_by: String,
    pub submitted_at: DateTime<Utc>,
    pub charger_model: String,
    pub charger_serial_number: String,
    /// The test results, in the order they are printed.
    pub results: Vec<ResultSection>,
    /// Photos, printed as thumbnails in this order.
    pub photos: Vec<CertificatePhoto>,
    pub signature: Option<CertificateSignature>,
    /// SHA-256 (hex) of the report's canonical content, as signed.
    pub content_hash: String,
    /// What the QR code carries: the address on the company's server where
    /// the report with this hash can be checked.
    pub verify_url: String,
}

/// A titled group of results ("Outcome", "Earthing", "RCD", …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultSection {
    pub title: String,
    pub rows: Vec<ResultRow>,
}

/// One result, printed exactly as given ("0.35 Ω", "Type A", "Yes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRow {
    pub label: String,
    pub value: String,
}

/// A photo as the certificate prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePhoto {
    pub caption: String,
    /// A JPEG (the media store's thumbnail) or PNG.
    pub image: Vec<u8>,
}

/// The customer's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSignature {
    pub signer_name: String,
    pub signed_at: DateTime<Utc>,
    /// The signature pad's PNG.
    pub png: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error(
        "photo {index} ({caption:?}) is not a JPEG or PNG the certificate can print: {reason}"
    )]
    Photo {
        index: usize,
        caption: String,
        reason: String,
    },
    #[error("the signature image cannot be printed: {0}")]
    Signature(String),
    #[error("the QR code cannot hold the verification address: {0}")]
    QrCode(String),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

impl CertificateError {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            CertificateError::Photo { .. } => "certificate_photo",
            CertificateError::Signature(_) => "certificate_signature",
            CertificateError::QrCode(_) => "certificate_qr_code",
            CertificateError::Pdf(_) => "certificate_pdf",
        }
    }
}

/// The certificate as PDF bytes.
pub fn render(input: &CertificateInput) -> Result<Vec<u8>, CertificateError> {
    layout::render(input)
}

/// The address the QR code carries: the server's page for checking a
/// report's content hash. `server_url` is the server the device syncs with.
pub fn verify_url(server_url: &str, installation_number: &str, content_hash: &str) -> String {
    format!(
        "{}/verify?installation={installation_number}&sha256={content_hash}",
        server_url.trim_end_matches('/')
    )
}

/// "30 Nov 2026, 14:05 UTC": unambiguous on paper in any country.
pub(crate) fn print_time(at: &DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}
