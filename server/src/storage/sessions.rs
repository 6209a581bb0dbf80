//! Login sessions (stored by token hash; the token itself is never stored).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StorageError;

/// A login session as stored (the token itself is never stored).
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

pub trait SessionReads {
    /// The session of a token hash, revoked or not.
    fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, StorageError>;
}

pub trait SessionWrites {
    /// Records a new session, created now.
    fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError>;

    /// Revokes a session; a revoked one stays revoked at its first time.
    fn revoke_session(&mut self, token_hash: &str) -> Result<(), StorageError>;
}
