//! Steps the app's integration tests share: a technician working a job the
//! way the report screen does, through the same commands.

use base64::Engine as _;
use fieldbook_app::context::AppContext;
use fieldbook_app::{installations, reports};
use fieldbook_domain::{ReportDraft, SignatureStroke};
use uuid::Uuid;

/// Starts the job and fills its report as a technician would: serial, model,
/// success, demo, the default UK template's test results and photo
/// checklist, then whatever `edit` adds; saves the draft.
pub async fn start_and_fill_report(
    ctx: &AppContext,
    job: Uuid,
    edit: impl FnOnce(&mut ReportDraft),
) {
    installations::start_installation(ctx, job, None)
        .await
        .unwrap();
    let mut draft = reports::get_report_draft(ctx, job).await.unwrap().unwrap();
    draft.charger_serial_number = "ZAP-77".into();
    draft.charger_model = "Zappi 2".into();
    draft.installation_successful = Some(true);
    draft.demo_given = true;
    fieldbook_testkit::fill_default_template(&mut draft);
    edit(&mut draft);
    reports::save_report_draft(ctx, draft).await.unwrap();
}

/// Finishes the job, has `signer` sign with `signature_png` and `strokes`
/// and submits the report.
pub async fn finish_sign_and_submit(
    ctx: &AppContext,
    job: Uuid,
    signer: &str,
    (signature_png, strokes): (Vec<u8>, Vec<SignatureStroke>),
) {
    installations::finish_installation(ctx, job).await.unwrap();
    let signature = base64::engine::general_purpose::STANDARD.encode(signature_png);
    reports::sign_report(ctx, job, signature, strokes, signer.into())
        .await
        .unwrap();
    reports::submit_report(ctx, job).await.unwrap();
}
