//! Photos and videos of an installation: import (from the file dialog or a
//! drag and drop, with progress), captions, removal.

use std::path::{Path, PathBuf};

use fieldbook_domain::InstallationMedia;
use fieldbook_store::{LabelOffer, StoreError};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;
use ts_rs::TS;
use uuid::Uuid;

use crate::context::AppContext;
use crate::error::{CommandError, CommandResult};

/// Import progress of one file, sent over the command's channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AttachProgress {
    pub path: String,
    #[ts(type = "number")]
    pub bytes_done: u64,
    #[ts(type = "number")]
    pub bytes_total: u64,
}

/// Progress is reported at most once per this many bytes (and at the end):
/// enough for a smooth bar without flooding the IPC with a 2 GB video.
const PROGRESS_STEP_MIN_BYTES: u64 = 256 * 1024;

/// Imports each file in turn and attaches it to the installation. Stops at
/// the first file that cannot be added (the files before it stay attached);
/// the error names the file.
// File names can name the customer: only their number is traced.
#[tracing::instrument(skip(ctx, paths, on_progress), fields(files = paths.len()), err(level = "warn"))]
pub async fn attach_media(
    ctx: &AppContext,
    installation_id: Uuid,
    paths: Vec<String>,
    on_progress: impl Fn(AttachProgress) + Send + Sync + 'static,
) -> CommandResult<Vec<InstallationMedia>> {
    let on_progress = std::sync::Arc::new(on_progress);
    let mut attached = Vec::with_capacity(paths.len());
    for path in paths {
        let source = PathBuf::from(&path);
        let report = std::sync::Arc::clone(&on_progress);
        let shown = file_name(&source);
        // Checked first so a refused attach fails before a long copy; the
        // copy itself runs without the store's lock (a 2 GB video must not
        // stop other actions or sync), then the row is recorded under it.
        let media_store = ctx
            .with_store(move |store| {
                store.check_media_attachable(installation_id)?;
                Ok(store.media_store().clone())
            })
            .await;
        let imported = match media_store {
            Ok(media_store) => tokio::task::spawn_blocking(move || {
                let mut last_sent: Option<u64> = None;
                media_store
                    .import_file_with_progress(&source, &mut |bytes_done, bytes_total| {
                        let step = (bytes_total / 100).max(PROGRESS_STEP_MIN_BYTES);
                        let due = match last_sent {
                            None => true,
                            Some(sent) => bytes_done >= bytes_total || bytes_done >= sent + step,
                        };
                        if due {
                            last_sent = Some(bytes_done);
                            report(AttachProgress {
                                path: path.clone(),
                                bytes_done,
                                bytes_total,
                            });
                        }
                    })
                    .map_err(|e| CommandError::from(StoreError::from(e)))
            })
            .await
            .map_err(|e| CommandError::internal(format!("the import stopped unexpectedly: {e}")))
            .and_then(|imported| imported),
            Err(e) => Err(e),
        };
        let result = match imported {
            Ok(imported) => {
                ctx.with_store(move |store| {
                    store.attach_imported_media(installation_id, imported, "")
                })
                .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(media) => attached.push(media),
            Err(e) => {
                // What was attached before the failing file is real work.
                if !attached.is_empty() {
                    ctx.local_change();
                    ctx.labels().wake();
                }
                return Err(e.with_context(&shown));
            }
        }
    }
    if !attached.is_empty() {
        ctx.local_change();
        // Photos' labels are searched after the import, in the background.
        ctx.labels().wake();
    }
    Ok(attached)
}

#[tracing::instrument(skip(ctx, caption), err(level = "warn"))]
pub async fn set_media_caption(
    ctx: &AppContext,
    media_id: Uuid,
    caption: String,
) -> CommandResult<InstallationMedia> {
    let media = ctx
        .with_store(move |store| store.set_media_caption(media_id, &caption))
        .await?;
    ctx.local_change();
    Ok(media)
}

#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn remove_media(ctx: &AppContext, media_id: Uuid) -> CommandResult<()> {
    ctx.with_store(move |store| store.remove_media(media_id))
        .await?;
    ctx.local_change();
    Ok(())
}

