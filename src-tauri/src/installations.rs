//! The schedule and the installation screen: list, detail and the
//! technician's lifecycle actions.

use fieldbook_domain::lifecycle::StartRequest;
use fieldbook_domain::{Installation, InstallationAssignment};
use fieldbook_store::{
    AssignmentResponse, InstallationDetail, InstallationQuery, InstallationSummary,
};
use serde::{Deserialize, Serialize};
use tauri::State;
use ts_rs::TS;
use uuid::Uuid;

use crate::context::AppContext;
use crate::error::CommandResult;

/// One page of the schedule and how many rows match in all.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct InstallationPage {
    pub items: Vec<InstallationSummary>,
    #[ts(type = "number")]
    pub total: u64,
}

/// The flags a technician may set; `null` leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InstallationFlags {
    pub customer_confirmed: Option<bool>,
    pub demo_completed: Option<bool>,
}

// The search text may be a customer's name: not traced.
#[tracing::instrument(skip(ctx, query), err(level = "warn"))]
pub async fn list_installations(
    ctx: &AppContext,
    query: InstallationQuery,
) -> CommandResult<InstallationPage> {
    ctx.with_store(move |store| installation_page(store, &query))
        .await
}

/// The page of `query` and its total, as `list_installations` answers it.
pub(crate) fn installation_page(
    store: &fieldbook_store::Store,
    query: &InstallationQuery,
) -> fieldbook_store::Result<InstallationPage> {
    Ok(InstallationPage {
        items: store.list_installations(query)?,
        total: store.count_installations(query)?,
    })
}

/// A job found on the server by [`search_server`]: enough to recognise it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ServerSearchHit {
    pub id: Uuid,
    pub installation_id: String,
    pub scheduled_date: chrono::NaiveDate,
    pub status: fieldbook_domain::InstallationStatus,
    pub customer_name: String,
    pub postcode: String,
    pub city: String,
    /// The job is on this device too (open it from the schedule).
    pub on_device: bool,
}

