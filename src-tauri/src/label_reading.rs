//! Reads serial labels in the background. Attaching a photo queues its
//! label search in the store; this reader runs the searches one photo at a
//! time on its own thread (see [`fieldbook_store::run_next_label_search`])
//! and tells the window when one finished ([`LABELS_READ_EVENT`]), so the
//! report screen asks for its offers again. An import never waits for it.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use fieldbook_store::LABEL_SEARCH_BUDGET;
use fieldbook_store::{run_next_label_search, LabelsRead, Store};
use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::broadcast;

use crate::context::AppContext;

/// The event carrying each [`LabelsRead`].
pub const LABELS_READ_EVENT: &str = "labels://read";

/// Cheap to clone; the reader thread ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct LabelReader {
    wake: SyncSender<()>,
    reads: broadcast::Sender<LabelsRead>,
}

impl LabelReader {
    /// Starts the reader thread. It holds the store weakly: a closed store
    /// stops it.
    pub fn start(store: &Arc<Mutex<Store>>, budget: Duration) -> LabelReader {
        // One pending wake is enough: the reader drains the whole queue.
        let (wake, woken) = mpsc::sync_channel(1);
        let (reads, _) = broadcast::channel(64);
        let reader = LabelReader { wake, reads };
        let (store, sender) = (Arc::downgrade(store), reader.reads.clone());
        let spawned = std::thread::Builder::new()
            .name("label-reader".to_owned())
            .spawn(move || read_while_woken(&store, &woken, &sender, budget));
        if let Err(error) = spawned {
            // Photos still attach; their labels are searched by the next start.
            tracing::warn!(%error, "the label reader could not start");
        }
        reader
    }

    /// Photos are waiting (just attached, or left from the last run).
    pub fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::warn!("the label reader has stopped; labels are read at the next start")
            }
        }
    }

    /// Every search finished from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LabelsRead> {
        self.reads.subscribe()
    }
}

fn read_while_woken(
    store: &Weak<Mutex<Store>>,
    woken: &Receiver<()>,
    reads: &broadcast::Sender<LabelsRead>,
    budget: Duration,
) {
    while woken.recv().is_ok() {
        loop {
            let Some(store) = store.upgrade() else {
                return;
            };
            match run_next_label_search(&store, budget) {
                Ok(Some(read)) => {
                    tracing::debug!(media_id = %read.media_id, codes = read.codes, "label searched");
                    // Nobody listening (no window yet) is fine: the screen
                    // asks for the offers when it opens.
                    let _ = reads.send(read);
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "label search stopped");
                    break;
                }
            }
        }
    }
}

/// Emits every [`LabelsRead`] as [`LABELS_READ_EVENT`], until the reader
/// goes away.
pub async fn forward_reads<R: Runtime>(app: AppHandle<R>, ctx: AppContext) {
    let mut reads = ctx.labels().subscribe();
    drop(ctx);
    loop {
        match reads.recv().await {
            Ok(read) => {
                if let Err(e) = app.emit(LABELS_READ_EVENT, &read) {
                    tracing::warn!(error = %e, "could not tell the window a label was read");
                }
            }
            // Missed some: the screen asks for every offer anyway.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::test_support::Fixture;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_attached_label_photo_is_read_after_the_import_returned() {
        let fx = Fixture::new();
        let job = fx.started_job().await;
        let mut reads = fx.ctx.labels().subscribe();
        let label =
            fieldbook_testkit::qr_label_photo(fx.dir.path(), "SN=EVC-22-0042;MODEL=Pulsar Plus");
        let attached = crate::media::attach_media(
            &fx.ctx,
            job,
            vec![label.to_string_lossy().into_owned()],
            |_| {},
        )
        .await
        .unwrap();
        let read = tokio::time::timeout(Duration::from_secs(120), reads.recv())
            .await
            .expect("the label is read in the background")
            .unwrap();
        assert_eq!(
            (read.media_id, read.installation_id, read.codes),
            (attached[0].id, job, 1)
        );
        let offers = crate::media::label_offers(&fx.ctx, job).await.unwrap();
        assert_eq!(offers[0].serial_number.as_deref(), Some("EVC-22-0042"));
        assert_eq!(offers[0].model.as_deref(), Some("Pulsar Plus"));
    }
}
