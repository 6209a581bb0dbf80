//! Login sessions (stored by token hash; the token itself is never stored).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::parse_uuid;
use super::{parse_timestamp, timestamp, PgDb, PgTx};
use crate::storage::{SessionReads, SessionRow, SessionWrites, StorageError};

impl SessionReads for PgDb<'_> {
    fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, StorageError> {
        self.row(
            "SELECT user_id, expires_at, revoked_at FROM sessions WHERE token_hash = $1",
            &[&token_hash],
        )?
        .map(|r| {
            Ok(SessionRow {
                user_id: parse_uuid(&r.try_get::<_, String>(0)?)?,
                expires_at: parse_timestamp(&r.try_get::<_, String>(1)?)?,
                revoked: r.try_get::<_, Option<String>>(2)?.is_some(),
            })
        })
        .transpose()
    }
}

impl SessionWrites for PgTx<'_> {
    fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.db.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                &token_hash,
                &user_id.to_string(),
                &timestamp(self.now),
                &timestamp(expires_at),
            ],
        )?;
        Ok(())
    }

    fn revoke_session(&mut self, token_hash: &str) -> Result<(), StorageError> {
        self.db.execute(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
            &[&timestamp(self.now), &token_hash],
        )?;
        Ok(())
    }
}
