//! `POST /api/v1/sync/push`: re-runs each named mutation against the server's
//! state (the server owns the lifecycle) and answers each one separately.
//!
//! Each mutation runs in its own write transaction together with the record
//! of its mutation id and answer, so a retried push changes nothing and gets
//! the stored answers. Conflicts follow docs/architecture.md ("Conflict rules"): when ops cancelled or
//! rescheduled a job that the technician meanwhile worked on offline, the
//! technician's report and media are kept, a note is left for ops on the
//! installation, and the answer is `conflict` with the server's state. Ops
//! moves that keep the technician's action valid are not conflicts: a start
//! the device based on `planned` stands if ops confirmed meanwhile, and a
//! report kept for review completes the job once it is finished again.
//!
//! Work for an installation that left the technician's scope while they
//! worked offline (assignment withdrawn or reassigned, removed from the
//! team) is held for Central Ops (`held`, see `fieldbook_protocol::held_work`)
//! instead of refused; work for an installation that was never in their
//! scope is `not_found`. A report ops sent back is replaced by the
//! technician's corrected version, the earlier one kept in the audit log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use fieldbook_domain::mutation::media_type_for_mime;
use fieldbook_domain::{
    lifecycle, validation, AssignmentStatus, BlobRef, Installation, InstallationMedia,
    InstallationStatus, LifecycleError, Mutation, Role, Sha256Hex, StartRequest,
};
use fieldbook_protocol::{
    ErrorBody, ErrorCode, HeldBecause, MutationEnvelope, MutationOutcome, MutationResult,
    PushRequest, PushResponse, RejectCode, ReportEvent, ReportEventKind, ServerState, Versioned,
    MAX_PUSH_BATCH,
};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::SessionToken;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::held_work;
use crate::json::ApiJson;
use crate::storage::{MutationRecord, NewHeldMutation, Scope, Storage, StoredCertificate, WriteTx};

fn rejected(code: RejectCode, reason: impl Into<String>) -> MutationOutcome {
    MutationOutcome::Rejected {
        code,
        reason: reason.into(),
        expected_device_seq: None,
    }
}

fn not_found(what: &str) -> MutationOutcome {
    rejected(RejectCode::NotFound, format!("No such {what}"))
}

/// Lifecycle refusals other than a stale state (which is a conflict).
fn lifecycle_rejection(e: LifecycleError) -> MutationOutcome {
    let code = match e {
        LifecycleError::NoSuchMove { .. } | LifecycleError::StaleState { .. } => {
            RejectCode::InvalidTransition
        }
        LifecycleError::NotPermitted { .. } => RejectCode::NotPermitted,
        LifecycleError::Invalid(_) => RejectCode::ValidationFailed,
    };
    rejected(code, e.to_string())
}

/// Whether the installation's state means ops moved it away from the
/// technician's path (as opposed to a team-mate's device being faster).
fn ops_interfered(actual: InstallationStatus) -> bool {
    !matches!(
        actual,
        InstallationStatus::InProgress
            | InstallationStatus::Completed
            | InstallationStatus::ReportSubmitted
            | InstallationStatus::Closed
    )
}

/// The states a job passes through on its way to being started, in order.
const TOWARDS_START: &[InstallationStatus] = &[
    InstallationStatus::Planned,
    InstallationStatus::MaterialPending,
    InstallationStatus::MaterialReady,
    InstallationStatus::Confirmed,
];

/// Whether a start based on a stale state still stands: ops only moved the
/// job forward towards the start (confirmed it, or got the materials ready)
/// and the technician may start from where it is now — without an override
/// from `confirmed`, with the reason they gave otherwise. Refusing it would
/// flag the job for review and leave it stuck before `in_progress`, a move
/// ops cannot make.
fn ops_moved_towards_start(
    expected: InstallationStatus,
    actual: InstallationStatus,
    has_override_reason: bool,
) -> bool {
    let rank = |s| TOWARDS_START.iter().position(|t| *t == s);
    let forward = matches!((rank(expected), rank(actual)), (Some(e), Some(a)) if a > e);
    forward
        && match lifecycle::start_needs_override(actual) {
            Some(needs_override) => !needs_override || has_override_reason,
            None => false,
        }
}

