//! The server's storage. SQLite (`sqlite/`) is the one backend so far;
//! `postgres/` holds the PostgreSQL change sequence (see docs/storage.md).

pub mod postgres;
mod sqlite;

pub use sqlite::*;
