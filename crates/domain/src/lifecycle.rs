//! The installation lifecycle as one state machine: which moves exist, who may
//! make each, and what a move does to the installation's flags.
//!
//! The server owns the state machine (it re-validates every pushed mutation
//! against its current state); the device runs the same rules so the UI only
//! offers moves that will be accepted.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::models::{Installation, InstallationStatus, TimeSlot};
use crate::validation::{self, FieldError};

use InstallationStatus::*;

/// Who is making a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Actor {
    Ops,
    Technician,
}

/// Who may make a given move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Ops,
    Technician,
    Both,
}

impl Allowed {
    fn permits(self, actor: Actor) -> bool {
        matches!(
            (self, actor),
            (Allowed::Both, _)
                | (Allowed::Ops, Actor::Ops)
                | (Allowed::Technician, Actor::Technician)
        )
    }
}

/// The Decision table of the data-model spec, verbatim.
const MOVES: &[(InstallationStatus, InstallationStatus, Allowed)] = &[
    (Planned, MaterialPending, Allowed::Ops),
    (Planned, MaterialReady, Allowed::Ops),
    (Planned, Confirmed, Allowed::Ops),
    (Planned, Rescheduled, Allowed::Ops),
    (Planned, Cancelled, Allowed::Ops),
    (MaterialPending, MaterialReady, Allowed::Ops),
    (MaterialPending, Rescheduled, Allowed::Ops),
    (MaterialPending, Cancelled, Allowed::Ops),
    (MaterialReady, Confirmed, Allowed::Ops),
    (MaterialReady, Rescheduled, Allowed::Ops),
    (MaterialReady, Cancelled, Allowed::Ops),
    (Confirmed, InProgress, Allowed::Technician),
    (Confirmed, Rescheduled, Allowed::Ops),
    (Confirmed, Cancelled, Allowed::Ops),
    (InProgress, Completed, Allowed::Technician),
    (InProgress, Rescheduled, Allowed::Both),
    (Completed, ReportSubmitted, Allowed::Technician),
    (ReportSubmitted, Closed, Allowed::Ops),
    // "Send back to the technician": ops review found something to correct.
    // The spec's status list is fixed, so the job goes back to `completed`
    // (finished, report not accepted yet) with the note as `status_reason`;
    // see [`send_back`].
    (ReportSubmitted, Completed, Allowed::Ops),
    (Rescheduled, Planned, Allowed::Ops),
];

/// States from which a technician may "start anyway" (with a reason): the job
/// is planned but ops have not confirmed it yet. Starting a cancelled, closed or
/// rescheduled job is never allowed.
const START_ANYWAY_FROM: &[InstallationStatus] = &[Planned, MaterialPending, MaterialReady];

/// Why a move was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum LifecycleError {
    #[error("an installation cannot move from {from} to {to}")]
    NoSuchMove {
        from: InstallationStatus,
        to: InstallationStatus,
    },
    #[error("only {allowed} may move an installation from {from} to {to}")]
    NotPermitted {
        from: InstallationStatus,
        to: InstallationStatus,
        allowed: String,
    },
    #[error("the installation is {actual}, not {expected}: it changed since you last synced")]
    StaleState {
        expected: InstallationStatus,
        actual: InstallationStatus,
    },
    #[error("{0}")]
    Invalid(FieldError),
}

impl InstallationStatus {
    /// True for states at or after `material_ready` on the happy path; reaching
    /// one sets the `material_ready` flag.
    pub fn implies_material_ready(self) -> bool {
        matches!(
            self,
            MaterialReady | Confirmed | InProgress | Completed | ReportSubmitted | Closed
        )
    }

    /// No further moves by anyone except ops reopening a rescheduled job.
    pub fn is_terminal(self) -> bool {
        matches!(self, Closed | Cancelled)
    }
}