/// Serial numbers and models read from the barcodes in the installation's
/// photos, for the report screen to offer (the technician confirms one).
#[tracing::instrument(skip(ctx), err(level = "warn"))]
pub async fn label_offers(
    ctx: &AppContext,
    installation_id: Uuid,
) -> CommandResult<Vec<LabelOffer>> {
    ctx.with_store(move |store| store.label_offers(installation_id))
        .await
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The Tauri commands: one line each over the functions above.
pub mod commands {
    use super::*;

    #[tauri::command]
    pub async fn attach_media(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
        paths: Vec<String>,
        on_progress: Channel<AttachProgress>,
    ) -> CommandResult<Vec<InstallationMedia>> {
        // A closed channel (the screen was left) must not stop the import.
        let send = move |progress| drop(on_progress.send(progress));
        super::attach_media(&ctx, installation_id, paths, send).await
    }

    #[tauri::command]
    pub async fn set_media_caption(
        ctx: State<'_, AppContext>,
        media_id: Uuid,
        caption: String,
    ) -> CommandResult<InstallationMedia> {
        super::set_media_caption(&ctx, media_id, caption).await
    }

    #[tauri::command]
    pub async fn remove_media(ctx: State<'_, AppContext>, media_id: Uuid) -> CommandResult<()> {
        super::remove_media(&ctx, media_id).await
    }

    #[tauri::command]
    pub async fn label_offers(
        ctx: State<'_, AppContext>,
        installation_id: Uuid,
    ) -> CommandResult<Vec<LabelOffer>> {
        super::label_offers(&ctx, installation_id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::test_support::{png_bytes, Fixture};

    fn write_photo(fx: &Fixture, name: &str, seed: u8) -> String {
        let path = fx.dir.path().join(name);
        std::fs::write(&path, png_bytes(seed)).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[tokio::test]
    async fn attaches_photos_reporting_progress_to_the_end() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        let paths = vec![
            write_photo(&fx, "meter.png", 1),
            write_photo(&fx, "charger.png", 2),
        ];
        let seen = Arc::new(Mutex::new(Vec::<AttachProgress>::new()));
        let sink = Arc::clone(&seen);
        let attached = attach_media(&fx.ctx, id, paths.clone(), move |p| {
            sink.lock().unwrap().push(p)
        })
        .await
        .unwrap();
        assert_eq!(attached.len(), 2);
        let seen = seen.lock().unwrap().clone();
        for (path, media) in paths.iter().zip(&attached) {
            let last = seen
                .iter()
                .rfind(|p| &p.path == path)
                .expect("progress per file");
            assert_eq!(last.bytes_done, last.bytes_total);
            assert_eq!(last.bytes_total, media.file.size);
            assert!(fx.ctx.media().contains(&media.file.sha256));
        }

        let detail = crate::installations::get_installation(&fx.ctx, id)
            .await
            .unwrap();
        assert_eq!(detail.media.len(), 2);

        let captioned = set_media_caption(&fx.ctx, attached[0].id, "Meter before".into())
            .await
            .unwrap();
        assert_eq!(captioned.caption, "Meter before");
        remove_media(&fx.ctx, attached[1].id).await.unwrap();
        let detail = crate::installations::get_installation(&fx.ctx, id)
            .await
            .unwrap();
        assert_eq!(detail.media.len(), 1);
        assert_eq!(detail.media[0].caption, "Meter before");
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_added_is_named_and_earlier_ones_stay() {
        let fx = Fixture::new();
        let id = fx.started_job().await;
        let notes = fx.dir.path().join("notes.txt");
        std::fs::write(&notes, "not a photo").unwrap();
        let paths = vec![
            write_photo(&fx, "ok.png", 3),
            notes.to_string_lossy().into_owned(),
            write_photo(&fx, "never.png", 4),
        ];
        let err = attach_media(&fx.ctx, id, paths, |_| {}).await.unwrap_err();
        assert!(err.message.starts_with("notes.txt: "), "{}", err.message);
        let detail = crate::installations::get_installation(&fx.ctx, id)
            .await
            .unwrap();
        assert_eq!(detail.media.len(), 1);

        let missing = fx
            .dir
            .path()
            .join("gone.jpg")
            .to_string_lossy()
            .into_owned();
        let err = attach_media(&fx.ctx, id, vec![missing], |_| {})
            .await
            .unwrap_err();
        assert!(err.message.starts_with("gone.jpg: "), "{}", err.message);
    }
}
