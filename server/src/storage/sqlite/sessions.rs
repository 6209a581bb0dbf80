//! Login sessions (stored by token hash; the token itself is never stored).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::parse_uuid;
use super::{parse_timestamp, timestamp, SqliteDb, SqliteTx};
use crate::storage::{SessionReads, SessionRow, SessionWrites, StorageError};

impl SessionReads for SqliteDb<'_> {
    fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, StorageError> {
        let row: Option<(String, String, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT user_id, expires_at, revoked_at FROM sessions WHERE token_hash = ?1",
            )?
            .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(user, exp, revoked)| {
            Ok(SessionRow {
                user_id: parse_uuid(&user)?,
                expires_at: parse_timestamp(&exp)?,
                revoked: revoked.is_some(),
            })
        })
        .transpose()
    }
}

impl SessionWrites for SqliteTx<'_> {
    fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.tx.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                token_hash,
                user_id.to_string(),
                timestamp(self.now),
                timestamp(expires_at)
            ],
        )?;
        Ok(())
    }

    fn revoke_session(&mut self, token_hash: &str) -> Result<(), StorageError> {
        self.tx.execute(
            "UPDATE sessions SET revoked_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
            params![timestamp(self.now), token_hash],
        )?;
        Ok(())
    }
}
