//! The OpenAPI 3 document, generated from the handlers' annotations and
//! merged with the blob routes' document.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::{
    admin, app, auth, blob_download, held_work, installations, ops, pull, push, report_templates,
    send_back, updates, wipe,
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
        pull::near_window_handler,
        push::push_handler,
        installations::installation_handler,
        installations::report_handler,
        installations::report_events_handler,
        installations::media_handler,
        installations::search_handler,
        admin::create_user_handler,
        admin::create_team_handler,
        admin::add_team_member_handler,
        admin::remove_team_member_handler,
        admin::create_installation_handler,
        admin::assign_handler,
        admin::transition_handler,
        admin::withdraw_handler,
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
        send_back::send_back_handler,
        held_work::list_handler,
        held_work::get_handler,
        held_work::accept_handler,
        held_work::keep_handler,
        updates::manifest_handler,
        updates::artifact_handler,
        wipe::order_wipe_handler,
        wipe::confirm_wipe_handler,
        report_templates::publish_handler,
        report_templates::list_handler,
        report_templates::get_handler,
        report_templates::set_installation_template_handler,
        ops::certificates::download_handler,
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
        // A query parameter's enum: parameters do not register their schemas.
        fieldbook_protocol::OpsInstallationSort,
        fieldbook_protocol::UpdateManifest,
        fieldbook_protocol::WipeOrder,
        fieldbook_protocol::WipeKind,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "meta", description = "Health and this document"),
        (name = "auth", description = "Login, logout, session"),
        (name = "sync", description = "Pull changes by cursor, push named mutations"),
        (name = "installations", description = "Read one record by id (scoped: other teams' ids are 404)"),
        (name = "admin", description = "Central Ops: users, teams, installations, assignments, lifecycle moves"),
        (name = "updates", description = "App updates published by ops with `fieldbook-server publish-update` (public: a signed build is no secret)"),
        (name = "ops", description = "Central Ops' console: session cookie, installations list and detail, review queue, planning, reassignment, people and devices, live changes (ops only: technicians get 403)"),
    )
)]
struct ServerApi;

/// The whole API's document (`/api/v1/openapi.json`).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ServerApi::openapi();
    doc.merge(crate::blobs::BlobsApi::openapi());
    add_common_answers(&mut doc);
    doc
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
}

/// Answers the middleware gives on every route, added to each operation from
/// what it takes, in one place so that no route's document can forget them
/// (the handlers document only their own answers):
/// - 401 where a token is required (every blob route but tus `OPTIONS`
///   needs one too, see [`crate::auth::require_auth_except_tus_options`]);
/// - 400 for a path or query parameter that does not parse, and 400/413 for
///   a JSON body that does not parse or is over the route's limit;
/// - 500 for a failure of the server, and 503 `timeout` on the JSON routes
///   (blob uploads have no request deadline).
fn add_common_answers(doc: &mut utoipa::openapi::OpenApi) {
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let blob_route = path.starts_with("/api/v1/blobs");
        for (method, op) in operations(item) {
            if blob_route && method != "options" && op.security.is_none() {
                op.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
            }
            let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let parameters = op.parameters.as_deref().unwrap_or_default();
            let parsed_parameters = parameters
                .iter()
                .any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query));
            let json_body = op
                .request_body
                .as_ref()
                .is_some_and(|body| body.content.contains_key("application/json"));
            let mut common = Vec::new();
            if authenticated {
                common.push(("401", "No valid token (`unauthorized`): log in again"));
            }
            if parsed_parameters || json_body {
                common.push((
                    "400",
                    "A path or query parameter, or the JSON body, does not parse (`bad_request`)",
                ));
            }
            if json_body {
                common.push((
                    "413",
                    "The body is larger than this route accepts (`payload_too_large`)",
                ));
            }
            common.push(("500", "The server failed (`internal`); try again later"));
            if !blob_route {
                common.push(("503", "The server took too long (`timeout`); try again"));
            }
            for (status, description) in common {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            }
        }
    }
}