/// Checks whether `actor` may move an installation from `from` to `to`.
pub fn check_move(
    from: InstallationStatus,
    to: InstallationStatus,
    actor: Actor,
) -> Result<(), LifecycleError> {
    match MOVES.iter().find(|(f, t, _)| *f == from && *t == to) {
        None => Err(LifecycleError::NoSuchMove { from, to }),
        Some((_, _, allowed)) if allowed.permits(actor) => Ok(()),
        Some((_, _, allowed)) => Err(LifecycleError::NotPermitted {
            from,
            to,
            allowed: match allowed {
                Allowed::Ops => "Central Ops",
                Allowed::Technician => "the technician",
                Allowed::Both => "ops or the technician",
            }
            .to_owned(),
        }),
    }
}

/// Every state `actor` may move an installation in `from` to.
pub fn allowed_moves(from: InstallationStatus, actor: Actor) -> Vec<InstallationStatus> {
    MOVES
        .iter()
        .filter(|(f, _, allowed)| *f == from && allowed.permits(actor))
        .map(|(_, t, _)| *t)
        .collect()
}

/// Whether `actor` may give an installation in `from` a new date: out of the
/// plan to `rescheduled` (unless it is there already), then back to `planned`
/// on the new date. The console's board asks this (through the server) before
/// it offers a job another day.
pub fn can_reschedule(from: InstallationStatus, actor: Actor) -> bool {
    let out_of_plan = from == Rescheduled || check_move(from, Rescheduled, actor).is_ok();
    out_of_plan && check_move(Rescheduled, Planned, actor).is_ok()
}

/// A technician's request to start the job on site.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StartRequest {
    /// Required to start a job that is not `confirmed` yet ("start anyway");
    /// recorded in the report.
    pub override_reason: Option<String>,
}

/// Whether a technician can start from `status`, and whether it needs the
/// "start anyway" override.
pub fn start_needs_override(status: InstallationStatus) -> Option<bool> {
    if status == Confirmed {
        Some(false)
    } else if START_ANYWAY_FROM.contains(&status) {
        Some(true)
    } else {
        None
    }
}

/// "Start installation" as the installation screen offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StartAction {
    /// Only through "start anyway", with a reason (the job is not confirmed).
    pub needs_override: bool,
}

/// What a technician may do with an installation in a given state: the
/// buttons the installation and report screens offer. Computed here so the
/// screens never restate the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TechnicianActions {
    /// `None`: the job cannot be started from this state.
    pub start: Option<StartAction>,
    /// "Finish installation".
    pub finish: bool,
    /// "Could not complete" (with a reason).
    pub could_not_complete: bool,
    /// The report can be opened: work has begun on site, or a draft or a
    /// report exists already.
    pub open_report: bool,
    /// The report can be submitted ("Finish installation" came first).
    pub submit_report: bool,
}

/// The technician's moves from `status`, read off the move table.
/// `has_report` says whether a report draft or a submitted report exists.
pub fn technician_actions(status: InstallationStatus, has_report: bool) -> TechnicianActions {
    let may = |to| check_move(status, to, Actor::Technician).is_ok();
    TechnicianActions {
        start: start_needs_override(status).map(|needs_override| StartAction { needs_override }),
        finish: may(Completed),
        could_not_complete: may(Rescheduled),
        open_report: has_report
            || matches!(status, InProgress | Completed | ReportSubmitted | Closed),
        submit_report: may(ReportSubmitted),
    }
}

fn set_status(inst: &mut Installation, to: InstallationStatus, now: DateTime<Utc>) {
    inst.status = to;
    inst.material_ready |= to.implies_material_ready();
    inst.updated_at = now;
}

fn expect_state(inst: &Installation, expected: InstallationStatus) -> Result<(), LifecycleError> {
    if inst.status == expected {
        Ok(())
    } else {
        Err(LifecycleError::StaleState {
            expected,
            actual: inst.status,
        })
    }
}

fn required_reason(field: &str, reason: Option<&str>) -> Result<String, LifecycleError> {
    let reason = reason.unwrap_or("");
    validation::required_text(field, reason, validation::MAX_REASON_CHARS)
        .map_err(LifecycleError::Invalid)?;
    Ok(reason.trim().to_owned())
}

