//! Finding the caller's jobs by customer name, postcode or `INS-` number,
//! on the server: the way to reach jobs that left devices by retention.

use fieldbook_protocol::FoundInstallation;

use super::{Scope, StorageError};

pub trait SearchReads {
    /// The caller's installations whose customer name, postcode or number
    /// contains `text` (any case), most recently scheduled first.
    fn search_installations(
        &self,
        scope: Scope,
        text: &str,
    ) -> Result<Vec<FoundInstallation>, StorageError>;
}
