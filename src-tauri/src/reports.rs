//! The installation report: autosaved draft, customer signature, submit.
//!
//! Autosaves, signing and submitting of one installation take turns through
//! the context's [`crate::context::DraftQueue`]: the last autosave called wins,
//! the signature binds to the content every earlier autosave left, and submit
//! waits for the autosaves queued before it.

use base64::Engine as _;
use fieldbook_domain::{InstallationReport, ReportDraft, SignatureStroke};
use fieldbook_store::{DraftSaved, SignatureInput};
use tauri::State;
use uuid::Uuid;

use crate::context::AppContext;
use crate::error::{CommandError, CommandResult};

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn get_report_draft(
    ctx: &AppContext,
    installation_id: Uuid,
) -> CommandResult<Option<ReportDraft>> {
    ctx.with_store(move |store| store.get_report_draft(installation_id))
        .await
}

/// Drafts stay on this device until submitted: no sync is triggered.
#[tracing::instrument(skip_all, fields(installation_id = %draft.installation_id), err(level = "warn"))]
pub async fn save_report_draft(ctx: &AppContext, draft: ReportDraft) -> CommandResult<DraftSaved> {
    let _turn = ctx.drafts().turn(draft.installation_id).await;
    ctx.with_store(move |store| store.save_report_draft(&draft))
        .await
}

