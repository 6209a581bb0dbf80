//! Writing many rows of one table with multi-row `INSERT … VALUES (…), (…)`
//! statements: a pull page brings hundreds of rows per table.
//!
//! One statement per row paid, for every row, a statement-cache lookup,
//! a step and a reset, and — the largest part — the table's `CHECK (x IN
//! (…))` constraints: SQLite builds a small temporary B-tree for such a
//! list once per statement run, which for single-row statements was a
//! quarter of the time spent writing an installation or an assignment.
//!
//! A multi-row statement that may stop half-way with its earlier rows to
//! undo keeps a statement journal: a copy of every page it touches. An
//! upsert may (its update part always aborts on a broken constraint), and
//! so does a plain insert. `INSERT OR FAIL … ON CONFLICT (id) DO NOTHING`
//! does not: it keeps the rows written before a failure, which costs us
//! nothing, since a failure ends the caller's whole transaction. So rows
//! go in with that first, and only a run with rows already here (fewer
//! rows written than sent) is written again with the table's statement
//! that writes over existing rows. A function call in a table's `CHECK`
//! counts as able to fail half-way too, whatever the conflict clause: keep
//! such checks off the tables pull pages write (migration 0014 took
//! `length(installation_id)` off `installations` for this).

use std::fmt::Write as _;

use rusqlite::{CachedStatement, Connection, ToSql};

use crate::error::Result;

/// Rows per statement, largest first. A run of rows is written with as few
/// statements as these sizes allow (at most three of each smaller size),
/// and each size is one prepared statement the connection keeps.
const SIZES: [usize; 4] = [64, 16, 4, 1];

/// How a table's rows replace the rows already there with the same `id`.
pub(crate) enum WriteOver {
    /// `INSERT OR REPLACE`: the old row is deleted and the new one written.
    Replace,
    /// `ON CONFLICT (id) DO UPDATE SET` these assignments (`excluded.`
    /// names the new row).
    Update(&'static str),
}

/// One table's multi-row write: for each of [`SIZES`], the statement that
/// writes new rows and the one that writes over existing ones.
pub(crate) struct MultiRowWrite {
    /// Indexed like [`SIZES`].
    new_rows: [String; 4],
    /// Indexed like [`SIZES`].
    over_rows: [String; 4],
    params_per_row: usize,
}

impl MultiRowWrite {
    /// `into` names the table and its columns (`t (id, a, b)`; `id` is the
    /// primary key), `row` which SQL parameter (`?N`, from 1) goes into
    /// each column of one row (a number may come twice: `[1, 2, 2]` writes
    /// the second parameter into two columns), and `params_per_row` how
    /// many parameters each row binds.
    pub(crate) fn new(into: &str, row: &[usize], params_per_row: usize, over: WriteOver) -> Self {
        debug_assert!(row.iter().all(|&p| (1..=params_per_row).contains(&p)));
        let values = |rows: usize| {
            let mut sql = String::from("VALUES ");
            for r in 0..rows {
                let base = r * params_per_row;
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for (i, p) in row.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    let _ = write!(sql, "{sep}?{}", base + p);
                }
                sql.push(')');
            }
            sql
        };
        let new_rows = SIZES.map(|rows| {
            format!(
                "INSERT OR FAIL INTO {into} {} ON CONFLICT (id) DO NOTHING",
                values(rows)
            )
        });
        let over_rows = SIZES.map(|rows| match over {
            WriteOver::Replace => format!("INSERT OR REPLACE INTO {into} {}", values(rows)),
            WriteOver::Update(set) => format!(
                "INSERT INTO {into} {} ON CONFLICT (id) DO UPDATE SET {set}",
                values(rows)
            ),
        });
        MultiRowWrite {
            new_rows,
            over_rows,
            params_per_row,
        }
    }

