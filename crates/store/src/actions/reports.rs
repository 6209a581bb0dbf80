//! The technician's report actions: autosave of the local draft, the
//! customer's signature bound to the content on screen, submission, and
//! what the technician does with a refused or superseded report.

use chrono::{DateTime, Utc};
use fieldbook_domain::{
    CustomerSignature, Installation, InstallationReport, Mutation, ReportCheck, ReportDraft,
    SignatureStroke,
};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{in_transaction, refuse_if_submitted};
use crate::error::{Result, StoreError};
use crate::local_state::{left_scope, rebase};
use crate::rows::{assignments, blobs, installations, media, outbox, reports, session, templates};
use crate::Store;

/// What an autosave returns: the draft as stored and the domain's check of
/// it (problems to show while typing — the draft is saved regardless, so
/// nothing typed is lost —, what is missing before submit, and whether an
/// existing signature still matches the content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DraftSaved {
    pub draft: ReportDraft,
    #[serde(flatten)]
    pub check: ReportCheck,
}

/// The customer's signature as captured by the signature pad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureInput {
    /// The rendered signature, PNG bytes.
    pub png: Vec<u8>,
    pub strokes: Vec<SignatureStroke>,
    pub signer_name: String,
}

/// A new, empty draft for `installation`, filled against the newest
/// version of the installation's template this device holds. The version
/// stays with the draft: a newer one pulled later does not change what an
/// started report must hold.
pub(crate) fn new_draft(
    conn: &Connection,
    installation: &Installation,
    now: DateTime<Utc>,
) -> Result<ReportDraft> {
    let mut draft = ReportDraft::new(installation.id, now);
    draft.template =
        templates::latest(conn, installation.report_template_id())?.map(|t| t.template_ref());
    Ok(draft)
}

impl Store {
    /// Autosave. Stores what was typed even when it is too long or has
    /// control characters (those come back in `check.problems`); refused once the
    /// report is submitted. The signature and the "start anyway" reason are
    /// kept as stored: only [`Store::sign_report`] and
    /// [`Store::start_installation`] set them; so is the template version
    /// (set when the draft was created).
    pub fn save_report_draft(&mut self, draft: &ReportDraft) -> Result<DraftSaved> {
        let installation_id = draft.installation_id;
        in_transaction(self, |tx, _| {
            let (installation, _) = installations::load(tx, installation_id)?;
            refuse_if_submitted(tx, installation_id)?;
            let stored = reports::load_draft(tx, installation_id)?;
            let now = Utc::now();
            let template = match &stored {
                Some(d) => d.template.clone(),
                None => new_draft(tx, &installation, now)?.template,
            };
            let mut draft = draft.clone();
            draft.customer_signature = stored.as_ref().and_then(|d| d.customer_signature.clone());
            draft.start_override_reason = stored.and_then(|d| d.start_override_reason);
            draft.template = template;
            draft.updated_at = now;
            reports::write_draft(tx, &draft)?;
            let media = media::hashes_for_installation(tx, installation_id)?;
            let template = templates::named_by(tx, draft.template.as_ref())?;
            Ok(DraftSaved {
                check: draft.check(&media, installation.status, template.as_ref()),
                draft,
            })
        })
    }

    /// The customer signs: stores the PNG in the media store, and binds the
    /// signature (strokes, name, time) to the hash of the report content and
    /// media currently on screen.
    pub fn sign_report(
        &mut self,
        installation_id: Uuid,
        input: &SignatureInput,
    ) -> Result<ReportDraft> {
        // Refuse early so a submitted report does not even store a new PNG.
        let (installation, _) = installations::load(&self.conn, installation_id)?;
        refuse_if_submitted(&self.conn, installation_id)?;
        // Outside the transaction: a file import. If the transaction then
        // fails, the file it created is removed again.
        let png = self.media.import_bytes(&input.png)?;
        let blob = png.blob.clone();
        let signed = in_transaction(self, |tx, _| {
            refuse_if_submitted(tx, installation_id)?;
            let now = Utc::now();
            let mut draft = match reports::load_draft(tx, installation_id)? {
                Some(d) => d,
                None => new_draft(tx, &installation, now)?,
            };
            let media = media::hashes_for_installation(tx, installation_id)?;
            let signature = CustomerSignature {
                png: blob,
                strokes: input.strokes.clone(),
                signer_name: input.signer_name.trim().to_owned(),
                signed_at: now,
                content_hash: draft.content_hash(&media),
            };
            signature.validate()?;
            draft.customer_signature = Some(signature);
            draft.updated_at = now;
            reports::write_draft(tx, &draft)?;
            Ok(draft)
        });
        if signed.is_err() {
            self.forget_new_file(&png);
        }
        signed
    }

