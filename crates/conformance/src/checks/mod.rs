//! The checks, one module per area of the protocol.

mod auth;
mod blobs;
mod lifecycle;
mod pull;
mod push;
mod scope;

use crate::Check;

/// Wraps an `async fn(&World) -> Result<(), CheckError>` as a [`Check`].
macro_rules! check {
    ($name:literal, $f:path) => {
        Check {
            name: $name,
            run: |world| Box::pin($f(world)),
        }
    };
}

/// Every check, in the order they run.
pub fn all() -> Vec<Check> {
    vec![
        check!("health.answers_ok_and_the_api_version", auth::health),
        check!(
            "login.returns_a_token_the_user_and_teams",
            auth::login_answer
        ),
        check!(
            "login.unknown_user_and_wrong_password_answer_alike",
            auth::login_failures_alike
        ),
        check!(
            "login.repeated_failures_are_throttled_per_account",
            auth::login_throttle
        ),
        check!(
            "auth.missing_bad_and_revoked_tokens_are_refused",
            auth::tokens_refused
        ),
        check!(
            "auth.technicians_cannot_use_admin_routes",
            auth::admin_refused
        ),
        check!(
            "scope.another_teams_ids_answer_404_like_made_up_ids",
            scope::foreign_ids
        ),
        check!(
            "scope.pushes_on_another_teams_installation_are_not_found",
            scope::foreign_push
        ),
        check!(
            "scope.pull_carries_only_the_callers_teams_work",
            scope::pull_scope
        ),
        check!(
            "scope.another_users_upload_ids_answer_404",
            scope::foreign_uploads
        ),
        check!(
            "pull.pages_are_bounded_and_cover_every_change_once",
            pull::paging
        ),
        check!("pull.bad_cursor_and_limit_are_refused", pull::bad_queries),
        check!(
            "pull.withdrawn_work_comes_back_as_left_scope_tombstones",
            pull::left_scope_tombstones
        ),
        check!(
            "pull.removed_media_comes_back_as_a_deleted_tombstone",
            pull::deleted_tombstone
        ),
        check!(
            "push.each_mutation_gets_its_own_answer_in_order",
            push::per_mutation_results
        ),
        check!(
            "push.a_replayed_mutation_gets_the_stored_answer_once",
            push::replay
        ),
        check!(
            "push.a_sequence_gap_is_refused_and_not_recorded",
            push::sequence_gap
        ),
        check!(
            "push.a_device_belongs_to_its_first_user",
            push::foreign_device
        ),
        check!(
            "push.a_mutation_id_cannot_be_reused_by_another_device",
            push::mutation_id_reused
        ),
        check!(
            "lifecycle.moves_the_state_machine_has_not_are_rejected",
            lifecycle::device_refusals
        ),
        check!(
            "lifecycle.ops_moves_from_the_wrong_state_are_refused",
            lifecycle::ops_refusals
        ),
        check!(
            "tus.options_advertise_version_extensions_and_sha256",
            blobs::options
        ),
        check!(
            "tus.chunks_with_checksums_resume_from_the_server_offset",
            blobs::chunked_resume
        ),
        check!(
            "tus.a_bad_chunk_checksum_is_refused_and_changes_nothing",
            blobs::checksum_mismatch
        ),
        check!(
            "tus.bytes_not_matching_the_declared_hash_are_refused",
            blobs::hash_mismatch
        ),
        check!(
            "tus.a_stored_blob_is_deduplicated_at_creation",
            blobs::dedupe
        ),
        check!(
            "tus.requests_without_tus_resumable_are_refused",
            blobs::tus_resumable_required
        ),
        check!(
            "blobs.download_only_through_records_in_scope",
            blobs::download_scope
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_are_unique_and_area_prefixed() {
        let checks = all();
        let mut names: Vec<&str> = checks.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), checks.len(), "duplicate check names");
        for name in names {
            assert!(name.split_once('.').is_some(), "{name} has no area prefix");
        }
    }
}