/// Moves a finished job to `report_submitted` and completes the submitting
/// team's assignments.
fn complete_with_report(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    installation: &Installation,
    demo_given: bool,
) -> Result<Result<(), LifecycleError>, ApiError> {
    let mut updated = installation.clone();
    if let Err(e) = lifecycle::submit_report(&mut updated, demo_given, tx.now()) {
        return Ok(Err(e));
    }
    tx.save_installation(&updated)?;
    for assignment in tx.db().assignments_of(installation.id)? {
        let mut a = assignment.record;
        let team_member = caller.team_ids.contains(&a.team_id);
        if team_member && a.status != AssignmentStatus::Withdrawn {
            a.status = AssignmentStatus::Completed;
            tx.save_assignment(&a)?;
        }
    }
    Ok(Ok(()))
}

/// Pushes a batch: one answer per mutation, in order.
pub fn push(
    storage: &Storage,
    caller: &Caller,
    request: &PushRequest,
) -> Result<PushResponse, ApiError> {
    if request.mutations.len() > MAX_PUSH_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!(
                "A push carries at most {MAX_PUSH_BATCH} mutations; send the rest in the next push"
            ),
        ));
    }
    // A revoked device's work is refused whatever headers come with it (the
    // device header is optional; the envelopes always name their device).
    let mut devices: Vec<Uuid> = request.mutations.iter().map(|m| m.device_id).collect();
    devices.sort_unstable();
    devices.dedup();
    let revoked = storage.read(|db| -> Result<bool, ApiError> {
        for device in &devices {
            if db.device_revoked(*device)? {
                return Ok(true);
            }
        }
        Ok(false)
    })?;
    if revoked {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "Central Ops revoked this device; ask them to re-enable it or use another device",
        ));
    }
    let mut results = Vec::with_capacity(request.mutations.len());
    for envelope in &request.mutations {
        // Runs again if it lost a conflict (PostgreSQL): it only borrows.
        let outcome = storage.write(|tx| {
            // The installation history names who made each move.
            tx.set_actor(caller.user_id);
            apply_envelope(tx, caller, envelope)
        })?;
        results.push(MutationResult {
            mutation_id: envelope.mutation_id,
            outcome,
        });
    }
    Ok(PushResponse { results })
}

/// Replay check, device binding and sequence check, then the mutation itself.
fn apply_envelope(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    envelope: &MutationEnvelope,
) -> Result<MutationOutcome, ApiError> {
    if let Some(stored) = tx.db().stored_mutation(envelope.mutation_id)? {
        if stored.user_id == caller.user_id && stored.device_id == envelope.device_id {
            return Ok(stored.outcome);
        }
        return Ok(rejected(
            RejectCode::MutationIdReused,
            "This mutation id was already used by another device; generate a new id",
        ));
    }
    let last_seq = match tx.db().device(envelope.device_id)? {
        None => {
            tx.bind_device(envelope.device_id, caller.user_id)?;
            0
        }
        Some(device) if device.user_id != caller.user_id => {
            return Ok(rejected(
                RejectCode::ForeignDevice,
                "This device id belongs to another user; sign in on your own device",
            ));
        }
        Some(device) => device.last_seq,
    };
    if envelope.device_seq != last_seq + 1 {
        // The expected number is a field for the device and stays in the
        // reason, word for word, for devices older than the field.
        return Ok(MutationOutcome::Rejected {
            code: RejectCode::SequenceGap,
            reason: format!(
                "Expected device sequence {}, got {}; resend from {}",
                last_seq + 1,
                envelope.device_seq,
                last_seq + 1
            ),
            expected_device_seq: Some(last_seq + 1),
        });
    }
    // Oversized or malformed text is refused before anything is stored.
    if let Err(e) = envelope.mutation.check_limits() {
        let outcome = rejected(RejectCode::ValidationFailed, e.to_string());
        return record(tx, caller, envelope, outcome);
    }
    let applied = tx.savepoint(
        |tx| apply_mutation(tx, caller, envelope),
        |result| !matches!(result, Ok(MutationOutcome::Rejected { .. }) | Err(_)),
    );
    // A lost deadlock or serialization conflict (PostgreSQL) is not the
    // mutation's answer: the whole transaction goes back, and
    // `write` runs it again, where it gets its real answer.
    // Recording `storage_failed` here would refuse the change for good.
    if applied.is_err() && crate::storage::write_lost_conflict() {
        return applied;
    }
    // Any other failure inside one mutation (its effects rolled back with
    // the savepoint) is that mutation's answer, not the batch's: failing
    // the batch would fail every retry too and wedge the device's queue.
    let outcome = applied.unwrap_or_else(|e| {
        tracing::error!(error = %e, mutation_id = %envelope.mutation_id, "mutation failed");
        rejected(
            RejectCode::StorageFailed,
            "The server could not store this change, so it was not applied; tell Central Ops if it keeps happening",
        )
    });
    record(tx, caller, envelope, outcome)
}