#[tracing::instrument(skip(ctx, png_base64, strokes, signer_name), err(level = "warn"))]
pub async fn sign_report(
    ctx: &AppContext,
    installation_id: Uuid,
    png_base64: String,
    strokes: Vec<SignatureStroke>,
    signer_name: String,
) -> CommandResult<ReportDraft> {
    let png = decode_png(&png_base64)?;
    let input = SignatureInput {
        png,
        strokes,
        signer_name,
    };
    let _turn = ctx.drafts().turn(installation_id).await;
    ctx.with_store(move |store| store.sign_report(installation_id, &input))
        .await
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn submit_report(
    ctx: &AppContext,
    installation_id: Uuid,
) -> CommandResult<InstallationReport> {
    let _turn = ctx.drafts().turn(installation_id).await;
    let report = ctx
        .with_store(move |store| store.submit_report(installation_id))
        .await?;
    ctx.local_change();
    Ok(report)
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn get_report(
    ctx: &AppContext,
    installation_id: Uuid,
) -> CommandResult<Option<InstallationReport>> {
    ctx.with_store(move |store| store.get_report(installation_id))
        .await
}

/// The signature pad's PNG, as base64 or as the `data:image/png;base64,` URL
/// `toDataURL()` gives.
fn decode_png(png_base64: &str) -> CommandResult<Vec<u8>> {
    let encoded = png_base64
        .trim()
        .strip_prefix("data:image/png;base64,")
        .unwrap_or(png_base64.trim());
    let png = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| {
            CommandError::invalid_input(format!(
                "the signature image could not be read ({e}); clear the pad and sign again"
            ))
        })?;
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(CommandError::invalid_input(
            "the signature image is not a PNG; clear the pad and sign again",
        ));
    }
    Ok(png)
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn get_report_draft(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
    ) -> CommandResult<Option<ReportDraft>> {
        super::get_report_draft(&ctx, installation_id).await
    }

    #[tauri::command]
    pub async fn save_report_draft(
        ctx: State<'_, AppContext>,
        draft: ReportDraft,
    ) -> CommandResult<DraftSaved> {
        super::save_report_draft(&ctx, draft).await
    }

    #[tauri::command]
    pub async fn sign_report(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
        png_base64: String,
        strokes: Vec<SignatureStroke>,
        signer_name: String,
    ) -> CommandResult<ReportDraft> {
        super::sign_report(&ctx, installation_id, png_base64, strokes, signer_name).await
    }

    #[tauri::command]
    pub async fn submit_report(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
    ) -> CommandResult<InstallationReport> {
        super::submit_report(&ctx, installation_id).await
    }

    #[tauri::command]
    pub async fn get_report(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
    ) -> CommandResult<Option<InstallationReport>> {
        super::get_report(&ctx, installation_id).await
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use fieldbook_domain::{InstallationStatus, SignaturePoint};

    use super::*;
    use crate::test_support::{png_bytes, Fixture};

    fn strokes() -> Vec<SignatureStroke> {
        vec![SignatureStroke {
            pen_color: "#000000".into(),
            min_width: 0.5,
            max_width: 2.5,
            points: (0..12)
                .map(|i| SignaturePoint {
                    x: 10.0 + f64::from(i) * 7.0,
                    y: 40.0 + f64::from(i % 3) * 5.0,
                    pressure: 0.5,
                    time: 1_000.0 + f64::from(i) * 16.0,
                })
                .collect(),
        }]
    }

    async fn draft_with_serial(fx: &Fixture, id: Uuid, serial: &str) -> ReportDraft {
        let mut draft = get_report_draft(&fx.ctx, id).await.unwrap().unwrap();
        draft.charger_serial_number = serial.into();
        draft
    }

    async fn fill_in(fx: &Fixture, id: Uuid) {
        let mut draft = draft_with_serial(fx, id, "ZAP-0001").await;
        draft.charger_model = "Zappi 2".into();
        draft.installation_successful = Some(true);
        fieldbook_testkit::fill_default_template(&mut draft);
        draft.demo_given = true;
        save_report_draft(&fx.ctx, draft).await.unwrap();
    }

    #[tokio::test]
    async fn autosaves_land_in_call_order_and_submit_waits_for_them() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        fill_in(&fx, id).await;
        let base = draft_with_serial(&fx, id, "").await;
        let png = base64::engine::general_purpose::STANDARD.encode(png_bytes(1));
        finish_installation_for(&fx, id).await;

        // Queued without waiting, as the UI fires autosaves while typing; on
        // this single-threaded runtime the tasks start in spawn order.
        let mut saves = Vec::new();
        for n in 1..=20 {
            let ctx = fx.ctx.clone();
            let mut draft = base.clone();
            draft.charger_serial_number = format!("ZAP-{n:04}");
            saves.push(tokio::spawn(
                async move { save_report_draft(&ctx, draft).await },
            ));
        }
        let signer = {
            let ctx = fx.ctx.clone();
            tokio::spawn(async move {
                sign_report(&ctx, id, png, strokes(), "Dana Customer".into()).await
            })
        };
        let submitter = {
            let ctx = fx.ctx.clone();
            tokio::spawn(async move { submit_report(&ctx, id).await })
        };
        let report = submitter.await.unwrap().unwrap();
        assert_eq!(report.charger_serial_number, "ZAP-0020");
        let signature = report.customer_signature.expect("signed before submit");
        assert_eq!(signature.signer_name, "Dana Customer");
        assert_eq!(signature.content_hash, report.content_hash);
        for save in saves {
            save.await.unwrap().unwrap();
        }
        signer.await.unwrap().unwrap();

        let stored = get_report(&fx.ctx, id).await.unwrap().unwrap();
        assert_eq!(stored.id, report.id);
        let job = crate::installations::get_installation(&fx.ctx, id)
            .await
            .unwrap()
            .installation;
        assert_eq!(job.status, InstallationStatus::ReportSubmitted);

        let mut late = base.clone();
        late.general_notes = "after submit".into();
        let err = save_report_draft(&fx.ctx, late).await.unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::ReportSubmitted);
    }

    async fn finish_installation_for(fx: &Fixture, id: Uuid) {
        crate::installations::finish_installation(&fx.ctx, id)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn autosave_returns_the_problems_to_show_while_typing() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        let mut draft = draft_with_serial(&fx, id, "").await;
        draft.charger_model = "x".repeat(500);
        let saved = save_report_draft(&fx.ctx, draft).await.unwrap();
        assert!(saved
            .check
            .problems
            .errors
            .iter()
            .any(|e| e.field == "charger_model"));
        assert_eq!(saved.check.signature_matches, None);
    }

    #[tokio::test]
    async fn a_change_after_signing_voids_the_signature() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        fill_in(&fx, id).await;
        let data_url = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png_bytes(2))
        );
        let signed = sign_report(&fx.ctx, id, data_url, strokes(), "Dana Customer".into())
            .await
            .unwrap();
        assert!(signed.customer_signature.is_some());
        let mut changed = signed.clone();
        changed.general_notes = "Customer asked for a longer cable".into();
        let saved = save_report_draft(&fx.ctx, changed).await.unwrap();
        assert_eq!(saved.check.signature_matches, Some(false));
    }

    #[tokio::test]
    async fn a_signature_that_is_not_a_png_is_refused() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        let err = sign_report(&fx.ctx, id, "%%%".into(), strokes(), "Dana".into())
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::InvalidInput);
        let jpeg_ish = base64::engine::general_purpose::STANDARD.encode([0xFF, 0xD8, 0xFF, 0xE0]);
        let err = sign_report(&fx.ctx, id, jpeg_ish, strokes(), "Dana".into())
            .await
            .unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::InvalidInput);
        assert!(err.message.contains("sign again"), "{}", err.message);
    }

    #[tokio::test]
    async fn submit_lists_what_is_missing() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        finish_installation_for(&fx, id).await;
        let err = submit_report(&fx.ctx, id).await.unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::Validation);
        let fields: Vec<String> = err.fields.unwrap().into_iter().map(|f| f.field).collect();
        assert!(
            fields.contains(&"charger_serial_number".to_owned()),
            "{fields:?}"
        );
    }
}
