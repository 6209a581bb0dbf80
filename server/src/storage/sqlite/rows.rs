//! Row conversions every table module shares: JSON bodies, uuids, versions.

use fieldbook_protocol::Versioned;
use rusqlite::OptionalExtension;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{SqliteDb, SqliteTx};
use crate::storage::StorageError;

pub(super) fn from_json<T: DeserializeOwned>(body: &str) -> Result<T, StorageError> {
    Ok(serde_json::from_str(body)?)
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StorageError> {
    Ok(serde_json::to_string(value)?)
}

pub(super) fn versioned<T: DeserializeOwned>(
    body: String,
    seq: i64,
) -> Result<Versioned<T>, StorageError> {
    Ok(Versioned {
        version: seq as u64,
        record: from_json(&body)?,
    })
}

pub(super) fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|e| StorageError::Corrupt(format!("uuid {s:?}: {e}")))
}

impl SqliteDb<'_> {
    pub(super) fn body_by_id<T: DeserializeOwned>(
        &self,
        sql: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, StorageError> {
        self.conn
            .prepare_cached(sql)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .map(|(b, s)| versioned(b, s))
            .transpose()
    }
}

impl SqliteTx<'_> {
    /// Ids selected by `sql` with one id parameter.
    pub(super) fn ids(&self, sql: &str, param: Uuid) -> Result<Vec<Uuid>, StorageError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let rows = stmt
            .query_map([param.to_string()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.iter().map(|s| parse_uuid(s)).collect()
    }
}
