//! The ops console's installation list: filters, free-text search (an FTS5
//! index of word prefixes kept by migration 0004's triggers), keyset pages,
//! counts per status; and the review queue's lists, which are the same rows.
//!
//! With a search, the matching installations are found in the index first
//! and the filters and order applied to those few rows (the query starts
//! from the `hits` table); without one, the indexes on status, date and
//! update time serve the filters and order directly.

use std::collections::HashMap;

use fieldbook_domain::{
    AssignmentStatus, Installation, InstallationMedia, InstallationStatus, Lead,
};
use fieldbook_protocol::{
    AssignmentSummary, OpsInstallationRow, OpsInstallationSort, StatusCount, Versioned,
};
use rusqlite::types::Value;
use uuid::Uuid;

use super::rows::{from_json, parse_uuid, versioned};
use super::{parse_timestamp, SqliteDb};
use crate::storage::{
    ops_installation_row, InstallationFilter, InstallationPageRows, OpsReads, PageAfter,
    StorageError,
};

/// SQL conditions with their positional parameters.
#[derive(Debug, Default)]
struct Conditions {
    /// `WITH hits …` and its parameter, when searching.
    search: Option<(String, Value)>,
    sql: Vec<String>,
    params: Vec<Value>,
}

impl Conditions {
    fn push(&mut self, sql: impl Into<String>, params: impl IntoIterator<Item = Value>) {
        self.sql.push(sql.into());
        self.params.extend(params);
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    /// The `WITH` prefix and the table the query starts from.
    fn from(&self) -> (String, &'static str) {
        match &self.search {
            Some((cte, _)) => (
                cte.clone(),
                "hits h CROSS JOIN installations i ON i.id = h.installation_id",
            ),
            None => (String::new(), "installations i"),
        }
    }

    /// Every parameter in statement order (the search's comes first).
    fn all_params(self) -> Vec<Value> {
        self.search
            .map(|(_, p)| p)
            .into_iter()
            .chain(self.params)
            .collect()
    }
}

fn flag(value: bool) -> Value {
    Value::Integer(value as i64)
}

/// An FTS5 query matching every word as a word prefix, each a quoted
/// phrase (so the user's text is never read as query syntax). `None` when no
/// word has a letter or digit to search for.
fn fts_query(search: &str) -> Option<String> {
    let words: Vec<String> = search
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Every filter's condition; the status filter only when `with_status`.
fn conditions(filter: &InstallationFilter, with_status: bool) -> Conditions {
    let mut c = Conditions::default();
    if with_status && !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        c.push(
            format!("i.status IN ({marks})"),
            filter
                .statuses
                .iter()
                .map(|s| Value::Text(s.as_str().to_owned())),
        );
    }
    if let Some(from) = filter.from {
        c.push("i.scheduled_date >= ?", [Value::Text(from.to_string())]);
    }
    if let Some(to) = filter.to {
        c.push("i.scheduled_date <= ?", [Value::Text(to.to_string())]);
    }
    if let Some(team) = filter.team {
        c.push(
            "EXISTS (SELECT 1 FROM assignments a WHERE a.installation_id = i.id \
               AND a.team_id = ? AND a.status != 'withdrawn')",
            [Value::Text(team.to_string())],
        );
    }
    if let Some(unassigned) = filter.unassigned {
        let not = if unassigned { "NOT " } else { "" };
        c.push(
            format!(
                "{not}EXISTS (SELECT 1 FROM assignments a WHERE a.installation_id = i.id \
                   AND a.status != 'withdrawn')"
            ),
            [],
        );
    }
    for (column, value) in [
        ("i.material_ready", filter.material_ready),
        ("i.customer_confirmed", filter.customer_confirmed),
        ("i.demo_completed", filter.demo_completed),
        ("i.needs_review", filter.needs_review),
    ] {
        if let Some(v) = value {
            c.push(format!("{column} = ?"), [flag(v)]);
        }
    }
    if let Some(has_report) = filter.has_report {
        let not = if has_report { "" } else { "NOT " };
        c.push(
            format!("{not}EXISTS (SELECT 1 FROM reports r WHERE r.installation_id = i.id)"),
            [],
        );
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        match fts_query(search) {
            Some(query) => {
                c.search = Some((
                    "WITH hits (installation_id) AS MATERIALIZED \
                       (SELECT t.installation_id FROM installation_search s \
                        JOIN installation_search_text t ON t.rowid = s.rowid \
                        WHERE installation_search MATCH ?)"
                        .to_owned(),
                    Value::Text(query),
                ));
            }
            // Nothing searchable (only punctuation): nothing matches.
            None => c.push("0", []),
        }
    }
    c
}

/// The column a sort orders by, and whether it descends.
fn sort_column(sort: OpsInstallationSort) -> (&'static str, bool) {
    match sort {
        OpsInstallationSort::ScheduledDateAsc => ("i.scheduled_date", false),
        OpsInstallationSort::ScheduledDateDesc => ("i.scheduled_date", true),
        OpsInstallationSort::InstallationIdAsc => ("i.installation_id", false),
        OpsInstallationSort::InstallationIdDesc => ("i.installation_id", true),
        OpsInstallationSort::UpdatedAtDesc => ("i.updated_at", true),
    }
}

/// The columns every row query selects, in [`row_from`]'s order.
const ROW_COLUMNS: &str = "i.id, i.body, i.seq, l.body, r.received_at";
const ROW_JOINS: &str = "JOIN leads l ON l.id = i.lead_id \
                         LEFT JOIN reports r ON r.installation_id = i.id";

type RawRow = (String, String, i64, String, Option<String>);

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

impl OpsReads for SqliteDb<'_> {
    fn ops_installation_page(
        &self,
        filter: &InstallationFilter,
        sort: OpsInstallationSort,
        after: Option<&PageAfter>,
        limit: u32,
    ) -> Result<InstallationPageRows, StorageError> {
        let mut c = conditions(filter, true);
        let (column, descending) = sort_column(sort);
        if let Some(after) = after {
            let op = if descending { "<" } else { ">" };
            c.push(
                format!("({column}, i.id) {op} (?, ?)"),
                [
                    Value::Text(after.key.clone()),
                    Value::Text(after.id.to_string()),
                ],
            );
        }
        let direction = if descending { "DESC" } else { "ASC" };
        let (with, from) = c.from();
        let sql = format!(
            "{with} SELECT {ROW_COLUMNS}, {column} FROM {from} {ROW_JOINS} {} \
             ORDER BY {column} {direction}, i.id {direction} LIMIT ?",
            c.where_clause()
        );
        let mut params = c.all_params();
        params.push(Value::Integer(limit as i64 + 1));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut raw: Vec<(RawRow, String)> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok((raw_row(r)?, r.get::<_, String>(5)?))
            })?
            .collect::<Result<_, _>>()?;
        let next = if raw.len() > limit as usize {
            raw.truncate(limit as usize);
            let ((id, ..), key) = raw.last().expect("limit is at least 1");
            Some(PageAfter {
                key: key.clone(),
                id: parse_uuid(id)?,
            })
        } else {
            None
        };
        let rows = self.rows_from(raw.into_iter().map(|(row, _)| row).collect())?;
        Ok(InstallationPageRows { rows, next })
    }

    fn ops_status_counts(
        &self,
        filter: &InstallationFilter,
    ) -> Result<Vec<StatusCount>, StorageError> {
        let c = conditions(filter, false);
        let (with, from) = c.from();
        let sql = format!(
            "{with} SELECT i.status, count(*) FROM {from} {} GROUP BY i.status",
            c.where_clause()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let counts = stmt
            .query_map(rusqlite::params_from_iter(c.all_params()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out: Vec<StatusCount> = counts
            .into_iter()
            .map(|(status, count)| {
                Ok(StatusCount {
                    status: InstallationStatus::parse(&status)
                        .ok_or_else(|| StorageError::Corrupt(format!("status {status:?}")))?,
                    count: count as u64,
                })
            })
            .collect::<Result<_, StorageError>>()?;
        out.sort_by_key(|c| {
            InstallationStatus::ALL
                .iter()
                .position(|s| *s == c.status)
                .unwrap_or(usize::MAX)
        });
        Ok(out)
    }

    fn ops_awaiting_close(&self, limit: u32) -> Result<Vec<OpsInstallationRow>, StorageError> {
        self.ops_rows_where(
            "i.status = 'report_submitted'",
            "r.received_at, i.id",
            limit,
        )
    }

    fn ops_flagged_for_review(&self, limit: u32) -> Result<Vec<OpsInstallationRow>, StorageError> {
        self.ops_rows_where("i.needs_review", "i.updated_at DESC, i.id", limit)
    }

    fn ops_missing_blobs(
        &self,
        limit: u32,
    ) -> Result<Vec<(OpsInstallationRow, u64, bool)>, StorageError> {
        let rows = self.ops_rows_where(
            "r.id IS NOT NULL AND (r.signature_blob_present = 0 OR EXISTS \
               (SELECT 1 FROM media m WHERE m.installation_id = i.id AND m.blob_present = 0))",
            "r.received_at, i.id",
            limit,
        )?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT (SELECT count(*) FROM media m WHERE m.installation_id = ?1 AND m.blob_present = 0), \
                    (SELECT signature_blob_present = 0 FROM reports WHERE installation_id = ?1)",
        )?;
        rows.into_iter()
            .map(|row| {
                let (media, signature): (i64, bool) =
                    stmt.query_row([row.id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok((row, media as u64, signature))
            })
            .collect()
    }

    fn ops_nav_counts(&self) -> Result<(u64, u64, u64, u64, u64), StorageError> {
        let counts: (i64, i64, i64, i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT \
               (SELECT count(*) FROM installations WHERE status = 'report_submitted'), \
               (SELECT count(*) FROM installations WHERE needs_review), \
               (SELECT count(*) FROM reports r WHERE r.signature_blob_present = 0 OR EXISTS \
                  (SELECT 1 FROM media m WHERE m.installation_id = r.installation_id \
                     AND m.blob_present = 0)), \
               (SELECT count(*) FROM surveys s WHERE NOT EXISTS \
                  (SELECT 1 FROM installations i WHERE i.survey_id = s.id)), \
               (SELECT count(*) FROM installations i \
                  WHERE i.status NOT IN ('closed', 'cancelled') AND NOT EXISTS \
                  (SELECT 1 FROM assignments a WHERE a.installation_id = i.id \
                     AND a.status != 'withdrawn'))",
            )?
            .query_row([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
        Ok((
            counts.0 as u64,
            counts.1 as u64,
            counts.2 as u64,
            counts.3 as u64,
            counts.4 as u64,
        ))
    }

    fn installation_media(
        &self,
        installation: Uuid,
    ) -> Result<Vec<Versioned<InstallationMedia>>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body, seq FROM media WHERE installation_id = ?1 ORDER BY received_at, id",
        )?;
        let rows = stmt
            .query_map([installation.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|(b, s)| versioned(b, s)).collect()
    }

    fn plain_installation_page(&self, limit: u32) -> Result<Vec<Installation>, StorageError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body FROM installations ORDER BY scheduled_date, id LIMIT ?1",
        )?;
        let bodies = stmt
            .query_map([limit as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|b| from_json(b)).collect()
    }
}

impl SqliteDb<'_> {
    /// Rows of the given installations' ids that match a fixed condition, in
    /// a fixed order (the review queue's lists).
    fn ops_rows_where(
        &self,
        condition: &str,
        order: &str,
        limit: u32,
    ) -> Result<Vec<OpsInstallationRow>, StorageError> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM installations i {ROW_JOINS} \
             WHERE {condition} ORDER BY {order} LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let raw = stmt
            .query_map([limit as i64], raw_row)?
            .collect::<Result<Vec<_>, _>>()?;
        self.rows_from(raw)
    }

    /// The console rows of raw installation rows, with their non-withdrawn
    /// assignments (one query for the whole page).
    fn rows_from(&self, raw: Vec<RawRow>) -> Result<Vec<OpsInstallationRow>, StorageError> {
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; raw.len()].join(", ");
        let sql = format!(
            "SELECT a.installation_id, a.id, a.team_id, t.name, a.status, \
                    json_extract(a.body, '$.is_primary') \
             FROM assignments a JOIN teams t ON t.id = a.team_id \
             WHERE a.status != 'withdrawn' AND a.installation_id IN ({marks}) \
             ORDER BY json_extract(a.body, '$.is_primary') DESC, a.seq"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let ids = raw.iter().map(|(id, ..)| Value::Text(id.clone()));
        let assignment_rows = stmt
            .query_map(rusqlite::params_from_iter(ids), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut assignments: HashMap<String, Vec<AssignmentSummary>> = HashMap::new();
        for (installation, id, team, name, status, primary) in assignment_rows {
            assignments
                .entry(installation)
                .or_default()
                .push(AssignmentSummary {
                    assignment_id: parse_uuid(&id)?,
                    team_id: parse_uuid(&team)?,
                    team_name: name,
                    is_primary: primary != 0,
                    status: AssignmentStatus::parse(&status).ok_or_else(|| {
                        StorageError::Corrupt(format!("assignment status {status:?}"))
                    })?,
                });
        }
        raw.into_iter()
            .map(|(id, body, seq, lead, received_at)| {
                let installation: Installation = from_json(&body)?;
                let lead: Lead = from_json(&lead)?;
                Ok(ops_installation_row(
                    installation,
                    lead,
                    received_at.as_deref().map(parse_timestamp).transpose()?,
                    assignments.remove(&id).unwrap_or_default(),
                    seq as u64,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_quoted_prefix_phrases() {
        assert_eq!(
            fts_query("Smith  LS1 a\"b"),
            Some("\"Smith\"* \"LS1\"* \"a\"\"b\"*".into())
        );
        assert_eq!(fts_query(" \" ** "), None);
    }

    #[test]
    fn status_filter_is_left_out_of_the_counts() {
        let filter = InstallationFilter {
            statuses: vec![InstallationStatus::Planned],
            needs_review: Some(true),
            ..Default::default()
        };
        assert_eq!(conditions(&filter, true).sql.len(), 2);
        assert_eq!(conditions(&filter, false).sql.len(), 1);
    }
}