    /// The server refused this device's `report.submit` (parked as needing
    /// attention, e.g. its content hash did not match the media the server
    /// has): the report becomes an editable draft again — fields and
    /// signature as submitted — so the technician can fix it and submit
    /// again. Not for a conflict answer: the server kept that report. Returns
    /// whether such an entry was there.
    pub fn reopen_refused_report(&mut self, mutation_id: Uuid) -> Result<bool> {
        in_transaction(self, |tx, _| {
            let Some((payload, state)) = outbox::payload_and_state(tx, mutation_id)? else {
                return Ok(false);
            };
            let mutation: Mutation = serde_json::from_str(&payload)
                .map_err(|e| StoreError::Corrupt(format!("outbox entry {mutation_id}: {e}")))?;
            let Mutation::ReportSubmit { report } = mutation else {
                return Ok(false);
            };
            if state != "needs_attention" {
                return Ok(false);
            }
            let installation_id = report.installation_id;
            // A report from another device won meanwhile: this one is kept
            // as the superseded draft; reopening would hide that.
            if reports::load_report(tx, installation_id)?.is_some_and(|kept| kept.id != report.id) {
                return Ok(false);
            }
            reports::write_draft(tx, &reports::draft_from_report(&report, Utc::now()))?;
            reports::delete_report(tx, report.id)?;
            outbox::delete(tx, mutation_id)?;
            rebase::rebase_installation(tx, installation_id)?;
            Ok(true)
        })
    }

    /// The technician has seen that another device's report won over their
    /// draft and lets the draft go. Only a superseded draft can be dismissed
    /// this way. A job kept only for it (it left this device's scope) goes
    /// with it. Returns whether such a draft was there.
    pub fn dismiss_superseded_draft(&mut self, installation_id: Uuid) -> Result<bool> {
        self.search_index.get_mut().take();
        in_transaction(self, |tx, _| {
            let dismissed = reports::delete_superseded_draft(tx, installation_id)?;
            if dismissed {
                left_scope::remove_if_left_scope_and_sent(tx, installation_id)?;
            }
            Ok(dismissed)
        })
    }

    /// Submits the report: validates the draft against the media attached
    /// now, stores the read-only report, moves the installation
    /// completed → report_submitted (setting demo_completed), completes the
    /// signed-in user's teams' assignments and queues `report.submit` and the
    /// signature upload — all in one transaction.
    pub fn submit_report(&mut self, installation_id: Uuid) -> Result<InstallationReport> {
        in_transaction(self, |tx, ctx| {
            let now = Utc::now();
            let session = session::require(tx)?;
            let (mut inst, base_version) = installations::load(tx, installation_id)?;
            refuse_if_submitted(tx, installation_id)?;
            let draft = match reports::load_draft(tx, installation_id)? {
                Some(d) => d,
                None => new_draft(tx, &inst, now)?,
            };
            let media = media::hashes_for_installation(tx, installation_id)?;
            // A sent-back report keeps its id when resubmitted.
            let report_id =
                reports::reopened_report_id(tx, installation_id)?.unwrap_or_else(Uuid::new_v4);
            // Against the version the draft was filled against.
            let template = templates::named_by(tx, draft.template.as_ref())?;
            let report =
                draft.into_report(report_id, session.user.id, now, &media, template.as_ref())?;
            fieldbook_domain::lifecycle::submit_report(&mut inst, report.demo_given, now)?;
            installations::save_state(tx, &inst)?;
            reports::insert_report(tx, &report)?;
            assignments::complete_for_teams(tx, installation_id, &session.team_ids)?;
            if let Some(sig) = &report.customer_signature {
                blobs::queue(tx, ctx.media, &sig.png, now)?;
            }
            let mutation = Mutation::ReportSubmit {
                report: Box::new(report.clone()),
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(installation_id),
                Some(base_version),
                now,
            )?;
            Ok(report)
        })
    }
}