/// Stores a mutation's answer under its id (advancing its device's sequence).
fn record(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    envelope: &MutationEnvelope,
    outcome: MutationOutcome,
) -> Result<MutationOutcome, ApiError> {
    tx.record_mutation(&MutationRecord {
        mutation_id: envelope.mutation_id,
        device_id: envelope.device_id,
        device_seq: envelope.device_seq,
        user_id: caller.user_id,
        kind: envelope.mutation.kind().as_str(),
        base_version: envelope.base_version,
        outcome: &outcome,
    })?;
    Ok(outcome)
}

fn scope(caller: &Caller) -> Scope {
    Scope::for_user(caller.user_id, caller.role)
}

/// The installation a mutation works on, or, when it is outside the caller's
/// scope, the answer to send instead (held or not_found, see
/// [`hold_or_not_found`]).
fn installation_or_answer(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    envelope: &MutationEnvelope,
    installation_id: Uuid,
    media_id: Option<Uuid>,
) -> Result<Result<Installation, MutationOutcome>, ApiError> {
    let in_scope = if tx
        .db()
        .installation_in_scope(installation_id, scope(caller))?
    {
        tx.db().installation(installation_id)?.map(|v| v.record)
    } else {
        None
    };
    match in_scope {
        Some(installation) => Ok(Ok(installation)),
        None => Ok(Err(hold_or_not_found(
            tx,
            caller,
            envelope,
            installation_id,
            media_id,
            "installation",
        )?)),
    }
}

/// What the technician reads when their work is held.
fn held_message(because: HeldBecause) -> String {
    let why = match because {
        HeldBecause::AssignmentWithdrawn => {
            "Central Ops took this job off your team (the assignment was withdrawn or reassigned)"
        }
        HeldBecause::RemovedFromTeam => "You were removed from the team that has this job",
    };
    format!(
        "{why} before this arrived. It was received and kept, and waits for Central Ops to accept it or keep it on record; their decision will show on this job."
    )
}

/// Work for an installation outside the caller's scope. If it was in their
/// scope before (they worked it offline while ops withdrew or reassigned
/// their team's assignment, or removed them from the team), the mutation is
/// kept in a held record for ops and answered `held`: never refused, never
/// lost. Otherwise it is `not_found`, exactly like an id that does not
/// exist, so other teams' ids cannot be probed.
fn hold_or_not_found(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    envelope: &MutationEnvelope,
    installation_id: Uuid,
    media_id: Option<Uuid>,
    what: &str,
) -> Result<MutationOutcome, ApiError> {
    let because = match caller.role {
        Role::Ops => None,
        Role::Technician => tx.db().formerly_in_scope(installation_id, caller.user_id)?,
    };
    let Some(because) = because else {
        return Ok(not_found(what));
    };
    let held_work_id = tx.hold_mutation(&NewHeldMutation {
        installation_id,
        submitted_by: caller.user_id,
        device_id: envelope.device_id,
        because,
        mutation_id: envelope.mutation_id,
        mutation: &envelope.mutation,
        media_id,
    })?;
    Ok(MutationOutcome::Held {
        held_work_id,
        message: held_message(because),
    })
}