/// Technician: "Start installation". `expected_from` is the state the device saw
/// (the server rejects the move if it changed). Returns the override reason to
/// record in the report, if the start needed one.
pub fn start(
    inst: &mut Installation,
    expected_from: InstallationStatus,
    request: &StartRequest,
    now: DateTime<Utc>,
) -> Result<Option<String>, LifecycleError> {
    expect_state(inst, expected_from)?;
    let override_reason = match start_needs_override(inst.status) {
        Some(false) => None,
        Some(true) => Some(required_reason(
            "override_reason",
            request.override_reason.as_deref(),
        )?),
        None => {
            return Err(LifecycleError::NoSuchMove {
                from: inst.status,
                to: InProgress,
            })
        }
    };
    set_status(inst, InProgress, now);
    Ok(override_reason)
}

/// Technician: "Finish installation".
pub fn finish(
    inst: &mut Installation,
    expected_from: InstallationStatus,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    expect_state(inst, expected_from)?;
    check_move(inst.status, Completed, Actor::Technician)?;
    set_status(inst, Completed, now);
    Ok(())
}

/// Technician: "Could not complete" — the job goes back to ops as
/// `rescheduled` with the technician's reason.
pub fn could_not_complete(
    inst: &mut Installation,
    expected_from: InstallationStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    expect_state(inst, expected_from)?;
    check_move(inst.status, Rescheduled, Actor::Technician)?;
    let reason = required_reason("reason", Some(reason))?;
    set_status(inst, Rescheduled, now);
    inst.status_reason = Some(reason);
    Ok(())
}

/// Technician: submitting the report moves `completed → report_submitted` and
/// sets `demo_completed` from the report's `demo_given`.
pub fn submit_report(
    inst: &mut Installation,
    demo_given: bool,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    check_move(inst.status, ReportSubmitted, Actor::Technician)?;
    set_status(inst, ReportSubmitted, now);
    inst.demo_completed = demo_given;
    Ok(())
}

/// Ops: "Send back to the technician" (`report_submitted → completed`) with
/// a note saying what to correct. The note becomes the installation's
/// `status_reason`, which the technician sees; their submitted report
/// becomes editable again and resubmitting it moves the job back to
/// `report_submitted`.
pub fn send_back(
    inst: &mut Installation,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    check_move(inst.status, Completed, Actor::Ops)?;
    let note = required_reason("note", Some(note))?;
    set_status(inst, Completed, now);
    inst.status_reason = Some(note);
    Ok(())
}

/// States in which Central Ops may accept held work (a report that arrived
/// after the job left the technician's scope) as the installation's report:
/// every state but those that already have a report.
pub fn can_accept_held_report(status: InstallationStatus) -> bool {
    !matches!(status, ReportSubmitted | Closed)
}

/// Ops: accept a held report as the installation's report. The job moves to
/// `report_submitted` from wherever ops had moved it (withdrawn, reassigned,
/// rescheduled or cancelled while the work was being done), exactly as if the
/// report had arrived in time, so the ordinary review (close or send back)
/// follows. `demo_completed` comes from the report, as on a normal submit.
pub fn accept_held_report(
    inst: &mut Installation,
    demo_given: bool,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    if !can_accept_held_report(inst.status) {
        return Err(LifecycleError::NoSuchMove {
            from: inst.status,
            to: ReportSubmitted,
        });
    }
    set_status(inst, ReportSubmitted, now);
    inst.demo_completed = demo_given;
    Ok(())
}

