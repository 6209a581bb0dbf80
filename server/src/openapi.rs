//! The OpenAPI 3 document, generated from the handlers' annotations and
//! merged with the blob routes' document.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{admin, app, auth, held_work, installations, pull, push, send_back};

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
    )
)]
struct ServerApi;

/// The whole API's document (`/api/v1/openapi.json`).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ServerApi::openapi();
    doc.merge(crate::blobs::BlobsApi::openapi());
    doc
}
