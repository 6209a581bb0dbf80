//! Text search over installations: an in-memory copy of the
//! `installation_search` table (lower-cased customer name, address, postcode
//! and installation id per installation rowid), scanned with Rust's substring
//! search.
//!
//! Why not SQL: a substring scan in SQLite pays its per-row VM cost on all
//! 10,000 rows (~1.5 ms on a busy 2-core laptop, most of the 2 ms budget),
//! and an FTS5 trigram index makes first sync ~5x slower through its trigger.
//! The copy is ~70 bytes per installation, rebuilt lazily after a sync page
//! changed the table (the only writer), and scanned in well under a
//! millisecond; the hits go back to SQL as one `rarray` parameter.

use rusqlite::Connection;

use crate::error::Result;

#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    rowids: Vec<i64>,
    texts: Vec<Box<str>>,
}

impl SearchIndex {
    pub(crate) fn load(conn: &Connection) -> Result<SearchIndex> {
        let mut stmt =
            conn.prepare_cached("SELECT installation_rowid, search_text FROM installation_search")?;
        let mut index = SearchIndex::default();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            index.rowids.push(row.get(0)?);
            index.texts.push(row.get::<_, String>(1)?.into_boxed_str());
        }
        Ok(index)
    }

    /// Rowids of installations whose text contains every word (already
    /// folded with [`fold`]).
    pub(crate) fn matching(&self, words: &[String]) -> Vec<i64> {
        self.rowids
            .iter()
            .zip(&self.texts)
            .filter(|(_, text)| words.iter().all(|w| text.contains(w.as_str())))
            .map(|(rowid, _)| *rowid)
            .collect()
    }
}

/// Lower-cases a search term or indexed text. Rust's Unicode lower-casing,
/// not SQLite's ASCII-only `lower()`, so "MÜLLER" finds "Müller".
pub(crate) fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// The lead's part of an installation's search text; fields are joined
/// with newlines so a search word (which has no whitespace) never matches
/// across two fields.
pub(crate) fn lead_text(lead: &fieldbook_domain::Lead) -> String {
    fold(
        &[
            lead.customer_name.as_str(),
            &lead.address_line1,
            &lead.address_line2,
            &lead.city,
            &lead.postcode,
        ]
        .join("\n"),
    )
}

/// An installation's whole search text: its lead's part and its number.
pub(crate) fn installation_text(lead_part: &str, installation_number: &str) -> String {
    format!("{lead_part}\n{}", fold(installation_number))
}
