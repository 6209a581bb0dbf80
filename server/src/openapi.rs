//! The OpenAPI 3 document, generated from the handlers' annotations and
//! merged with the blob routes' document.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    admin, app, auth, blob_download, held_work, installations, ops, pull, push, send_back,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    fieldbook_protocol::SESSION_COOKIE,
                    "The ops console's HttpOnly session cookie from POST /api/v1/ops/session; state-changing requests also need the X-CSRF-Token header",
                ),
            )),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fieldbook sync API",
        version = "1",
        description = "The central server that Fieldbook devices sync with. Errors are `{code, message}` with stable codes."
    ),
    paths(
        app::health,
        app::openapi_json,
        auth::login_handler,
        auth::logout_handler,
        auth::session_handler,
        pull::pull_handler,
        push::push_handler,
        installations::installation_handler,
        installations::report_handler,
        installations::report_events_handler,
        installations::media_handler,
        admin::create_user_handler,
        admin::create_team_handler,
        admin::add_team_member_handler,
        admin::remove_team_member_handler,
        admin::create_installation_handler,
        admin::assign_handler,
        admin::transition_handler,
        admin::withdraw_handler,
        send_back::send_back_handler,
        held_work::list_handler,
        held_work::get_handler,
        held_work::accept_handler,
        held_work::keep_handler,
        ops::session::login_handler,
        ops::session::session_handler,
        ops::session::logout_handler,
        ops::installations::list_handler,
        ops::installations::detail_handler,
        ops::review::review_handler,
        ops::review::counts_handler,
        ops::planning::unplanned_handler,
        ops::planning::create_survey_handler,
        ops::planning::plan_handler,
        ops::assignments::reassign_handler,
        ops::people::people_handler,
        ops::people::revoke_session_handler,
        ops::people::revoke_device_handler,
        ops::changes::changes_handler,
        blob_download::download_handler,
        blob_download::thumbnail_handler,
    ),
    components(schemas(
        fieldbook_protocol::ErrorBody,
        fieldbook_protocol::ErrorCode,
        fieldbook_protocol::RejectCode,
        fieldbook_protocol::MutationOutcome,
        fieldbook_protocol::Tombstone,
        fieldbook_protocol::HeldWork,
        fieldbook_protocol::HeldWorkNotice,
        fieldbook_protocol::SendBackRequest,
        fieldbook_protocol::AcceptHeldWorkRequest,
        fieldbook_protocol::KeepHeldWorkRequest,
        fieldbook_protocol::AcceptedHeldWork,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "meta", description = "Health and this document"),
        (name = "auth", description = "Login, logout, session"),
        (name = "sync", description = "Pull changes by cursor, push named mutations"),
        (name = "installations", description = "Read one record by id (scoped: other teams' ids are 404)"),
        (name = "admin", description = "Central Ops: users, teams, installations, assignments, lifecycle moves"),
        (name = "ops", description = "Central Ops' console: session cookie, installations list and detail, review queue, planning, reassignment, people and devices, live changes (ops only: technicians get 403)"),
    )
)]
struct ServerApi;

/// The whole API's document (`/api/v1/openapi.json`).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ServerApi::openapi();
    doc.merge(crate::blobs::BlobsApi::openapi());
    doc
}
