//! Central Ops' console API (`/api/v1/ops/...`): the session the browser
//! signs in with, the installations list and detail, the review queue,
//! planning, assignment changes, people and devices, live change events.
//! The route list with methods and bodies is in `fieldbook_protocol::ops`.
//!
//! Every handler here answers 403 `forbidden` to a technician: unlike the
//! older `/admin` routes (404 to anyone but ops), the console's routes are
//! public knowledge, and a clear "not for your role" helps whoever scripts
//! against them.

pub mod assignments;
pub mod certificates;
pub mod changes;
pub mod installations;
pub mod people;
pub mod planning;
pub mod review;
pub mod session;

use fieldbook_domain::Role;

use crate::caller::Caller;
use crate::error::ApiError;

/// The console's routes are Central Ops' only.
pub fn require_ops(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Ops {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Only Central Ops may use the ops console's routes",
        ))
    }
}
