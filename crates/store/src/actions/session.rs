//! Signing in and out on this device.

use chrono::Utc;
use fieldbook_domain::User;
use uuid::Uuid;

use super::in_transaction;
use crate::error::{Result, StoreError};
use crate::rows::{outbox, people, session};
use crate::{Session, Store};

impl Store {
    /// Records who is signed in (replacing any previous session).
    ///
    /// The server binds this device's id and outbox sequence to the first
    /// user who pushes with it. A different user therefore gets a new device
    /// id with a fresh sequence — and is refused while the previous user's
    /// changes are still unsent, since pushing them under another user's
    /// token would be refused or credit the work to the wrong person.
    pub fn sign_in(&mut self, user: &User, team_ids: &[Uuid]) -> Result<Session> {
        let signed_in = Session {
            user: user.clone(),
            team_ids: team_ids.to_vec(),
            signed_in_at: Utc::now(),
        };
        let device_id = in_transaction(self, |tx, ctx| {
            let mut device_id = ctx.device_id;
            match session::device_owner(tx)? {
                Some(owner) if owner == user.id.to_string() => {}
                None => session::set_device_owner(tx, user.id)?,
                Some(owner) => {
                    let pending = outbox::count_all(tx)?;
                    if pending > 0 {
                        let name = people::full_name(tx, &owner)?
                            .unwrap_or_else(|| "Another technician".to_owned());
                        return Err(StoreError::UnsentWorkOfAnotherUser { name, pending });
                    }
                    device_id = Uuid::new_v4();
                    session::renew_device(tx, device_id, user.id)?;
                }
            }
            session::write(tx, &signed_in)?;
            Ok(device_id)
        })?;
        self.device_id = device_id;
        Ok(signed_in)
    }

    /// Forgets the signed-in user. Local data and the outbox stay: they belong
    /// to the device until pushed.
    pub fn sign_out(&mut self) -> Result<()> {
        in_transaction(self, |tx, _| session::delete(tx))
    }
}