/// Ops: any move of the table that ops may make. Rescheduling may carry a new
/// date / slot; `rescheduled → planned` requires one. Sending a report back
/// (`report_submitted → completed`) requires a reason (the note); see
/// [`send_back`].
pub fn ops_transition(
    inst: &mut Installation,
    to: InstallationStatus,
    reason: Option<&str>,
    new_schedule: Option<(NaiveDate, TimeSlot)>,
    now: DateTime<Utc>,
) -> Result<(), LifecycleError> {
    check_move(inst.status, to, Actor::Ops)?;
    if inst.status == ReportSubmitted && to == Completed {
        return send_back(inst, reason.unwrap_or(""), now);
    }
    if inst.status == Rescheduled && to == Planned && new_schedule.is_none() {
        return Err(LifecycleError::Invalid(FieldError::required(
            "scheduled_date",
            "a rescheduled installation needs a new date and time slot",
        )));
    }
    // The technician and the history must be told why a job was moved or
    // called off.
    if matches!(to, Rescheduled | Cancelled) {
        required_reason("reason", reason)?;
    }
    if let Some(reason) = reason {
        validation::optional_text("reason", reason, validation::MAX_REASON_CHARS)
            .map_err(LifecycleError::Invalid)?;
    }
    set_status(inst, to, now);
    if let Some((date, slot)) = new_schedule {
        inst.scheduled_date = date;
        inst.scheduled_time_slot = slot;
    }
    inst.status_reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    Ok(())
}

