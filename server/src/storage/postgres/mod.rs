//! The PostgreSQL backend (see docs/storage.md). So far only its change
//! sequence, the one part whose correctness differs from SQLite's: with
//! concurrent writers, sequence order is not commit order.

pub mod change_seq;