/// The checks a photo / video record must pass, held or applied.
fn media_problem(media: &InstallationMedia) -> Option<MutationOutcome> {
    if let Err(e) = validation::caption(&media.caption) {
        return Some(rejected(RejectCode::ValidationFailed, e.to_string()));
    }
    if media_type_for_mime(&media.file.mime) != Some(media.media_type) {
        return Some(rejected(
            RejectCode::ValidationFailed,
            format!(
                "A {} cannot have the file type {:?}",
                media.media_type, media.file.mime
            ),
        ));
    }
    None
}

/// The installation a `media.caption` / `media.remove` is about when the
/// media is not in the caller's scope: a held photo of theirs, or a photo of
/// an installation that has since left their scope.
fn media_installation_out_of_scope(
    tx: &dyn WriteTx,
    caller: &Caller,
    media_id: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    if let Some(installation) = tx.db().held_media_installation(media_id, caller.user_id)? {
        return Ok(Some(installation));
    }
    Ok(tx.db().media(media_id)?.map(|m| m.record.installation_id))
}

/// Answers `conflict` with the installation as the server holds it, after
/// leaving `review_note` for ops on it when there is one.
fn installation_conflict(
    tx: &mut dyn WriteTx,
    mut installation: Installation,
    review_note: Option<String>,
    message: String,
) -> Result<MutationOutcome, ApiError> {
    let version = match review_note {
        Some(note) => {
            installation.ops_review_note = Some(match installation.ops_review_note.take() {
                Some(previous) => format!("{previous}\n{note}"),
                None => note,
            });
            tx.save_installation(&installation)?
        }
        None => tx
            .db()
            .installation(installation.id)?
            .map_or(0, |v| v.version),
    };
    Ok(MutationOutcome::Conflict {
        server_state: Box::new(ServerState {
            installation: Some(Versioned {
                version,
                record: installation,
            }),
            assignment: None,
            message,
        }),
    })
}

/// A technician's lifecycle move that found the installation in another state.
fn stale_move(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    installation: Installation,
    action: &str,
    at: DateTime<Utc>,
    detail: Option<&str>,
) -> Result<MutationOutcome, ApiError> {
    let actual = installation.status;
    let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
    let (note, message) = if ops_interfered(actual) {
        (
            Some(format!(
                "{} {action} the job on their device at {at}{detail}, after it had become {actual}: please review",
                caller.username
            )),
            format!(
                "The job is {actual} on the server, so it could not be marked as {action}. Central Ops have been asked to review it; nothing you entered was lost."
            ),
        )
    } else {
        (
            None,
            format!("The job is already {actual} (another device got there first)."),
        )
    };
    installation_conflict(tx, installation, note, message)
}

