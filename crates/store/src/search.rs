//! Text search over installations: an in-memory copy of the
//! `installation_search` table (folded customer name, address, postcode
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
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::error::Result;

#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    rowids: Vec<i64>,
    texts: Vec<Box<str>>,
}

impl SearchIndex {
    /// The copy of `installation_search`, or with `from_rows` the same
    /// texts computed from the installations and leads: during a first
    /// sync the table waits for its end (see `apply::bulk_load`), and a
    /// search still finds every job already pulled.
    pub(crate) fn load(conn: &Connection, from_rows: bool) -> Result<SearchIndex> {
        let sql = if from_rows {
            format!(
                "SELECT i.rowid, {INSTALLATION_TEXT_SQL} \
                 FROM installations AS i LEFT JOIN leads AS l ON l.id = i.lead_id"
            )
        } else {
            "SELECT installation_rowid, search_text FROM installation_search".to_owned()
        };
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut index = SearchIndex::default();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            index.rowids.push(row.get(0)?);
            let text: String = row.get(1)?;
            // A text written by a version that did not fold accents yet is
            // folded here; a folded text folds to itself.
            let text = if text.is_ascii() { text } else { fold(&text) };
            index.texts.push(text.into_boxed_str());
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

/// Folds a search term or indexed text: Unicode lower case (not SQLite's
/// ASCII-only `lower()`, so "MÜLLER" finds "Müller") without accents (so
/// "muller" finds it too, as the console's search on the server does).
/// Letters that are not a base letter plus marks (ß, æ, ø) stay as they are,
/// like the server's SQLite index. ASCII text, most of it, takes a fast path:
/// this runs for every installation of a sync.
pub(crate) fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

/// Registers `fieldbook_fold(text)`: [`fold`] inside SQL (NULL stays
/// NULL), so a pull page writes its search texts in one statement from the
/// rows it just wrote, instead of reading leads back into Rust and sending
/// the texts in again. SQLite's own `lower()` only folds ASCII.
pub(crate) fn register_fold(conn: &Connection) -> Result<()> {
    conn.create_scalar_function(
        "fieldbook_fold",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Null => None,
                value => {
                    Some(fold(value.as_str().map_err(|e| {
                        rusqlite::Error::UserFunctionError(Box::new(e))
                    })?))
                }
            })
        },
    )?;
    Ok(())
}

/// The SQL of an installation's search text ([`installation_text`] of
/// [`lead_text`] and its number) over `installations i LEFT JOIN leads l`:
/// the same text, folded by `fieldbook_fold`. No lead on the device: an
/// empty lead part, as [`installation_text`] is given then.
pub(crate) const INSTALLATION_TEXT_SQL: &str =
    "coalesce(fieldbook_fold(l.customer_name || char(10) || l.address_line1 || char(10) \
     || l.address_line2 || char(10) || l.city || char(10) || l.postcode), '') \
     || char(10) || fieldbook_fold(coalesce(i.displaced_number, i.installation_id))";

/// The lead's part of an installation's search text (what
/// [`INSTALLATION_TEXT_SQL`] computes, kept to test it against); fields are joined
/// with newlines so a search word (which has no whitespace) never matches
/// across two fields.
#[cfg(test)]
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
#[cfg(test)]
pub(crate) fn installation_text(lead_part: &str, installation_number: &str) -> String {
    format!("{lead_part}\n{}", fold(installation_number))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL text is the Rust text: Unicode folding (not SQLite's
    /// ASCII-only `lower()`), fields joined by newlines, the number last.
    #[test]
    fn the_sql_search_text_is_the_rust_one() {
        let conn = Connection::open_in_memory().unwrap();
        register_fold(&conn).unwrap();
        let lead = fieldbook_domain::Lead {
            id: uuid::Uuid::new_v4(),
            customer_name: "Jörg MÜLLER ΣΟΦΙΑΣ".into(),
            phone: "+49 30 1234".into(),
            email: "j@example.com".into(),
            address_line1: "Straße 1".into(),
            address_line2: String::new(),
            city: "BERLIN".into(),
            postcode: "10115".into(),
            latitude: None,
            longitude: None,
            installer_notes: String::new(),
        };
        conn.execute_batch(
            "CREATE TABLE leads (id, customer_name, address_line1, address_line2, city, postcode);
             CREATE TABLE installations (lead_id, installation_id, displaced_number);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO leads VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                lead.id.to_string(),
                lead.customer_name,
                lead.address_line1,
                lead.address_line2,
                lead.city,
                lead.postcode
            ],
        )
        .unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO installations VALUES ('{}', 'INS-2026-000001', NULL),
                                              ('no such lead', 'INS-2026-000002', NULL)",
            lead.id
        ))
        .unwrap();
        let texts: Vec<String> = conn
            .prepare(&format!(
                "SELECT {INSTALLATION_TEXT_SQL} FROM installations i \
                 LEFT JOIN leads l ON l.id = i.lead_id ORDER BY i.installation_id"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            texts,
            [
                installation_text(&lead_text(&lead), "INS-2026-000001"),
                installation_text("", "INS-2026-000002"),
            ]
        );
        assert!(texts[0].contains("jorg muller"), "{}", texts[0]);
    }

    #[test]
    fn folding_drops_case_and_accents_and_keeps_other_letters() {
        assert_eq!(fold("Jürgen MÜLLER"), "jurgen muller");
        assert_eq!(
            fold("Núñez, François Çelik, Åsa Öberg"),
            "nunez, francois celik, asa oberg"
        );
        assert_eq!(fold("INS-2026-000001"), "ins-2026-000001");
        // Not a letter plus an accent: kept, as the server's index keeps them.
        assert_eq!(fold("Straße Ærø"), "straße ærø");
        assert_eq!(fold("Дмитрий"), "дмитрии", "й is и plus a breve");
        assert_eq!(fold(&fold("Müller")), fold("Müller"));
    }

    #[test]
    fn an_index_written_before_accent_folding_still_finds_accentless_words() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE installation_search (installation_rowid INTEGER PRIMARY KEY, search_text TEXT);
             INSERT INTO installation_search VALUES (1, 'jürgen müller\n3 mill lane'), (2, 'ada lovelace');",
        )
        .unwrap();
        let index = SearchIndex::load(&conn, false).unwrap();
        assert_eq!(index.matching(&[fold("muller")]), vec![1]);
        assert_eq!(index.matching(&[fold("MÜLLER")]), vec![1]);
        assert_eq!(index.matching(&[fold("lovelace")]), vec![2]);
    }
}
