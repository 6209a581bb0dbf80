//! Who is calling: put into request extensions by the auth middleware, read by
//! every handler that needs scope (including the blob routes).

use uuid::Uuid;

use fieldbook_domain::Role;

/// The authenticated user behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    /// Teams the user belongs to (their sync scope).
    pub team_ids: Vec<Uuid>,
}
