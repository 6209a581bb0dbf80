//! The completion certificate of a submitted report: rendered on this device
//! (offline) by `fieldbook-certificate`, kept in the media store, recorded,
//! and sent to the server (`report.certificate`, its PDF on the blob queue).

use chrono::Utc;
use fieldbook_certificate::{
    render, render_pages, results_from_report, verify_url, CertificateInput, CertificatePhoto,
    CertificateSignature,
};
use fieldbook_domain::mutation::CERTIFICATE_MIME;
use fieldbook_domain::{
    BlobRef, InstallationReport, Lead, MediaType, Mutation, ReportTemplate, Sha256Hex, SlotFill,
};
use serde::Serialize;
use uuid::Uuid;

use super::in_transaction;
use crate::error::{Result, StoreError};
use crate::rows::certificates::{self, Certificate};
use crate::rows::{
    blobs, installations, leads, media, outbox, people, reports, session, templates,
};
use crate::Store;

/// Pages drawn at 2 px per point (an A4 page 1190 px wide): sharp at the
/// width the full-screen view shows on a 1366 px screen.
const PIXELS_PER_POINT: f32 = 2.0;

/// One page of a certificate as an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CertificatePage {
    /// The PNG, in the media store.
    pub image: BlobRef,
    pub width: u32,
    pub height: u32,
}

fn address_lines(lead: &Lead) -> Vec<String> {
    [
        lead.address_line1.as_str(),
        lead.address_line2.as_str(),
        lead.city.as_str(),
        lead.postcode.as_str(),
    ]
    .into_iter()
    .map(str::trim)
    .filter(|line| !line.is_empty())
    .map(str::to_owned)
    .collect()
}

impl Store {
    /// The certificate of the installation's submitted report, made now if
    /// there is none yet for the report as submitted (or its file is gone).
    /// `server_url` is the server this device syncs with: the certificate's
    /// QR code points there for checking. Works offline.
    pub fn make_certificate(
        &mut self,
        installation_id: Uuid,
        server_url: &str,
    ) -> Result<Certificate> {
        let conn = &self.conn;
        let report = reports::load_report(conn, installation_id)?.ok_or_else(|| {
            StoreError::not_found("submitted report of installation", installation_id)
        })?;
        if let Some(existing) = certificates::load(conn, installation_id)? {
            if existing.report_content_hash == report.content_hash
                && self.media.contains(&existing.file.sha256)
            {
                return Ok(existing);
            }
        }
        let (installation, _) = installations::load(conn, installation_id)?;
        let lead = leads::load_lead(conn, installation.lead_id)?;
        let installed_by = match people::full_name(conn, &report.submitted_by.to_string())? {
            Some(name) => name,
            None => session::require(conn)?.user.full_name,
        };
        let template = templates::named_by(conn, report.template.as_ref())?;
        let photos = self.certificate_photos(installation_id, &report, template.as_ref())?;
        let signature = match &report.customer_signature {
            Some(signature) => {
                let sha256 = &signature.png.sha256;
                let png = self.media.read_blob(sha256).map_err(|e| {
                    let path = self.media.blob_path(sha256);
                    StoreError::io(format!("read the signature {}", path.display()), e)
                })?;
                Some(CertificateSignature {
                    signer_name: signature.signer_name.clone(),
                    signed_at: signature.signed_at,
                    png,
                })
            }
            None => None,
        };
        let number = installation.installation_id.to_string();
        let input = CertificateInput {
            verify_url: verify_url(server_url, &number, report.content_hash.as_str()),
            installation_number: number,
            customer_name: lead
                .as_ref()
                .map(|l| l.customer_name.clone())
                .unwrap_or_default(),
            site_address: lead.as_ref().map(address_lines).unwrap_or_default(),
            installed_by,
            submitted_at: report.submitted_at,
            charger_model: report.charger_model.clone(),
            charger_serial_number: report.charger_serial_number.clone(),
            results: results_from_report(&report, template.as_ref()),
            photos,
            signature,
            content_hash: report.content_hash.as_str().to_owned(),
        };
        let pdf = render(&input)?;
        let file = self.media.store_generated(&pdf, CERTIFICATE_MIME)?;
        let certificate = Certificate {
            installation_id,
            file,
            report_content_hash: report.content_hash,
            created_at: Utc::now(),
        };
        // Recorded, queued for upload and announced to the server together:
        // the server learns which blob is the report's certificate.
        in_transaction(self, |tx, ctx| {
            certificates::upsert(tx, &certificate)?;
            blobs::queue(tx, ctx.media, &certificate.file, certificate.created_at)?;
            let mutation = Mutation::ReportCertificate {
                installation_id,
                file: certificate.file.clone(),
                report_content_hash: certificate.report_content_hash.clone(),
                made_at: certificate.created_at,
            };
            outbox::append(
                tx,
                ctx.device_id,
                &mutation,
                Some(installation_id),
                None,
                certificate.created_at,
            )?;
            Ok(())
        })?;
        Ok(certificate)
    }

