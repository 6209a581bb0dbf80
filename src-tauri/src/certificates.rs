//! The completion certificate of a submitted report: made on the device
//! (offline) and saved as a copy wherever the technician chooses.

use std::path::{Path, PathBuf};

use fieldbook_domain::Sha256Hex;
use fieldbook_media::MediaStore;
use fieldbook_store::{Certificate, CertificatePage};
use tauri::State;
use uuid::Uuid;

use crate::context::AppContext;
use crate::error::{CommandError, CommandResult, ErrorCode};

/// Makes the certificate if there is none for the report as submitted, and
/// returns it. The QR code points at the server this device syncs with,
/// which also receives the certificate.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn make_certificate(
    ctx: &AppContext,
    installation_id: Uuid,
) -> CommandResult<Certificate> {
    let server_url = ctx.sync().server_url().ok_or_else(|| {
        CommandError::new(
            ErrorCode::NotSignedIn,
            "sign in to a server first: the certificate names the server it can be checked on",
        )
    })?;
    let certificate = ctx
        .with_store(move |store| store.make_certificate(installation_id, &server_url))
        .await?;
    // A new certificate waits in the outbox with its PDF: sync sends both.
    ctx.local_change();
    Ok(certificate)
}

/// Copies the installation's certificate PDF to `path` (from the native save
/// dialog). Returns the path written.
#[tracing::instrument(skip(ctx, path), err(level = "warn"))]
pub async fn save_certificate_copy(
    ctx: &AppContext,
    installation_id: Uuid,
    path: String,
) -> CommandResult<String> {
    if path.trim().is_empty() {
        return Err(CommandError::new(
            ErrorCode::Validation,
            "choose where to save the certificate",
        ));
    }
    let mut destination = PathBuf::from(path);
    if destination.extension().is_none() {
        destination.set_extension("pdf");
    }
    let sha256 = ctx
        .with_store(move |store| {
            let certificate = store.certificate(installation_id)?.ok_or_else(|| {
                fieldbook_store::StoreError::NotFound {
                    entity: "certificate of installation",
                    id: installation_id.to_string(),
                }
            })?;
            Ok(certificate.file.sha256)
        })
        .await?;
    // The stored PDF is encrypted at rest: the copy gets its plaintext,
    // decrypted whole before a byte is written (a damaged one writes nothing).
    let media = ctx.media().clone();
    let written = destination.clone();
    tokio::task::spawn_blocking(move || write_decrypted_copy(&media, &sha256, &destination))
        .await
        .map_err(|e| {
            CommandError::internal(format!("saving the certificate stopped unexpectedly: {e}"))
        })??;
    Ok(written.display().to_string())
}

fn write_decrypted_copy(
    media: &MediaStore,
    sha256: &Sha256Hex,
    destination: &Path,
) -> CommandResult<()> {
    let pdf = media.read_blob(sha256).map_err(|e| {
        let code = if fieldbook_media::is_damaged(&e) {
            ErrorCode::Corrupt
        } else {
            ErrorCode::Io
        };
        CommandError::new(
            code,
            format!("the certificate on this computer cannot be read ({e}); nothing was saved"),
        )
    })?;
    std::fs::write(destination, pdf).map_err(|e| {
        CommandError::new(
            ErrorCode::Io,
            format!(
                "the certificate could not be saved to {}: {e}; choose another folder",
                destination.display()
            ),
        )
    })
}

/// The certificate's pages as images (drawn from the PDF), for showing it
/// full screen to the customer.
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn certificate_pages(
    ctx: &AppContext,
    installation_id: Uuid,
) -> CommandResult<Vec<CertificatePage>> {
    ctx.with_store(move |store| store.certificate_pages(installation_id))
        .await
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn make_certificate(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
    ) -> CommandResult<Certificate> {
        super::make_certificate(&ctx, installation_id).await
    }

    #[tauri::command]
    pub async fn save_certificate_copy(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
        path: String,
    ) -> CommandResult<String> {
        super::save_certificate_copy(&ctx, installation_id, path).await
    }

    #[tauri::command]
    pub async fn certificate_pages(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
    ) -> CommandResult<Vec<CertificatePage>> {
        super::certificate_pages(&ctx, installation_id).await
    }
}
