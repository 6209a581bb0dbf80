//! What a conforming answer looks like. Pure functions over answers: each
//! says why an answer is wrong, so the checks stay short and the judging is
//! unit-tested against deliberately wrong answers.

use fieldbook_protocol::{MutationOutcome, MutationResult, PushResponse, RejectCode};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::client::Answer;
use crate::CheckError;

/// Fails the check with `reason` unless `condition` holds.
pub fn that(condition: bool, reason: impl FnOnce() -> String) -> Result<(), CheckError> {
    if condition {
        Ok(())
    } else {
        Err(CheckError::Wrong(reason()))
    }
}

/// The answer has exactly this status.
pub fn status(answer: &Answer, expected: StatusCode) -> Result<(), CheckError> {
    that(answer.status == expected, || {
        format!("{}; expected {expected}", answer.describe())
    })
}

/// The answer is an error with this status and `{code, message}` body whose
/// code is `code` and whose message is not empty.
pub fn error(answer: &Answer, expected: StatusCode, code: &str) -> Result<(), CheckError> {
    that(
        answer.status == expected
            && answer.body["code"] == code
            && answer.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
        || {
            format!(
                "{}; expected {expected} with {{\"code\": \"{code}\", \"message\": …}}",
                answer.describe()
            )
        },
    )
}

/// A push answer: 200 with one result per sent mutation id, in order.
pub fn push_results(answer: &Answer, sent: &[Uuid]) -> Result<Vec<MutationOutcome>, CheckError> {
    status(answer, StatusCode::OK)?;
    let response: PushResponse = serde_json::from_value(answer.body.clone())
        .map_err(|e| CheckError::Wrong(format!("{}: not a push answer: {e}", answer.describe())))?;
    let ids: Vec<Uuid> = response.results.iter().map(|r| r.mutation_id).collect();
    that(ids == sent, || {
        format!("push answered results for {ids:?}; expected one per mutation in order: {sent:?}")
    })?;
    Ok(response
        .results
        .into_iter()
        .map(|MutationResult { outcome, .. }| outcome)
        .collect())
}

/// The outcome is `applied`; returns its version.
pub fn applied(outcome: &MutationOutcome, what: &str) -> Result<u64, CheckError> {
    match outcome {
        MutationOutcome::Applied { version } => Ok(*version),
        other => Err(CheckError::Wrong(format!(
            "{what}: expected applied, got {}",
            outcome_json(other)
        ))),
    }
}

/// The outcome is `rejected` with this code and a reason.
pub fn rejected(outcome: &MutationOutcome, code: RejectCode, what: &str) -> Result<(), CheckError> {
    match outcome {
        MutationOutcome::Rejected {
            code: got, reason, ..
        } if *got == code && !reason.is_empty() => Ok(()),
        other => Err(CheckError::Wrong(format!(
            "{what}: expected rejected with {}, got {}",
            code_name(code),
            outcome_json(other)
        ))),
    }
}

fn code_name(code: RejectCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

fn outcome_json(outcome: &MutationOutcome) -> Value {
    serde_json::to_value(outcome).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use reqwest::Method;
    use serde_json::json;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            method: Method::GET,
            path: "/api/v1/installations/x".into(),
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body,
        }
    }

    #[test]
    fn another_teams_record_served_is_a_failure() {
        // A server that leaks another team's installation instead of 404.
        let leak = answer(200, json!({"installation": {"version": 3}}));
        let failure = error(&leak, StatusCode::NOT_FOUND, "not_found").unwrap_err();
        assert!(failure.to_string().contains("answered 200 OK"), "{failure}");
        // 404 with the wrong code, or without a message, fails too.
        let wrong_code = answer(404, json!({"code": "forbidden", "message": "no"}));
        assert!(error(&wrong_code, StatusCode::NOT_FOUND, "not_found").is_err());
        let no_message = answer(404, json!({"code": "not_found"}));
        assert!(error(&no_message, StatusCode::NOT_FOUND, "not_found").is_err());
        let right = answer(
            404,
            json!({"code": "not_found", "message": "No such installation"}),
        );
        assert!(error(&right, StatusCode::NOT_FOUND, "not_found").is_ok());
    }

    #[test]
    fn a_push_answer_out_of_order_or_short_is_a_failure() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let applied_json = json!({"status": "applied", "version": 1});
        let swapped = answer(
            200,
            json!({"results": [
                {"mutation_id": b, "outcome": applied_json},
                {"mutation_id": a, "outcome": applied_json},
            ]}),
        );
        assert!(push_results(&swapped, &[a, b]).is_err());
        let short = answer(
            200,
            json!({"results": [{"mutation_id": a, "outcome": applied_json}]}),
        );
        assert!(push_results(&short, &[a, b]).is_err());
        // A whole batch failed with one error instead of per-mutation answers.
        let batch_error = answer(409, json!({"code": "conflict", "message": "bad batch"}));
        assert!(push_results(&batch_error, &[a, b]).is_err());
        let good = answer(
            200,
            json!({"results": [
                {"mutation_id": a, "outcome": applied_json},
                {"mutation_id": b, "outcome": {"status": "rejected", "code": "invalid_transition", "reason": "no"}},
            ]}),
        );
        assert_eq!(push_results(&good, &[a, b]).unwrap().len(), 2);
    }

    #[test]
    fn a_refusal_answered_as_applied_or_with_another_code_is_a_failure() {
        let applied_outcome = MutationOutcome::Applied { version: 9 };
        let failure = rejected(
            &applied_outcome,
            RejectCode::InvalidTransition,
            "finish before start",
        )
        .unwrap_err();
        assert!(
            failure
                .to_string()
                .contains("expected rejected with invalid_transition"),
            "{failure}"
        );
        let other_code = MutationOutcome::Rejected {
            code: RejectCode::ValidationFailed,
            reason: "x".into(),
            expected_device_seq: None,
        };
        assert!(rejected(&other_code, RejectCode::InvalidTransition, "x").is_err());
        assert!(applied(&other_code, "start").is_err());
        assert_eq!(applied(&applied_outcome, "start").unwrap(), 9);
    }
}
