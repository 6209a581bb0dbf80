//! What the `tus_headers` fuzz target checks, shared with its corpus replay
//! (`server/tests/fuzz_corpus.rs`): the tus request headers a client
//! controls, parsed by the server's own parsers. An input is UTF-8 text of
//! up to four lines: `Upload-Offset`, `Upload-Length`, `Upload-Checksum`,
//! `Upload-Metadata` (a missing line is a missing header).
//!
//! Nothing may panic, and what a parser accepts is exactly what the
//! protocol allows: numbers are plain decimal digits and mean what they
//! say, a checksum is a 32-byte SHA-256 digest that re-encodes to the same
//! digest, metadata carries a valid hash and a bounded printable MIME type
//! and re-encodes to the same metadata.

use base64::Engine as _;
use fieldbook_server::blobs::store::ChunkChecksum;
use fieldbook_server::blobs::tus::{
    parse_tus_number, parse_upload_checksum, parse_upload_metadata,
};
use fieldbook_server::blobs::TusError;

/// How many of the four headers parsed, if the input was text.
pub fn check(data: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.split('\n');
    let mut accepted = 0;
    for name in ["upload-offset", "upload-length"] {
        let Some(raw) = lines.next() else {
            return Some(accepted);
        };
        if let Ok(number) = parse_tus_number(name, raw) {
            accepted += 1;
            assert!(raw.bytes().all(|b| b.is_ascii_digit()), "{name}: {raw:?}");
            assert_eq!(number.to_string(), strip_leading_zeros(raw), "{name}");
        }
    }
    let b64 = &base64::engine::general_purpose::STANDARD;
    let checksum = lines.next();
    match parse_upload_checksum(checksum) {
        Ok(Some(checksum)) => {
            accepted += 1;
            // Whatever was accepted writes back to the same checksum.
            let again = match checksum {
                ChunkChecksum::Sha256(digest) => format!("sha256 {}", b64.encode(digest)),
                ChunkChecksum::Crc32(crc) => format!("crc32 {}", b64.encode(crc.to_be_bytes())),
            };
            assert_eq!(
                parse_upload_checksum(Some(&again)).ok(),
                Some(Some(checksum))
            );
        }
        Ok(None) => assert!(checksum.is_none()),
        Err(e) => assert_refusal(&e),
    }
    let Some(metadata) = lines.next() else {
        return Some(accepted);
    };
    match parse_upload_metadata(Some(metadata)) {
        Ok(parsed) => {
            accepted += 1;
            if let Some(mime) = &parsed.mime {
                assert!(!mime.is_empty() && mime.len() <= 255, "{mime:?}");
                assert!(mime.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
            }
            let mut again = format!("sha256 {}", b64.encode(parsed.sha256.as_str()));
            if let Some(mime) = &parsed.mime {
                again.push_str(&format!(",mime {}", b64.encode(mime)));
            }
            assert_eq!(parse_upload_metadata(Some(&again)).ok(), Some(parsed));
        }
        Err(e) => assert_refusal(&e),
    }
    Some(accepted)
}

fn strip_leading_zeros(raw: &str) -> &str {
    let stripped = raw.trim_start_matches('0');
    if stripped.is_empty() {
        "0"
    } else {
        stripped
    }
}

/// A header refusal is the client's fault (400), never a storage error.
fn assert_refusal(e: &TusError) {
    assert!(
        matches!(
            e,
            TusError::InvalidHeader { .. }
                | TusError::MissingSha256
                | TusError::UnsupportedChecksumAlgorithm
        ),
        "unexpected refusal: {e:?}"
    );
}
