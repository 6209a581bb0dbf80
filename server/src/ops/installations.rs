//! The console's installations list and installation detail, with the
//! server's signature evidence check.

use std::collections::HashMap;

use axum::extract::State;
use axum::{Extension, Json};
use base64::Engine as _;
use fieldbook_domain::{lifecycle, InstallationReport, InstallationStatus, Sha256Hex, User};
use fieldbook_protocol::{
    ErrorBody, EvidenceVerdict, HistoryEntry, OpsAssignment, OpsCertificate, OpsInstallationDetail,
    OpsInstallationPage, OpsInstallationQuery, OpsMedia, OpsReport, ReportEvent, ReportEventKind,
    SignatureEvidence, UserRef, Versioned, DEFAULT_OPS_PAGE, MAX_OPS_PAGE,
};
use uuid::Uuid;

use crate::app::AppState;
use crate::blobs::BlobStore;
use crate::caller::Caller;
use crate::error::{blocking, ApiError};
use crate::json::{ApiPath, ApiQuery};
use crate::storage::{pulled_report_from, Db, InstallationFilter, PageAfter};

/// Longest search text accepted (a name, an address, a serial).
const MAX_SEARCH_CHARS: usize = 200;

fn encode_after(after: &PageAfter) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\n{}", after.key, after.id))
}

fn decode_after(text: &str) -> Result<PageAfter, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "Invalid `after`: pass the `next_after` of the previous page unchanged",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (key, id) = text.rsplit_once('\n').ok_or_else(bad)?;
    Ok(PageAfter {
        key: key.to_owned(),
        id: id.parse().map_err(|_| bad())?,
    })
}

/// The storage filter of a list query; bad values get a 400 naming them.
pub fn filter_from(query: &OpsInstallationQuery) -> Result<InstallationFilter, ApiError> {
    let statuses = match query.status.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| {
                InstallationStatus::parse(s.trim()).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Unknown status {:?}; use a comma-separated list of: {}",
                        s.trim(),
                        InstallationStatus::ALL
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if from > to {
            return Err(ApiError::bad_request(
                "`from` is after `to`: give the earlier date first",
            ));
        }
    }
    let search = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    if search
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_SEARCH_CHARS)
    {
        return Err(ApiError::bad_request(format!(
            "The search text is longer than {MAX_SEARCH_CHARS} characters; shorten it"
        )));
    }
    Ok(InstallationFilter {
        statuses,
        from: query.from,
        to: query.to,
        team: query.team,
        unassigned: query.unassigned,
        material_ready: query.material_ready,
        customer_confirmed: query.customer_confirmed,
        demo_completed: query.demo_completed,
        has_report: query.has_report,
        needs_review: query.needs_review,
        search,
    })
}

/// One page of the list with the counts per status for the same filter.
pub fn installation_page(
    db: &Db<'_>,
    query: &OpsInstallationQuery,
) -> Result<OpsInstallationPage, ApiError> {
    let filter = filter_from(query)?;
    let after = query.after.as_deref().map(decode_after).transpose()?;
    let limit = query
        .limit
        .unwrap_or(DEFAULT_OPS_PAGE)
        .clamp(1, MAX_OPS_PAGE);
    let sort = query.sort.unwrap_or_default();
    let page = db.ops_installation_page(&filter, sort, after.as_ref(), limit)?;
    let status_counts = db.ops_status_counts(&filter)?;
    let total = status_counts
        .iter()
        .filter(|c| filter.statuses.is_empty() || filter.statuses.contains(&c.status))
        .map(|c| c.count)
        .sum();
    Ok(OpsInstallationPage {
        items: page.rows,
        next_after: page.next.as_ref().map(encode_after),
        status_counts,
        total,
    })
}

/// Users by id, read once per request.
struct UserNames<'a, 'c> {
    db: &'a Db<'c>,
    known: HashMap<Uuid, Option<UserRef>>,
}

impl<'a, 'c> UserNames<'a, 'c> {
    fn new(db: &'a Db<'c>) -> Self {
        UserNames {
            db,
            known: HashMap::new(),
        }
    }

    fn get(&mut self, id: Uuid) -> Result<Option<UserRef>, ApiError> {
        if let Some(found) = self.known.get(&id) {
            return Ok(found.clone());
        }
        let user: Option<User> = self.db.user(id)?.map(|u| u.record);
        let reference = user.map(|u| UserRef {
            id: u.id,
            full_name: u.full_name,
            username: u.username,
        });
        self.known.insert(id, reference.clone());
        Ok(reference)
    }
}