/// Three-way merge of a flag both sides may set (docs/architecture.md "Conflict rules"):
/// a side that changed it against the base wins; if both changed it, true wins.
pub fn merge_flag(base: bool, ours: bool, theirs: bool) -> bool {
    match (ours != base, theirs != base) {
        (false, false) => base,
        (true, false) => ours,
        (false, true) => theirs,
        (true, true) => ours || theirs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstallationId;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    #[test]
    fn ops_reschedule_jobs_not_yet_reported_and_never_a_finished_one() {
        for from in [
            Planned,
            MaterialPending,
            MaterialReady,
            Confirmed,
            InProgress,
            Rescheduled,
        ] {
            assert!(can_reschedule(from, Actor::Ops), "{from:?}");
        }
        for from in [Completed, ReportSubmitted, Closed, Cancelled] {
            assert!(!can_reschedule(from, Actor::Ops), "{from:?}");
        }
        // Only ops put a job back in the plan.
        assert!(!can_reschedule(InProgress, Actor::Technician));
    }

    fn installation(status: InstallationStatus) -> Installation {
        Installation {
            id: Uuid::new_v4(),
            installation_id: InstallationId::new(2026, 1).unwrap(),
            survey_id: Uuid::new_v4(),
            lead_id: Uuid::new_v4(),
            scheduled_date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            scheduled_time_slot: TimeSlot::Morning,
            status,
            material_ready: false,
            customer_confirmed: false,
            demo_completed: false,
            created_by: Uuid::new_v4(),
            created_at: now(),
            updated_at: now(),
            status_reason: None,
            ops_review_note: None,
            report_template_id: None,
        }
    }

    /// The spec's table, restated independently as (from, to, ops?, tech?) so
    /// a typo in `MOVES` fails here.
    const EXPECTED: &[(InstallationStatus, InstallationStatus, bool, bool)] = &[
        (Planned, MaterialPending, true, false),
        (Planned, MaterialReady, true, false),
        (Planned, Confirmed, true, false),
        (Planned, Rescheduled, true, false),
        (Planned, Cancelled, true, false),
        (MaterialPending, MaterialReady, true, false),
        (MaterialPending, Rescheduled, true, false),
        (MaterialPending, Cancelled, true, false),
        (MaterialReady, Confirmed, true, false),
        (MaterialReady, Rescheduled, true, false),
        (MaterialReady, Cancelled, true, false),
        (Confirmed, InProgress, false, true),
        (Confirmed, Rescheduled, true, false),
        (Confirmed, Cancelled, true, false),
        (InProgress, Completed, false, true),
        (InProgress, Rescheduled, true, true),
        (Completed, ReportSubmitted, false, true),
        (ReportSubmitted, Closed, true, false),
        (ReportSubmitted, Completed, true, false),
        (Rescheduled, Planned, true, false),
    ];

    #[test]
    fn every_pair_and_actor_matches_the_table() {
        let mut allowed_count = 0;
        let mut forbidden_count = 0;
        for &from in InstallationStatus::ALL {
            for &to in InstallationStatus::ALL {
                let row = EXPECTED.iter().find(|(f, t, _, _)| *f == from && *t == to);
                for actor in [Actor::Ops, Actor::Technician] {
                    let expect_ok = match (row, actor) {
                        (None, _) => false,
                        (Some(r), Actor::Ops) => r.2,
                        (Some(r), Actor::Technician) => r.3,
                    };
                    let got = check_move(from, to, actor);
                    assert_eq!(
                        got.is_ok(),
                        expect_ok,
                        "{from} -> {to} by {actor:?}: {got:?}"
                    );
                    match (row, got) {
                        (None, Err(e)) => {
                            assert!(matches!(e, LifecycleError::NoSuchMove { .. }));
                            forbidden_count += 1;
                        }
                        (Some(_), Err(e)) => {
                            assert!(matches!(e, LifecycleError::NotPermitted { .. }));
                            forbidden_count += 1;
                        }
                        (_, Ok(())) => allowed_count += 1,
                    }
                }
            }
        }
        assert_eq!(allowed_count, 21);
        assert_eq!(forbidden_count, 200 - 21);
    }

    #[test]
    fn allowed_moves_for_technician() {
        assert_eq!(
            allowed_moves(Confirmed, Actor::Technician),
            vec![InProgress]
        );
        assert_eq!(
            allowed_moves(InProgress, Actor::Technician),
            vec![Completed, Rescheduled]
        );
        assert!(allowed_moves(Planned, Actor::Technician).is_empty());
        assert!(allowed_moves(Closed, Actor::Ops).is_empty());
        assert!(allowed_moves(Cancelled, Actor::Ops).is_empty());
    }

    #[test]
    fn ops_must_say_why_they_reschedule_or_cancel() {
        for to in [Rescheduled, Cancelled] {
            let mut inst = installation(Planned);
            for reason in [None, Some("  ")] {
                assert!(matches!(
                    ops_transition(&mut inst, to, reason, None, now()),
                    Err(LifecycleError::Invalid(_))
                ));
                assert_eq!(inst.status, Planned, "nothing changed");
            }
            ops_transition(&mut inst, to, Some("customer away"), None, now()).unwrap();
            assert_eq!(inst.status_reason.as_deref(), Some("customer away"));
        }
    }

    #[test]
    fn technician_actions_follow_the_move_table() {
        let start = |needs_override| Some(StartAction { needs_override });
        // (status, start, finish, could not complete, open report, submit report)
        let expected = [
            (Planned, start(true), false, false, false, false),
            (MaterialPending, start(true), false, false, false, false),
            (MaterialReady, start(true), false, false, false, false),
            (Confirmed, start(false), false, false, false, false),
            (InProgress, None, true, true, true, false),
            (Completed, None, false, false, true, true),
            (ReportSubmitted, None, false, false, true, false),
            (Closed, None, false, false, true, false),
            (Rescheduled, None, false, false, false, false),
            (Cancelled, None, false, false, false, false),
        ];
        assert_eq!(expected.len(), InstallationStatus::ALL.len());
        for (status, start, finish, could_not_complete, open_report, submit_report) in expected {
            assert!(technician_actions(status, true).open_report, "{status}");
            assert_eq!(
                technician_actions(status, false),
                TechnicianActions {
                    start,
                    finish,
                    could_not_complete,
                    open_report,
                    submit_report,
                },
                "{status}"
            );
        }
    }

    #[test]
    fn every_offered_action_is_accepted_by_the_moves() {
        for &status in InstallationStatus::ALL {
            let actions = technician_actions(status, false);
            let reason = StartRequest {
                override_reason: Some("customer present".into()),
            };
            assert_eq!(
                actions.start.is_some(),
                start(&mut installation(status), status, &reason, now()).is_ok(),
                "{status}"
            );
            assert_eq!(
                actions.finish,
                finish(&mut installation(status), status, now()).is_ok(),
                "{status}"
            );
            assert_eq!(
                actions.could_not_complete,
                could_not_complete(&mut installation(status), status, "no power", now()).is_ok(),
                "{status}"
            );
            assert_eq!(
                actions.submit_report,
                submit_report(&mut installation(status), true, now()).is_ok(),
                "{status}"
            );
        }
    }

    #[test]
    fn material_ready_flag_follows_status() {
        for &to in InstallationStatus::ALL {
            for &from in InstallationStatus::ALL {
                if check_move(from, to, Actor::Ops).is_err() {
                    continue;
                }
                let mut inst = installation(from);
                let schedule = Some((
                    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                    TimeSlot::Evening,
                ));
                ops_transition(&mut inst, to, Some("ops said so"), schedule, now()).unwrap();
                assert_eq!(
                    inst.material_ready,
                    to.implies_material_ready(),
                    "{from}->{to}"
                );
            }
        }
        // Once set, leaving the happy path keeps it.
        let mut inst = installation(MaterialReady);
        inst.material_ready = true;
        ops_transition(&mut inst, Cancelled, Some("customer moved"), None, now()).unwrap();
        assert!(inst.material_ready);
        assert_eq!(inst.status_reason.as_deref(), Some("customer moved"));
    }

    #[test]
    fn start_from_confirmed_needs_no_reason() {
        let mut inst = installation(Confirmed);
        let r = start(&mut inst, Confirmed, &StartRequest::default(), now()).unwrap();
        assert_eq!(r, None);
        assert_eq!(inst.status, InProgress);
        assert!(inst.material_ready);
    }

    #[test]
    fn start_anyway_needs_a_reason() {
        for from in [Planned, MaterialPending, MaterialReady] {
            let mut inst = installation(from);
            let err = start(&mut inst, from, &StartRequest::default(), now()).unwrap_err();
            assert!(matches!(err, LifecycleError::Invalid(_)), "{from}: {err:?}");
            assert_eq!(inst.status, from, "refused move must not change state");
            let blank = StartRequest {
                override_reason: Some("   ".into()),
            };
            assert!(start(&mut inst, from, &blank, now()).is_err());
            let req = StartRequest {
                override_reason: Some(" customer present, materials on van ".into()),
            };
            let r = start(&mut inst, from, &req, now()).unwrap();
            assert_eq!(r.as_deref(), Some("customer present, materials on van"));
            assert_eq!(inst.status, InProgress);
        }
    }

    #[test]
    fn start_is_refused_from_other_states() {
        for from in [
            InProgress,
            Completed,
            ReportSubmitted,
            Closed,
            Rescheduled,
            Cancelled,
        ] {
            let mut inst = installation(from);
            let req = StartRequest {
                override_reason: Some("please".into()),
            };
            let err = start(&mut inst, from, &req, now()).unwrap_err();
            assert!(matches!(err, LifecycleError::NoSuchMove { .. }), "{from}");
            assert_eq!(inst.status, from);
        }
    }

    #[test]
    fn stale_expected_state_is_refused() {
        let mut inst = installation(Cancelled);
        let err = start(&mut inst, Confirmed, &StartRequest::default(), now()).unwrap_err();
        assert_eq!(
            err,
            LifecycleError::StaleState {
                expected: Confirmed,
                actual: Cancelled
            }
        );
        let err = finish(&mut inst, InProgress, now()).unwrap_err();
        assert!(matches!(err, LifecycleError::StaleState { .. }));
    }

    #[test]
    fn finish_and_submit() {
        let mut inst = installation(InProgress);
        finish(&mut inst, InProgress, now()).unwrap();
        assert_eq!(inst.status, Completed);
        assert!(finish(&mut inst, Completed, now()).is_err());
        submit_report(&mut inst, true, now()).unwrap();
        assert_eq!(inst.status, ReportSubmitted);
        assert!(inst.demo_completed);
        assert!(submit_report(&mut inst, true, now()).is_err());
    }

    #[test]
    fn submit_sets_demo_completed_from_report() {
        let mut inst = installation(Completed);
        inst.demo_completed = true;
        submit_report(&mut inst, false, now()).unwrap();
        assert!(!inst.demo_completed);
    }

    #[test]
    fn could_not_complete_requires_reason() {
        let mut inst = installation(InProgress);
        assert!(could_not_complete(&mut inst, InProgress, "  ", now()).is_err());
        assert_eq!(inst.status, InProgress);
        could_not_complete(&mut inst, InProgress, "wall too thin for the mount", now()).unwrap();
        assert_eq!(inst.status, Rescheduled);
        assert_eq!(
            inst.status_reason.as_deref(),
            Some("wall too thin for the mount")
        );
        let mut confirmed = installation(Confirmed);
        assert!(could_not_complete(&mut confirmed, Confirmed, "x", now()).is_err());
    }

    #[test]
    fn reopening_a_rescheduled_job_needs_a_new_date() {
        let mut inst = installation(Rescheduled);
        assert!(ops_transition(&mut inst, Planned, None, None, now()).is_err());
        let date = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        ops_transition(
            &mut inst,
            Planned,
            None,
            Some((date, TimeSlot::Afternoon)),
            now(),
        )
        .unwrap();
        assert_eq!(inst.status, Planned);
        assert_eq!(inst.scheduled_date, date);
        assert_eq!(inst.scheduled_time_slot, TimeSlot::Afternoon);
    }

    #[test]
    fn ops_cannot_make_technician_moves() {
        let mut inst = installation(Confirmed);
        assert!(ops_transition(&mut inst, InProgress, None, None, now()).is_err());
        let mut inst = installation(Completed);
        assert!(ops_transition(&mut inst, ReportSubmitted, None, None, now()).is_err());
    }

    #[test]
    fn send_back_needs_a_note_and_reopens_the_report() {
        let mut inst = installation(ReportSubmitted);
        for blank in ["", "   "] {
            let err = send_back(&mut inst, blank, now()).unwrap_err();
            assert!(matches!(err, LifecycleError::Invalid(_)), "{err:?}");
            assert_eq!(
                inst.status, ReportSubmitted,
                "refused move must not change state"
            );
        }
        let err = ops_transition(&mut inst, Completed, None, None, now()).unwrap_err();
        assert!(matches!(err, LifecycleError::Invalid(_)), "{err:?}");
        send_back(&mut inst, "  photo of the RCD label is missing ", now()).unwrap();
        assert_eq!(inst.status, Completed);
        assert_eq!(
            inst.status_reason.as_deref(),
            Some("photo of the RCD label is missing")
        );
        // The technician resubmits: back to report_submitted.
        submit_report(&mut inst, true, now()).unwrap();
        assert_eq!(inst.status, ReportSubmitted);
    }

    #[test]
    fn only_a_submitted_report_can_be_sent_back_and_only_by_ops() {
        for &from in InstallationStatus::ALL {
            let mut inst = installation(from);
            let result = send_back(&mut inst, "fix the serial", now());
            assert_eq!(result.is_ok(), from == ReportSubmitted, "{from}");
        }
        assert!(matches!(
            check_move(ReportSubmitted, Completed, Actor::Technician),
            Err(LifecycleError::NotPermitted { .. })
        ));
    }

    #[test]
    fn a_held_report_is_accepted_from_any_state_without_a_report() {
        for &from in InstallationStatus::ALL {
            let mut inst = installation(from);
            let result = accept_held_report(&mut inst, true, now());
            if matches!(from, ReportSubmitted | Closed) {
                assert!(result.is_err(), "{from}");
                assert_eq!(inst.status, from);
            } else {
                result.unwrap();
                assert_eq!(inst.status, ReportSubmitted, "{from}");
                assert!(inst.demo_completed);
                assert!(inst.material_ready);
            }
        }
    }

    #[test]
    fn flag_merge_true_wins() {
        // (base, ours, theirs) -> merged
        let table = [
            (false, false, false, false),
            (false, true, false, true),
            (false, false, true, true),
            (false, true, true, true),
            (true, true, true, true),
            (true, false, true, false),
            (true, true, false, false),
            (true, false, false, false),
        ];
        for (base, ours, theirs, merged) in table {
            assert_eq!(
                merge_flag(base, ours, theirs),
                merged,
                "{base} {ours} {theirs}"
            );
        }
    }
}