    /// Writes `rows` in order; `bind` gives one row's parameters, in the
    /// order of their numbers.
    pub(crate) fn write<T>(
        &self,
        conn: &Connection,
        rows: &[T],
        bind: impl Fn(&T, &mut RowParams<'_, '_>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        let mut rest = rows;
        for (i, size) in SIZES.iter().enumerate() {
            if rest.len() < *size {
                continue;
            }
            let mut new_rows = conn.prepare_cached(&self.new_rows[i])?;
            while rest.len() >= *size {
                let (chunk, tail) = rest.split_at(*size);
                self.bind_all(&mut new_rows, chunk, &bind)?;
                if new_rows.raw_execute()? < chunk.len() {
                    // Some were here already: all of them again, over
                    // what is there (rows just written are written the
                    // same).
                    let mut over_rows = conn.prepare_cached(&self.over_rows[i])?;
                    self.bind_all(&mut over_rows, chunk, &bind)?;
                    over_rows.raw_execute()?;
                }
                rest = tail;
            }
        }
        Ok(())
    }

    fn bind_all<T>(
        &self,
        stmt: &mut CachedStatement<'_>,
        chunk: &[T],
        bind: &impl Fn(&T, &mut RowParams<'_, '_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        for (r, row) in chunk.iter().enumerate() {
            let mut params = RowParams {
                stmt,
                next: r * self.params_per_row + 1,
            };
            bind(row, &mut params)?;
            debug_assert_eq!(params.next, (r + 1) * self.params_per_row + 1);
        }
        Ok(())
    }
}

/// The parameters of one row of a [`MultiRowWrite`], bound in order.
pub(crate) struct RowParams<'s, 'c> {
    stmt: &'s mut CachedStatement<'c>,
    next: usize,
}

impl RowParams<'_, '_> {
    /// Binds the row's next parameter.
    pub(crate) fn push(&mut self, value: impl ToSql) -> rusqlite::Result<&mut Self> {
        self.stmt.raw_bind_parameter(self.next, value)?;
        self.next += 1;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                             copy TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('a', 'b', 'c')))",
        )
        .unwrap();
        conn
    }

    fn write(conn: &Connection, rows: &[(i64, String, &str)]) -> Result<()> {
        MultiRowWrite::new(
            "t (id, name, copy, kind)",
            &[1, 2, 2, 3],
            3,
            WriteOver::Update("name = excluded.name, copy = excluded.copy"),
        )
        .write(conn, rows, |(id, name, kind), p| {
            p.push(id)?.push(name)?.push(kind)?;
            Ok(())
        })
    }

    #[test]
    fn every_count_of_rows_is_written_whole_and_in_order() {
        // Every size, and runs between them (3 of each smaller size at most).
        for n in [0, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 127, 150] {
            let conn = table();
            let rows: Vec<_> = (0..n).map(|i| (i, format!("row {i}"), "b")).collect();
            write(&conn, &rows).unwrap();
            let stored: Vec<(i64, String, String)> = conn
                .prepare("SELECT id, name, copy FROM t ORDER BY id")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(stored.len(), n as usize, "{n} rows");
            for (i, (id, name, copy)) in stored.into_iter().enumerate() {
                assert_eq!(id, i as i64);
                assert_eq!(name, format!("row {i}"));
                assert_eq!(copy, name, "a parameter used twice fills both columns");
            }
        }
    }

    #[test]
    fn a_later_row_of_the_same_key_wins_as_with_one_statement_per_row() {
        let conn = table();
        let rows = vec![
            (1, "first".to_owned(), "a"),
            (2, "other".to_owned(), "a"),
            (1, "second".to_owned(), "a"),
            (3, "x".to_owned(), "a"),
        ];
        write(&conn, &rows).unwrap();
        let name: String = conn
            .query_row("SELECT name FROM t WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "second");
    }

    #[test]
    fn rows_already_here_are_written_over_among_new_ones() {
        for over in [
            WriteOver::Update("name = excluded.name, copy = excluded.copy"),
            WriteOver::Replace,
        ] {
            let conn = table();
            conn.execute_batch(
                "INSERT INTO t VALUES (1, 'old', 'old', 'a'); INSERT INTO t VALUES (40, 'old', 'old', 'a');",
            )
            .unwrap();
            let rows: Vec<_> = (0..70).map(|i| (i, format!("new {i}"), "c")).collect();
            MultiRowWrite::new("t (id, name, copy, kind)", &[1, 2, 2, 3], 3, over)
                .write(&conn, &rows, |(id, name, kind), p| {
                    p.push(id)?.push(name)?.push(kind)?;
                    Ok(())
                })
                .unwrap();
            let (count, old): (i64, i64) = conn
                .query_row(
                    "SELECT count(*), count(*) FILTER (WHERE name = 'old' OR copy = 'old') FROM t",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((count, old), (70, 0));
        }
    }

    #[test]
    fn a_row_breaking_a_constraint_fails_the_write() {
        let conn = table();
        let rows: Vec<_> = (0..20)
            .map(|i| (i, format!("row {i}"), if i == 17 { "z" } else { "a" }))
            .collect();
        let err = write(&conn, &rows).unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
    }
}