    /// The photos the certificate prints as thumbnails: first the photo
    /// checklist in template order, each named by its slot, then the job's
    /// other photos under their captions. Only photos whose thumbnail is on
    /// this device (a photo added on a team-mate's device may not be).
    fn certificate_photos(
        &self,
        installation_id: Uuid,
        report: &InstallationReport,
        template: Option<&ReportTemplate>,
    ) -> Result<Vec<CertificatePhoto>> {
        // Decrypted; a thumbnail missing or damaged leaves the photo out
        // rather than the certificate unmade.
        let thumbnail = |sha256: &Sha256Hex| -> Option<Vec<u8>> {
            let file = self.media.open_thumbnail(sha256).ok()?;
            file.read_all().ok()
        };
        let mut photos = Vec::new();
        let mut printed = std::collections::HashSet::new();
        for slot in template
            .map(|t| t.photo_slots.as_slice())
            .unwrap_or_default()
        {
            if let Some(SlotFill::Photo { sha256 }) = report.photo_slots.get(&slot.key) {
                if let Some(image) = thumbnail(sha256) {
                    printed.insert(sha256.clone());
                    photos.push(CertificatePhoto {
                        caption: slot.name.clone(),
                        image,
                    });
                }
            }
        }
        for m in media::list_for_installation(&self.conn, installation_id)? {
            if m.media_type != MediaType::Photo || printed.contains(&m.file.sha256) {
                continue;
            }
            if let Some(image) = thumbnail(&m.file.sha256) {
                printed.insert(m.file.sha256.clone());
                photos.push(CertificatePhoto {
                    caption: m.caption,
                    image,
                });
            }
        }
        Ok(photos)
    }

    /// The pages of the installation's certificate as PNG images, for the
    /// full-screen view: drawn from the PDF itself, kept (by content) in the
    /// media store so the `media://` scheme serves them. Drawing the same PDF
    /// again gives the same files.
    pub fn certificate_pages(&self, installation_id: Uuid) -> Result<Vec<CertificatePage>> {
        let certificate = certificates::load(&self.conn, installation_id)?
            .ok_or_else(|| StoreError::not_found("certificate of installation", installation_id))?;
        let sha256 = &certificate.file.sha256;
        let pdf = self.media.read_blob(sha256).map_err(|e| {
            let path = self.media.blob_path(sha256);
            StoreError::io(format!("read the certificate {}", path.display()), e)
        })?;
        render_pages(&pdf, PIXELS_PER_POINT)?
            .into_iter()
            .map(|page| {
                Ok(CertificatePage {
                    image: self.media.store_generated(&page.png, "image/png")?,
                    width: page.width,
                    height: page.height,
                })
            })
            .collect()
    }

    /// The installation's certificate, if one was made on this device.
    pub fn certificate(&self, installation_id: Uuid) -> Result<Option<Certificate>> {
        certificates::load(&self.conn, installation_id)
    }
}