/// Searches the technician's jobs on the server, including those that left
/// this device by retention; `offline` when the server cannot be reached.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn search_server(ctx: &AppContext, text: String) -> CommandResult<Vec<ServerSearchHit>> {
    let found = ctx.sync().search_server(&text).await?;
    let ids: Vec<Uuid> = found
        .items
        .iter()
        .map(|f| f.installation.record.id)
        .collect();
    let on_device = ctx
        .with_store(move |store| {
            Ok(ids
                .iter()
                .map(|id| store.get_installation(*id).is_ok())
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(found
        .items
        .into_iter()
        .zip(on_device)
        .map(|(f, on_device)| {
            let (i, lead) = (f.installation.record, f.lead.record);
            ServerSearchHit {
                id: i.id,
                installation_id: i.installation_id.to_string(),
                scheduled_date: i.scheduled_date,
                status: i.status,
                customer_name: lead.customer_name,
                postcode: lead.postcode,
                city: lead.city,
                on_device,
            }
        })
        .collect())
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn get_installation(ctx: &AppContext, id: Uuid) -> CommandResult<InstallationDetail> {
    ctx.with_store(move |store| store.get_installation(id))
        .await
}

/// The technician has seen Central Ops' decision on work held for them
/// (see `fieldbook_store::HeldWork`) and lets it go; a job kept only for it
/// leaves the device. Returns whether there was decided work to dismiss.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn dismiss_held_work(ctx: &AppContext, id: Uuid) -> CommandResult<bool> {
    ctx.with_store(move |store| store.dismiss_held_work(id))
        .await
}

#[tracing::instrument(skip(ctx, override_reason), err(level = "warn"))]
pub async fn start_installation(
    ctx: &AppContext,
    id: Uuid,
    override_reason: Option<String>,
) -> CommandResult<Installation> {
    let request = StartRequest { override_reason };
    let started = ctx
        .with_store(move |store| store.start_installation(id, &request))
        .await?;
    ctx.local_change();
    Ok(started)
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn finish_installation(ctx: &AppContext, id: Uuid) -> CommandResult<Installation> {
    let finished = ctx
        .with_store(move |store| store.finish_installation(id))
        .await?;
    ctx.local_change();
    Ok(finished)
}

#[tracing::instrument(skip(ctx, reason), err(level = "warn"))]
pub async fn could_not_complete(
    ctx: &AppContext,
    id: Uuid,
    reason: String,
) -> CommandResult<Installation> {
    let rescheduled = ctx
        .with_store(move |store| store.could_not_complete(id, &reason))
        .await?;
    ctx.local_change();
    Ok(rescheduled)
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn set_installation_flags(
    ctx: &AppContext,
    id: Uuid,
    flags: InstallationFlags,
) -> CommandResult<Installation> {
    let updated = ctx
        .with_store(move |store| {
            store.set_installation_flags(id, flags.customer_confirmed, flags.demo_completed)
        })
        .await?;
    ctx.local_change();
    Ok(updated)
}

#[tracing::instrument(skip(ctx, decline_reason), err(level = "warn"))]
pub async fn respond_to_assignment(
    ctx: &AppContext,
    assignment_id: Uuid,
    accept: bool,
    decline_reason: Option<String>,
) -> CommandResult<InstallationAssignment> {
    let response = if accept {
        AssignmentResponse::Accept
    } else {
        AssignmentResponse::Decline {
            reason: decline_reason.unwrap_or_default(),
        }
    };
    let answered = ctx
        .with_store(move |store| store.respond_to_assignment(assignment_id, &response))
        .await?;
    ctx.local_change();
    Ok(answered)
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn list_installations(
        ctx: State<'_, AppContext>,
        query: InstallationQuery,
    ) -> CommandResult<InstallationPage> {
        super::list_installations(&ctx, query).await
    }

    #[tauri::command]
    pub async fn search_server(
        ctx: State<'_, AppContext>,
        text: String,
    ) -> CommandResult<Vec<ServerSearchHit>> {
        super::search_server(&ctx, text).await
    }

    #[tauri::command]
    pub async fn get_installation(
        ctx: State<'_, AppContext>,
        id: Uuid,
    ) -> CommandResult<InstallationDetail> {
        super::get_installation(&ctx, id).await
    }

    #[tauri::command]
    pub async fn dismiss_held_work(ctx: State<'_, AppContext>, id: Uuid) -> CommandResult<bool> {
        super::dismiss_held_work(&ctx, id).await
    }

    #[tauri::command]
    pub async fn start_installation(
        ctx: State<'_, AppContext>,
        id: Uuid,
        override_reason: Option<String>,
    ) -> CommandResult<Installation> {
        super::start_installation(&ctx, id, override_reason).await
    }

    #[tauri::command]
    pub async fn finish_installation(
        ctx: State<'_, AppContext>,
        id: Uuid,
    ) -> CommandResult<Installation> {
        super::finish_installation(&ctx, id).await
    }

    #[tauri::command]
    pub async fn could_not_complete(
        ctx: State<'_, AppContext>,
        id: Uuid,
        reason: String,
    ) -> CommandResult<Installation> {
        super::could_not_complete(&ctx, id, reason).await
    }

    #[tauri::command]
    pub async fn set_installation_flags(
        ctx: State<'_, AppContext>,
        id: Uuid,
        flags: InstallationFlags,
    ) -> CommandResult<Installation> {
        super::set_installation_flags(&ctx, id, flags).await
    }

    #[tauri::command]
    pub async fn respond_to_assignment(
        ctx: State<'_, AppContext>,
        assignment_id: Uuid,
        accept: bool,
        decline_reason: Option<String>,
    ) -> CommandResult<InstallationAssignment> {
        super::respond_to_assignment(&ctx, assignment_id, accept, decline_reason).await
    }
}

#[cfg(test)]
mod tests {
    use fieldbook_domain::{AssignmentStatus, InstallationStatus};

    use super::*;
    use crate::test_support::Fixture;

    #[tokio::test]
    async fn lists_a_page_with_the_total_of_all_matches() {
        let fx = Fixture::new();
        let everything = list_installations(
            &fx.ctx,
            InstallationQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(everything.items.len(), 10);
        assert_eq!(everything.total, fx.demo.installations.len() as u64);

        let confirmed = list_installations(
            &fx.ctx,
            InstallationQuery {
                statuses: vec![InstallationStatus::Confirmed],
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let expected = fx
            .demo
            .installations
            .iter()
            .filter(|i| i.status == InstallationStatus::Confirmed)
            .count() as u64;
        assert!(expected > 1, "the demo has several confirmed jobs");
        assert_eq!(confirmed.total, expected);
        assert_eq!(confirmed.items.len(), 1);

        let nothing = list_installations(
            &fx.ctx,
            InstallationQuery {
                text: "no such customer anywhere".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!((nothing.items.len(), nothing.total), (0, 0));

        let customer = fx.demo.leads[0].customer_name.clone();
        let found = list_installations(
            &fx.ctx,
            InstallationQuery {
                text: customer.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(found.total >= 1);
        assert_eq!(found.total, found.items.len() as u64);
        assert!(found.items.iter().all(|i| i.customer_name == customer));
    }

    #[tokio::test]
    async fn a_job_goes_from_start_to_finish_and_each_step_is_queued_for_sync() {
        let fx = Fixture::new();
        let id = fx.job_in(InstallationStatus::Confirmed);
        let started = start_installation(&fx.ctx, id, None).await.unwrap();
        assert_eq!(started.status, InstallationStatus::InProgress);
        let finished = finish_installation(&fx.ctx, id).await.unwrap();
        assert_eq!(finished.status, InstallationStatus::Completed);

        let detail = get_installation(&fx.ctx, id).await.unwrap();
        assert_eq!(detail.installation.status, InstallationStatus::Completed);
        assert_eq!(detail.pending_changes, 2);
    }

    #[tokio::test]
    async fn start_anyway_needs_a_reason_reported_next_to_the_field() {
        let fx = Fixture::new();
        let id = fx.job_in(InstallationStatus::Planned);
        let err = start_installation(&fx.ctx, id, None).await.unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::Validation);
        let fields = err.fields.expect("field problems");
        assert_eq!(fields[0].field, "override_reason");

        let started = start_installation(&fx.ctx, id, Some("Customer is home early".into()))
            .await
            .unwrap();
        assert_eq!(started.status, InstallationStatus::InProgress);
        let draft = crate::reports::get_report_draft(&fx.ctx, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            draft.start_override_reason.as_deref(),
            Some("Customer is home early")
        );
    }

    #[tokio::test]
    async fn could_not_complete_reschedules_with_the_reason() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        let err = could_not_complete(&fx.ctx, id, "  ".into())
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::Validation);
        let job = could_not_complete(&fx.ctx, id, "No power to the garage".into())
            .await
            .unwrap();
        assert_eq!(job.status, InstallationStatus::Rescheduled);
        assert_eq!(job.status_reason.as_deref(), Some("No power to the garage"));
    }

    #[tokio::test]
    async fn flags_change_only_what_is_given() {
        let fx = Fixture::new();
        let id = fx.job_in(InstallationStatus::Planned);
        let before = get_installation(&fx.ctx, id).await.unwrap().installation;
        let after = set_installation_flags(
            &fx.ctx,
            id,
            InstallationFlags {
                customer_confirmed: Some(!before.customer_confirmed),
                demo_completed: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(after.customer_confirmed, !before.customer_confirmed);
        assert_eq!(after.demo_completed, before.demo_completed);
    }

    #[tokio::test]
    async fn an_assignment_is_declined_only_with_a_reason() {
        let fx = Fixture::new();
        let Some(assignment) =
            fx.demo.assignments.iter().find(|a| {
                a.status == AssignmentStatus::Assigned && fx.team_ids.contains(&a.team_id)
            })
        else {
            panic!("the demo has a newly assigned job for the team");
        };
        let err = respond_to_assignment(&fx.ctx, assignment.id, false, None)
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::Validation);
        let declined = respond_to_assignment(
            &fx.ctx,
            assignment.id,
            false,
            Some("Van is in the garage".into()),
        )
        .await
        .unwrap();
        assert_eq!(declined.status, AssignmentStatus::Declined);
        let err = respond_to_assignment(&fx.ctx, assignment.id, true, None)
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::Lifecycle);
    }

    #[tokio::test]
    async fn an_unknown_installation_is_not_found() {
        let fx = Fixture::new();
        let err = get_installation(&fx.ctx, Uuid::new_v4()).await.unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::NotFound);
        assert!(
            err.message.contains("sync and try again"),
            "{}",
            err.message
        );
    }
}