/// The server's signature evidence check: recompute the content hash from
/// the stored report and the installation's media, compare it with what was
/// signed, and check the signature image's bytes.
pub fn signature_evidence(
    report: &InstallationReport,
    media: &[Sha256Hex],
    blobs: &BlobStore,
    events: &[ReportEvent],
) -> SignatureEvidence {
    let recomputed = report.recomputed_content_hash(media);
    // The device of the submission the stored report came from (a
    // correction replaces the report; ops' own events carry no device).
    let device_id = events
        .iter()
        .rev()
        .filter(|e| {
            matches!(
                e.event,
                ReportEventKind::Submitted
                    | ReportEventKind::SubmittedForReview
                    | ReportEventKind::Corrected
            )
        })
        .find_map(|e| e.device_id);
    let signature = report.customer_signature.as_ref();
    let (present, hash_ok) = match signature {
        Some(sig) => match blobs.path_of(&sig.png.sha256) {
            Some(path) => (true, file_hash_is(&path, &sig.png.sha256)),
            None => (false, false),
        },
        None => (false, false),
    };
    let (verdict, message) = match signature {
        None => (
            EvidenceVerdict::NotSigned,
            "The report carries no customer signature.".to_owned(),
        ),
        Some(sig) if sig.content_hash != recomputed || report.content_hash != recomputed => (
            EvidenceVerdict::ContentChanged,
            "The stored report or its photos differ from what the customer signed: do not close it before asking the technician.".to_owned(),
        ),
        Some(_) if !present => (
            EvidenceVerdict::SignatureImageMissing,
            "The signature image has not reached the server yet; it arrives when the technician's device next syncs.".to_owned(),
        ),
        Some(_) if !hash_ok => (
            EvidenceVerdict::SignatureImageCorrupt,
            "The stored signature image does not match its recorded hash: ask the technician to sync again.".to_owned(),
        ),
        Some(sig) => (
            EvidenceVerdict::Matches,
            format!(
                "Matches: {} signed this exact report and these photos.",
                sig.signer_name
            ),
        ),
    };
    SignatureEvidence {
        verdict,
        message,
        recomputed_content_hash: recomputed.to_string(),
        report_content_hash: report.content_hash.to_string(),
        signed_content_hash: signature.map(|s| s.content_hash.to_string()),
        signature_sha256: signature.map(|s| s.png.sha256.to_string()),
        signature_blob_present: present,
        signature_blob_hash_ok: hash_ok,
        signer_name: signature.map(|s| s.signer_name.clone()),
        signed_at: signature.map(|s| s.signed_at),
        device_id,
    }
}

/// Re-hashes a stored blob (the store verified it on arrival; this proves
/// the bytes did not change on disk since).
fn file_hash_is(path: &std::path::Path, expected: &Sha256Hex) -> bool {
    use sha2::{Digest, Sha256};
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    if std::io::copy(&mut file, &mut hasher).is_err() {
        return false;
    }
    hex::encode(hasher.finalize()) == expected.as_str()
}

