//! Row conversions every table module shares (JSON bodies, uuids,
//! versions), and the statement helpers: parameters carry their PostgreSQL
//! type, so a statement is prepared with exactly the types bound to it
//! (`$1 = 1` compares a bigint, as SQLite's `?1 = 1` compares an integer).

use std::future::Future;

use fieldbook_protocol::Versioned;
use serde::de::DeserializeOwned;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;
use uuid::Uuid;

use super::PgDb;
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

/// A statement parameter: a value and the PostgreSQL type it binds as.
pub(super) trait Param: Sync {
    fn pg_type(&self) -> Type;
    fn value(&self) -> &(dyn ToSql + Sync);
}

macro_rules! param {
    ($pg:expr => $($t:ty),*) => {$(
        impl Param for $t {
            fn pg_type(&self) -> Type {
                $pg
            }
            fn value(&self) -> &(dyn ToSql + Sync) {
                self
            }
        }
    )*};
}
param!(Type::INT8 => i64, Option<i64>);
param!(Type::BOOL => bool);
param!(Type::TEXT => String, &str, Option<String>, Option<&str>);

/// `sql` with `:name` parameters (as the SQLite backend writes them)
/// numbered `$1`, `$2`… in the order of `names`. `::` casts are left alone.
pub(super) fn numbered(sql: &str, names: &[&str]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.char_indices().peekable();
    let mut previous = ' ';
    while let Some((i, c)) = chars.next() {
        let starts_name = c == ':'
            && previous != ':'
            && chars
                .peek()
                .is_some_and(|(_, n)| n.is_ascii_alphabetic() || *n == '_');
        if !starts_name {
            out.push(c);
            previous = c;
            continue;
        }
        let mut end = i + 1;
        while let Some((j, n)) = chars.peek().copied() {
            if n.is_ascii_alphanumeric() || n == '_' {
                end = j + n.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let name = &sql[i..end];
        match names.iter().position(|n| *n == name) {
            Some(k) => out.push_str(&format!("${}", k + 1)),
            None => out.push_str(name),
        }
        previous = 'x';
    }
    out
}

impl PgDb<'_> {
    pub(super) fn block<F: Future>(&self, f: F) -> F::Output {
        super::block(self.handle, f)
    }

    fn statement(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<tokio_postgres::Statement, StorageError> {
        if let Some(cancel) = self.cancel {
            cancel.check()?;
        }
        let types: Vec<Type> = params.iter().map(|p| p.pg_type()).collect();
        Ok(self.block(self.tx.prepare_typed_cached(sql, &types))?)
    }

    fn values<'p>(params: &'p [&'p dyn Param]) -> Vec<&'p (dyn ToSql + Sync)> {
        params.iter().map(|p| p.value()).collect()
    }

    /// Every row `sql` returns.
    pub(super) fn rows(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>, StorageError> {
        let statement = self.statement(sql, params)?;
        Ok(self.block(self.tx.query(&statement, &Self::values(params)))?)
    }

    /// The one row `sql` returns, if any.
    pub(super) fn row(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Option<Row>, StorageError> {
        let statement = self.statement(sql, params)?;
        Ok(self.block(self.tx.query_opt(&statement, &Self::values(params)))?)
    }

    /// The one row `sql` always returns.
    pub(super) fn one(&self, sql: &str, params: &[&dyn Param]) -> Result<Row, StorageError> {
        let statement = self.statement(sql, params)?;
        Ok(self.block(self.tx.query_one(&statement, &Self::values(params)))?)
    }

    /// Runs `sql`; the number of rows it changed.
    pub(super) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<u64, StorageError> {
        let statement = self.statement(sql, params)?;
        Ok(self.block(self.tx.execute(&statement, &Self::values(params)))?)
    }

    /// `sql` (one table's rows), `FOR UPDATE` inside a write transaction.
    pub(super) fn locking(&self, sql: &str) -> String {
        if self.in_write {
            format!("{sql} FOR UPDATE")
        } else {
            sql.to_owned()
        }
    }

    /// Every row `sql` returns, its `:name` parameters bound by name.
    pub(super) fn named_rows(
        &self,
        sql: &str,
        params: &[(&str, &dyn Param)],
    ) -> Result<Vec<Row>, StorageError> {
        let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
        let values: Vec<&dyn Param> = params.iter().map(|(_, v)| *v).collect();
        self.rows(&numbered(sql, &names), &values)
    }

    /// One record's body and version. Inside a write transaction the row
    /// is locked (`FOR UPDATE`) until it commits: what a handler reads, then
    /// changes, no concurrent transaction changes in between (SQLite's
    /// single writer gives that for free).
    pub(super) fn body_by_id<T: DeserializeOwned>(
        &self,
        sql: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, StorageError> {
        let sql = self.locking(sql);
        self.row(&sql, &[&id])?
            .map(|r| versioned(r.try_get(0)?, r.try_get(1)?))
            .transpose()
    }

    /// Ids selected by `sql` with one id parameter.
    pub(super) fn ids(&self, sql: &str, param: Uuid) -> Result<Vec<Uuid>, StorageError> {
        self.rows(sql, &[&param.to_string()])?
            .iter()
            .map(|r| parse_uuid(&r.try_get::<_, String>(0)?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parameters_are_numbered_and_casts_kept() {
        assert_eq!(
            numbered(
                "SELECT x::text FROM t WHERE a > :cursor AND (:all = 1 OR u = :user) AND b <= :upper LIMIT :n",
                &[":cursor", ":upper", ":n", ":all", ":user"]
            ),
            "SELECT x::text FROM t WHERE a > $1 AND ($4 = 1 OR u = $5) AND b <= $2 LIMIT $3"
        );
    }
}
