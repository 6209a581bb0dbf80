//! Rows of `media_codes`: the barcodes and QR codes read from a photo when it
//! was attached on this device.

use fieldbook_domain::label::{CodeFormat, LabelCode};
use rusqlite::{params, Connection};
use uuid::Uuid;

use crate::db::{get_choice, get_uuid};
use crate::error::Result;

pub(crate) fn insert(conn: &Connection, media_id: Uuid, codes: &[LabelCode]) -> Result<()> {
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