/// Everything about one installation.
pub fn installation_detail(
    db: &Db<'_>,
    blobs: &BlobStore,
    id: Uuid,
) -> Result<OpsInstallationDetail, ApiError> {
    let installation = db
        .installation(id)?
        .ok_or_else(|| ApiError::not_found("installation"))?;
    let lead = db
        .lead(installation.record.lead_id)?
        .ok_or_else(ApiError::internal)?;
    let survey = db
        .survey(installation.record.survey_id)?
        .ok_or_else(ApiError::internal)?;
    let mut names = UserNames::new(db);
    let team_names: HashMap<Uuid, String> = db
        .all_teams()?
        .into_iter()
        .map(|(t, _)| (t.id, t.name))
        .collect();
    let assignments = db
        .assignments_of(id)?
        .into_iter()
        .map(|a| {
            Ok(OpsAssignment {
                team_name: team_names
                    .get(&a.record.team_id)
                    .cloned()
                    .unwrap_or_default(),
                assigned_by: names.get(a.record.assigned_by)?,
                assignment: a,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let media_records = db.installation_media(id)?;
    let media_hashes: Vec<Sha256Hex> = media_records
        .iter()
        .map(|m| m.record.file.sha256.clone())
        .collect();
    let media = media_records
        .into_iter()
        .map(|m| {
            Ok(OpsMedia {
                blob_available: blobs.contains(&m.record.file.sha256),
                uploaded_by: names.get(m.record.uploaded_by)?,
                media: m,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let report_events = db.report_events(id)?;
    let report = match db.report_of(id)? {
        None => None,
        Some((report, received_at)) => {
            let evidence = signature_evidence(&report.record, &media_hashes, blobs, &report_events);
            let submitted_by = names.get(report.record.submitted_by)?;
            let available = |h: &Sha256Hex| blobs.contains(h);
            let certificate = db.certificate_of(id)?.map(|c| OpsCertificate {
                blob_available: blobs.contains(&c.sha256),
                sha256: c.sha256.as_str().to_owned(),
                size: c.size,
                report_content_hash: c.report_content_hash.as_str().to_owned(),
                made_at: c.made_at,
                received_at: c.received_at,
            });
            Some(OpsReport {
                report: Versioned {
                    version: report.version,
                    record: pulled_report_from(report.record, received_at, &available),
                },
                submitted_by,
                evidence,
                certificate,
            })
        }
    };
    let history = db
        .installation_history(id)?
        .into_iter()
        .map(|h| {
            Ok(HistoryEntry {
                id: h.id,
                at: h.at,
                actor: h.actor_id.map(|a| names.get(a)).transpose()?.flatten(),
                kind: h.kind,
                from: h.from,
                to: h.to,
                assignment_id: h.assignment_id,
                team_name: h.team_id.and_then(|t| team_names.get(&t).cloned()),
                team_id: h.team_id,
                is_primary: h.is_primary,
                reason: h.reason,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(OpsInstallationDetail {
        created_by: names.get(installation.record.created_by)?,
        allowed_moves: lifecycle::allowed_moves(installation.record.status, lifecycle::Actor::Ops),
        installation,
        lead,
        survey,
        assignments,
        report,
        media,
        report_events,
        history,
    })
}

/// Installations with filters, search, sort, keyset pages and counts per status.
#[utoipa::path(
    get, path = "/api/v1/ops/installations", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(OpsInstallationQuery),
    responses(
        (status = 200, description = "One page, with counts per status for the filter", body = OpsInstallationPage),
        (status = 400, description = "Unknown status, bad date range, bad `after`", body = ErrorBody),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
    )
)]
pub async fn list_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<OpsInstallationQuery>,
) -> Result<Json<OpsInstallationPage>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || state.storage.read(|db| installation_page(db, &query)))
        .await
        .map(Json)
}

/// One installation with lead, survey, assignments, report and evidence,
/// media, report events, history and the moves ops may make.
#[utoipa::path(
    get, path = "/api/v1/ops/installations/{installation_id}", tag = "ops",
    security(("bearer" = []), ("cookie" = [])),
    params(("installation_id" = Uuid, Path, description = "Installation id (UUID)")),
    responses(
        (status = 200, description = "The installation", body = OpsInstallationDetail),
        (status = 403, description = "Not Central Ops", body = ErrorBody),
        (status = 404, description = "No such installation", body = ErrorBody),
    )
)]
pub async fn detail_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OpsInstallationDetail>, ApiError> {
    super::require_ops(&caller)?;
    blocking(move || {
        state
            .storage
            .read(|db| installation_detail(db, &state.blobs, id))
    })
    .await
    .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cursors_round_trip_and_garbage_is_a_clear_400() {
        let after = PageAfter {
            key: "2026-12-01".into(),
            id: Uuid::new_v4(),
        };
        assert_eq!(decode_after(&encode_after(&after)).unwrap(), after);
        let err = decode_after("not a cursor!").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn statuses_are_parsed_and_unknown_ones_named() {
        let query = OpsInstallationQuery {
            status: Some("planned, confirmed".into()),
            ..Default::default()
        };
        assert_eq!(
            filter_from(&query).unwrap().statuses,
            vec![InstallationStatus::Planned, InstallationStatus::Confirmed]
        );
        let bad = OpsInstallationQuery {
            status: Some("planned,done".into()),
            ..Default::default()
        };
        assert!(filter_from(&bad)
            .unwrap_err()
            .body
            .message
            .contains("\"done\""));
    }
}