fn apply_mutation(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    envelope: &MutationEnvelope,
) -> Result<MutationOutcome, ApiError> {
    match &envelope.mutation {
        Mutation::InstallationStart {
            installation_id,
            expected_from,
            override_reason,
            at,
        } => {
            let installation =
                match installation_or_answer(tx, caller, envelope, *installation_id, None)? {
                    Ok(installation) => installation,
                    Err(answer) => return Ok(answer),
                };
            let mut updated = installation.clone();
            let request = StartRequest {
                override_reason: override_reason.clone(),
            };
            let mut started = lifecycle::start(&mut updated, *expected_from, &request, tx.now());
            if let Err(LifecycleError::StaleState { expected, actual }) = started {
                if ops_moved_towards_start(expected, actual, override_reason.is_some()) {
                    updated = installation.clone();
                    started = lifecycle::start(&mut updated, actual, &request, tx.now());
                }
            }
            match started {
                Ok(override_used) => {
                    if let Some(reason) = override_used {
                        updated.status_reason =
                            Some(format!("Started before ops confirmation: {reason}"));
                    }
                    let version = tx.save_installation(&updated)?;
                    Ok(MutationOutcome::Applied { version })
                }
                Err(LifecycleError::StaleState { .. }) => {
                    stale_move(tx, caller, installation, "started", *at, None)
                }
                Err(e) => Ok(lifecycle_rejection(e)),
            }
        }
        Mutation::InstallationFinish {
            installation_id,
            expected_from,
            at,
        } => {
            let installation =
                match installation_or_answer(tx, caller, envelope, *installation_id, None)? {
                    Ok(installation) => installation,
                    Err(answer) => return Ok(answer),
                };
            let mut updated = installation.clone();
            match lifecycle::finish(&mut updated, *expected_from, tx.now()) {
                Ok(()) => Ok(MutationOutcome::Applied {
                    version: tx.save_installation(&updated)?,
                }),
                Err(LifecycleError::StaleState { .. }) => {
                    stale_move(tx, caller, installation, "finished", *at, None)
                }
                Err(e) => Ok(lifecycle_rejection(e)),
            }
        }
        Mutation::InstallationCouldNotComplete {
            installation_id,
            expected_from,
            reason,
            at,
        } => {
            let installation =
                match installation_or_answer(tx, caller, envelope, *installation_id, None)? {
                    Ok(installation) => installation,
                    Err(answer) => return Ok(answer),
                };
            let mut updated = installation.clone();
            match lifecycle::could_not_complete(&mut updated, *expected_from, reason, tx.now()) {
                Ok(()) => Ok(MutationOutcome::Applied {
                    version: tx.save_installation(&updated)?,
                }),
                Err(LifecycleError::StaleState { .. }) => stale_move(
                    tx,
                    caller,
                    installation,
                    "could not complete",
                    *at,
                    Some(reason),
                ),
                Err(e) => Ok(lifecycle_rejection(e)),
            }
        }
        Mutation::InstallationSetFlags {
            installation_id,
            customer_confirmed,
            demo_completed,
            base_customer_confirmed,
            base_demo_completed,
        } => {
            let mut installation =
                match installation_or_answer(tx, caller, envelope, *installation_id, None)? {
                    Ok(installation) => installation,
                    Err(answer) => return Ok(answer),
                };
            if let Some(ours) = customer_confirmed {
                installation.customer_confirmed = lifecycle::merge_flag(
                    *base_customer_confirmed,
                    *ours,
                    installation.customer_confirmed,
                );
            }
            if let Some(ours) = demo_completed {
                installation.demo_completed =
                    lifecycle::merge_flag(*base_demo_completed, *ours, installation.demo_completed);
            }
            installation.updated_at = tx.now();
            Ok(MutationOutcome::Applied {
                version: tx.save_installation(&installation)?,
            })
        }
        Mutation::AssignmentRespond {
            assignment_id,
            response,
            reason,
            at,
        } => respond_to_assignment(
            tx,
            caller,
            *assignment_id,
            *response,
            reason.as_deref(),
            *at,
        ),
        Mutation::ReportSubmit { report } => submit_report(tx, caller, envelope, report),
        Mutation::MediaAttach { media } => {
            if let Some(problem) = media_problem(media) {
                return Ok(problem);
            }
            let installation = match installation_or_answer(
                tx,
                caller,
                envelope,
                media.installation_id,
                Some(media.id),
            )? {
                Ok(installation) => installation,
                Err(answer) => return Ok(answer),
            };
            if let Some(existing) = tx.db().media(media.id)? {
                let same = existing.record.installation_id == installation.id
                    && existing.record.file.sha256 == media.file.sha256;
                return Ok(if same {
                    MutationOutcome::Applied {
                        version: existing.version,
                    }
                } else {
                    rejected(
                        RejectCode::ValidationFailed,
                        "A different media record already has this id",
                    )
                });
            }
            let mut media = media.clone();
            // Media belongs to whoever pushed it, whatever the payload says.
            media.uploaded_by = caller.user_id;
            Ok(MutationOutcome::Applied {
                version: tx.save_media(&media)?,
            })
        }
        Mutation::MediaCaption { media_id, caption } => {
            let Some(mut media) = own_media(tx, caller, *media_id)? else {
                if let Err(e) = validation::caption(caption) {
                    return Ok(rejected(RejectCode::ValidationFailed, e.to_string()));
                }
                return match media_installation_out_of_scope(tx, caller, *media_id)? {
                    Some(installation) => hold_or_not_found(
                        tx,
                        caller,
                        envelope,
                        installation,
                        Some(*media_id),
                        "media",
                    ),
                    None => Ok(not_found("media")),
                };
            };
            if media.uploaded_by != caller.user_id {
                return Ok(rejected(
                    RejectCode::NotPermitted,
                    "Only the person who added a photo or video can change its caption",
                ));
            }
            if let Err(e) = validation::caption(caption) {
                return Ok(rejected(RejectCode::ValidationFailed, e.to_string()));
            }
            media.caption = caption.clone();
            Ok(MutationOutcome::Applied {
                version: tx.save_media(&media)?,
            })
        }
        Mutation::MediaRemove { media_id } => {
            let Some(media) = own_media(tx, caller, *media_id)? else {
                return match media_installation_out_of_scope(tx, caller, *media_id)? {
                    Some(installation) => hold_or_not_found(
                        tx,
                        caller,
                        envelope,
                        installation,
                        Some(*media_id),
                        "media",
                    ),
                    None => Ok(not_found("media")),
                };
            };
            if media.uploaded_by != caller.user_id {
                return Ok(rejected(
                    RejectCode::NotPermitted,
                    "Only the person who added a photo or video can remove it",
                ));
            }
            // Sent back: the technician is correcting the report and may
            // change its photos.
            if tx.db().report_of(media.installation_id)?.is_some()
                && !tx.db().report_sent_back(media.installation_id)?
            {
                return Ok(rejected(
                    RejectCode::InvalidTransition,
                    "The report was submitted with this media; it can no longer be removed",
                ));
            }
            Ok(MutationOutcome::Applied {
                version: tx.delete_media(&media)?,
            })
        }
        Mutation::ReportCertificate {
            installation_id,
            file,
            report_content_hash,
            made_at,
        } => {
            let installation =
                match installation_or_answer(tx, caller, envelope, *installation_id, None)? {
                    Ok(installation) => installation,
                    Err(answer) => return Ok(answer),
                };
            save_certificate(
                tx,
                caller,
                installation.id,
                file,
                report_content_hash,
                *made_at,
            )
        }
    }
}

