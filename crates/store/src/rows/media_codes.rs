//! Rows of `media_codes` (the barcodes and QR codes read from a photo
//! attached on this device) and `media_label_searches` (the queue of photos
//! whose codes are still to be searched, after their import).

use chrono::{DateTime, Utc};
use fieldbook_domain::label::{CodeFormat, LabelCode};
use fieldbook_domain::Sha256Hex;
use fieldbook_media::label_codes::{LabelSearch, SearchDepth};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use crate::db::{get_choice, get_parsed, get_uuid, ts};
use crate::error::Result;

/// A photo whose label search is still to run, and how much of it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingLabelSearch {
    pub media_id: Uuid,
    pub installation_id: Uuid,
    pub sha256: Sha256Hex,
    /// `Quick` first; `Rest` once the quick look found nothing.
    pub depth: SearchDepth,
}

/// Queues the photo's label search (it runs after the import).
pub(crate) fn queue_search(conn: &Connection, media_id: Uuid, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO media_label_searches (media_id, queued_at) VALUES (?1, ?2)",
    )?
    .execute(params![media_id.to_string(), ts(&now)])?;
    Ok(())
}

/// The next search due: the oldest photo still without its quick look,
/// else the oldest still waiting for the rest.
pub(crate) fn next_waiting(conn: &Connection) -> Result<Option<WaitingLabelSearch>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.id, m.installation_id, m.file_sha256, s.quick_done
             FROM media_label_searches s JOIN installation_media m ON m.id = s.media_id
             WHERE s.searched_at IS NULL
             ORDER BY s.quick_done, s.queued_at, s.media_id LIMIT 1",
        )?
        .query_row([], |r| {
            Ok(WaitingLabelSearch {
                media_id: get_uuid(r, 0)?,
                installation_id: get_uuid(r, 1)?,
                sha256: get_parsed(r, 2)?,
                depth: if r.get::<_, bool>(3)? {
                    SearchDepth::Rest
                } else {
                    SearchDepth::Quick
                },
            })
        })
        .optional()?)
}

/// Records a search and its codes: finished when it found a code or was
/// the rest of the search; a quick look without a code leaves the rest
/// due. Returns whether the photo's search is finished (false too when
/// the photo was removed meanwhile: nothing is recorded then).
pub(crate) fn record_search(
    conn: &Connection,
    media_id: Uuid,
    depth: SearchDepth,
    search: &LabelSearch,
    now: DateTime<Utc>,
) -> Result<bool> {
    let finished = !search.codes.is_empty() || depth != SearchDepth::Quick;
    let updated = if finished {
        conn.prepare_cached(
            "UPDATE media_label_searches SET searched_at = ?2, complete = ?3
             WHERE media_id = ?1 AND searched_at IS NULL",
        )?
        .execute(params![media_id.to_string(), ts(&now), search.complete])?
    } else {
        conn.prepare_cached(
            "UPDATE media_label_searches SET quick_done = 1
             WHERE media_id = ?1 AND searched_at IS NULL",
        )?
        .execute([media_id.to_string()])?
    };
    if updated == 0 || !finished {
        return Ok(false);
    }
    insert(conn, media_id, &search.codes)?;
    Ok(true)
}

fn insert(conn: &Connection, media_id: Uuid, codes: &[LabelCode]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO media_codes (media_id, position, format, text, gs1)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (position, code) in codes.iter().enumerate() {
        stmt.execute(params![
            media_id.to_string(),
            position as i64,
            code.format.as_str(),
            code.text,
            code.gs1,
        ])?;
    }
    Ok(())
}

/// The codes of the installation's photos, newest photo first (the label
/// photo just taken is the one the technician is looking at).
pub(crate) fn list_for_installation(
    conn: &Connection,
    installation_id: Uuid,
) -> Result<Vec<(Uuid, LabelCode)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.media_id, c.format, c.text, c.gs1
         FROM media_codes c JOIN installation_media m ON m.id = c.media_id
         WHERE m.installation_id = ?1
         ORDER BY m.uploaded_at DESC, m.id, c.position",
    )?;
    let rows = stmt.query_map([installation_id.to_string()], |r| {
        Ok((
            get_uuid(r, 0)?,
            LabelCode {
                format: get_choice(r, 1, "code format", CodeFormat::parse)?,
                text: r.get(2)?,
                gs1: r.get(3)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
