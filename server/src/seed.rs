//! `seed-demo`: loads `fieldbook-demo`'s data set into an empty server.

use fieldbook_demo::DemoData;

use crate::config::PasswordHashing;
use crate::error::ApiError;
use crate::password::hash_password;
use crate::storage::Storage;

/// Imports the demo data in one transaction. Refuses a server that already
/// has users (seeding twice would mix two data sets).
pub fn import_demo(
    storage: &Storage,
    hashing: PasswordHashing,
    data: &DemoData,
) -> Result<(), ApiError> {
    // Hash outside the write transaction: argon2 is deliberately slow.
    let hashes = data
        .users
        .iter()
        .map(|u| {
            hash_password(&u.password, hashing)
                .map_err(|e| ApiError::bad_request(format!("demo user {}: {e}", u.user.username)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    storage.write(|tx| {
        if tx.db().change_seq()? > 0 {
            return Err(ApiError::conflict(
                "This data dir already has data; seed-demo only seeds an empty server",
            ));
        }
        for (demo_user, hash) in data.users.iter().zip(&hashes) {
            tx.insert_user(&demo_user.user, hash)?;
        }
        for team in &data.teams {
            tx.insert_team(team.id, &team.name)?;
            for member in &team.member_ids {
                tx.add_team_member(team.id, *member)?;
            }
        }
        for lead in &data.leads {
            tx.save_lead(lead)?;
        }
        for survey in &data.surveys {
            tx.save_survey(survey)?;
        }
        for installation in &data.installations {
            tx.save_installation(installation)?;
        }
        for assignment in &data.assignments {
            tx.save_assignment(assignment)?;
        }
        for (lead, survey) in &data.unplanned_surveys {
            tx.save_lead(lead)?;
            tx.save_survey(survey)?;
        }
        Ok(())
    })
}