/// Records the certificate of the installation's report as it stands. The
/// first certificate of a report version is kept (another device's copy of
/// the same report's certificate changes nothing); a certificate of another
/// version of the report is refused, as is one for a job without a report.
/// Answers with the report's version.
fn save_certificate(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    installation_id: Uuid,
    file: &BlobRef,
    report_content_hash: &Sha256Hex,
    made_at: DateTime<Utc>,
) -> Result<MutationOutcome, ApiError> {
    let Some((report, _)) = tx.db().report_of(installation_id)? else {
        return Ok(rejected(
            RejectCode::NotFound,
            "The server has no submitted report for this installation, so its certificate was not stored; sync the report first",
        ));
    };
    if &report.record.content_hash != report_content_hash {
        return Ok(rejected(
            RejectCode::ValidationFailed,
            "This certificate is of another version of the report than the server holds; open the report to make a new certificate",
        ));
    }
    let certificate = StoredCertificate {
        installation_id,
        report_id: report.record.id,
        report_content_hash: report_content_hash.clone(),
        sha256: file.sha256.clone(),
        size: file.size,
        made_at,
        received_at: tx.now(),
        uploaded_by: caller.user_id,
    };
    let kept = tx.db().certificate_of(certificate.installation_id)?;
    let same_report = kept
        .as_ref()
        .is_some_and(|k| k.report_content_hash == certificate.report_content_hash);
    if !same_report {
        tx.save_certificate(&certificate)?;
    }
    Ok(MutationOutcome::Applied {
        version: report.version,
    })
}

/// A media record whose installation is in the caller's scope.
fn own_media(
    tx: &dyn WriteTx,
    caller: &Caller,
    media_id: Uuid,
) -> Result<Option<fieldbook_domain::InstallationMedia>, ApiError> {
    let Some(media) = tx.db().media(media_id)? else {
        return Ok(None);
    };
    if !tx
        .db()
        .installation_in_scope(media.record.installation_id, scope(caller))?
    {
        return Ok(None);
    }
    Ok(Some(media.record))
}

