//! The desktop's local store: SQLite, migrations, outbox, media.
