//! Rows of `report_templates`: the template versions pulled from the server.
//! The built-in default's first version is not stored; lookups fall back to
//! it (see [`fieldbook_domain::template::builtin_templates`]).

use fieldbook_domain::template::{builtin_template, builtin_templates};
use fieldbook_domain::{ReportTemplate, TemplateRef};
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::to_json;
use crate::error::{Result, StoreError};

/// Stores a pulled version (versions never change: a copy sent again only
/// refreshes the server version).
pub(crate) fn upsert(conn: &Connection, t: &ReportTemplate, server_version: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO report_templates (id, version, body, server_version) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id, version) DO UPDATE SET body = excluded.body,
             server_version = excluded.server_version",
    )?
    .execute(params![t.id, t.version, to_json(t), server_version])?;
    Ok(())
}

fn parse(body: &str) -> Result<ReportTemplate> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("report template: {e}")))
}

/// One version: pulled, or built in.
pub(crate) fn load(conn: &Connection, r: &TemplateRef) -> Result<Option<ReportTemplate>> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM report_templates WHERE id = ?1 AND version = ?2")?
        .query_row(params![r.id, r.version], |row| row.get(0))
        .optional()?;
    match body {
        Some(b) => parse(&b).map(Some),
        None => Ok(builtin_template(r)),
    }
}

/// The version a draft or report names (`None` when it names none, or
/// one this device does not hold: the domain check then says so).
pub(crate) fn named_by(
    conn: &Connection,
    r: Option<&TemplateRef>,
) -> Result<Option<ReportTemplate>> {
    match r {
        Some(r) => load(conn, r),
        None => Ok(None),
    }
}

/// The newest version of a template this device holds.
pub(crate) fn latest(conn: &Connection, id: &str) -> Result<Option<ReportTemplate>> {
    let body: Option<String> = conn
        .prepare_cached(
            "SELECT body FROM report_templates WHERE id = ?1 ORDER BY version DESC LIMIT 1",
        )?
        .query_row([id], |row| row.get(0))
        .optional()?;
    match body {
        Some(b) => parse(&b).map(Some),
        None => Ok(builtin_templates().into_iter().find(|t| t.id == id)),
    }
}