fn respond_to_assignment(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    assignment_id: Uuid,
    response: AssignmentStatus,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<MutationOutcome, ApiError> {
    let Some(current) = tx.db().assignment(assignment_id)? else {
        return Ok(not_found("assignment"));
    };
    let mut assignment = current.record.clone();
    let mine =
        caller.role == fieldbook_domain::Role::Ops || caller.team_ids.contains(&assignment.team_id);
    if !mine {
        return Ok(not_found("assignment"));
    }
    if !matches!(
        response,
        AssignmentStatus::Accepted | AssignmentStatus::Declined
    ) {
        return Ok(rejected(
            RejectCode::ValidationFailed,
            "A team can only accept or decline an assignment",
        ));
    }
    match assignment.status {
        AssignmentStatus::Withdrawn => {
            return Ok(MutationOutcome::Conflict {
                server_state: Box::new(ServerState {
                    installation: None,
                    assignment: Some(current),
                    message: "Central Ops withdrew this assignment".into(),
                }),
            })
        }
        AssignmentStatus::Completed => {
            return Ok(rejected(
                RejectCode::InvalidTransition,
                "The assignment is already completed",
            ))
        }
        AssignmentStatus::Assigned | AssignmentStatus::Accepted | AssignmentStatus::Declined => {}
    }
    if response == AssignmentStatus::Declined {
        let reason = reason.unwrap_or("");
        if let Err(e) = validation::required_text("reason", reason, validation::MAX_REASON_CHARS) {
            return Ok(rejected(RejectCode::ValidationFailed, e.to_string()));
        }
        assignment.decline_reason = Some(reason.trim().to_owned());
    } else {
        assignment.decline_reason = None;
    }
    assignment.status = response;
    assignment.responded_at = Some(at);
    Ok(MutationOutcome::Applied {
        version: tx.save_assignment(&assignment)?,
    })
}

/// Checks a report against its installation's photos and videos and the
/// template version it was filled against (whatever is newest now: old
/// reports stay valid). A report signed over photos that were held while
/// the job was away from the technician's team releases them first
/// ([`held_work::release_with_report`]); if it is refused all the same, the
/// mutation's savepoint undoes the release.
fn check_report(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    report: &fieldbook_domain::InstallationReport,
) -> Result<Result<(), String>, ApiError> {
    let template = crate::report_templates::template_of(tx.db(), report)?;
    let media = tx.db().media_hashes_of(report.installation_id)?;
    let Err(refused) = report.validate(&media, template.as_ref()) else {
        return Ok(Ok(()));
    };
    if !held_work::release_with_report(tx, caller.user_id, report.installation_id)? {
        return Ok(Err(refused.to_string()));
    }
    let media = tx.db().media_hashes_of(report.installation_id)?;
    Ok(report
        .validate(&media, template.as_ref())
        .map_err(|e| e.to_string()))
}

fn submit_report(
    tx: &mut dyn WriteTx,
    caller: &Caller,
    envelope: &MutationEnvelope,
    report: &fieldbook_domain::InstallationReport,
) -> Result<MutationOutcome, ApiError> {
    let installation =
        match installation_or_answer(tx, caller, envelope, report.installation_id, None)? {
            Ok(installation) => installation,
            Err(answer) => return Ok(answer),
        };
    let mut report = report.clone();
    // The server knows who is submitting; the payload's claim does not count
    // (it is not part of the signed content hash).
    report.submitted_by = caller.user_id;
    let received_at = tx.now();
    let event = |kind| ReportEvent {
        event: kind,
        report_id: report.id,
        installation_id: installation.id,
        received_at,
        device_id: Some(envelope.device_id),
        user_id: caller.user_id,
        mutation_id: Some(envelope.mutation_id),
        content_hash: report.content_hash.clone(),
        note: None,
        earlier_version: None,
    };
    if let Some((existing, _)) = tx.db().report_of(installation.id)? {
        if existing.record.id == report.id && existing.record.content_hash == report.content_hash {
            // Kept for review while ops had moved the job; it has been
            // finished again since, so this submission completes it.
            if installation.status == InstallationStatus::Completed {
                let demo_given = existing.record.demo_given;
                if let Err(e) = complete_with_report(tx, caller, &installation, demo_given)? {
                    return Ok(lifecycle_rejection(e));
                }
                // Also a sent-back report resubmitted unchanged.
                tx.set_report_sent_back(installation.id, false)?;
                tx.append_report_event(&event(ReportEventKind::Submitted))?;
                return Ok(MutationOutcome::Applied {
                    version: existing.version,
                });
            }
            let resubmitted = event(ReportEventKind::Resubmitted);
            tx.append_report_event(&resubmitted)?;
            return Ok(MutationOutcome::Applied {
                version: existing.version,
            });
        }
        // Ops sent the report back and the technician corrected it: the
        // correction replaces the report (one per installation), and the
        // earlier version stays in the audit log.
        if installation.status == InstallationStatus::Completed
            && tx.db().report_sent_back(installation.id)?
        {
            if let Err(e) = check_report(tx, caller, &report)? {
                return Ok(rejected(RejectCode::ValidationFailed, e));
            }
            if let Err(e) = complete_with_report(tx, caller, &installation, report.demo_given)? {
                return Ok(lifecycle_rejection(e));
            }
            let version = tx.replace_report(&report)?;
            let mut corrected = event(ReportEventKind::Corrected);
            corrected.earlier_version = Some(Box::new(existing.record));
            tx.append_report_event(&corrected)?;
            return Ok(MutationOutcome::Applied { version });
        }
        return Ok(rejected(
            RejectCode::ReportExists,
            "This installation already has a different submitted report",
        ));
    }
    if tx.db().report_id_taken(report.id)? {
        return Ok(rejected(
            RejectCode::ValidationFailed,
            "Another installation's report already has this report id, so this report was not stored",
        ));
    }
    if let Err(e) = check_report(tx, caller, &report)? {
        return Ok(rejected(RejectCode::ValidationFailed, e));
    }
    if installation.status == InstallationStatus::Completed {
        if let Err(e) = complete_with_report(tx, caller, &installation, report.demo_given)? {
            return Ok(lifecycle_rejection(e));
        }
        let version = tx.insert_report(&report)?;
        let submitted = event(ReportEventKind::Submitted);
        tx.append_report_event(&submitted)?;
        return Ok(MutationOutcome::Applied { version });
    }
    // Not `completed`: ops cancelled or rescheduled it meanwhile (or the
    // finish was refused). Keep the report, tell ops, tell the technician.
    tx.insert_report(&report)?;
    let for_review = event(ReportEventKind::SubmittedForReview);
    tx.append_report_event(&for_review)?;
    let actual = installation.status;
    let note = format!(
        "{} submitted a report (content hash {}) while the job was {actual}: the report and media were kept, please review",
        caller.username, report.content_hash
    );
    installation_conflict(
        tx,
        installation,
        Some(note),
        format!(
            "The job is {actual} on the server. Your report and media were kept and Central Ops have been asked to review them."
        ),
    )
}

/// Send outbox entries; each is answered on its own.
#[utoipa::path(
    post, path = "/api/v1/sync/push", tag = "sync", security(("bearer" = [])),
    request_body = PushRequest,
    responses(
        (status = 200, description = "One result per mutation, in order: applied{version}, rejected{code, reason, expected_device_seq (with sequence_gap: the device sequence to resend from)}, conflict{server_state} or held{held_work_id, message} (the installation left the caller's scope while they worked offline: kept for Central Ops)", body = PushResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 413, description = "Too many mutations or too large a body", body = ErrorBody),
    )
)]
pub async fn push_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(session): Extension<SessionToken>,
    ApiJson(request): ApiJson<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    blocking(move || {
        let response = push(&state.storage, &caller, &request)?;
        // The session is the device's from now on, header or not: revoking
        // the device revokes this token too. One idempotent update: run
        // again if it lost a conflict, rather than answer 503 to a push
        // whose mutations are all stored.
        if let Some(device) = request.mutations.last().map(|m| m.device_id) {
            state
                .storage
                .write(|tx| tx.link_session_to_device(session.hash(), device, caller.user_id))?;
        }
        Ok(response)
    })
    .await
    .map(Json)
}
