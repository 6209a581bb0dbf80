//! The label search of the photos attached on this device: the barcodes and
//! QR codes in a photo are looked for after its import, never during it (a
//! photo without a code can take seconds), one photo at a time, holding the
//! store's lock only to pick the next photo and to record what was found.
//! Every waiting photo gets a quick look first; the rest of the search
//! follows for those where the quick look found nothing.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use fieldbook_media::label_codes::{LabelSearch, SearchDepth};
use serde::Serialize;
use uuid::Uuid;

use super::in_transaction;
use crate::error::Result;
use crate::rows::media_codes::{self, WaitingLabelSearch};
use crate::Store;

/// About how long one photo's search may take: no new pass starts after it.
/// A label photographed to be read is found in the first passes, well
/// within it; a photo without a code stops here instead of trying every
/// angle at full size.
pub const LABEL_SEARCH_BUDGET: Duration = Duration::from_secs(3);

/// One photo's label search has finished; sent to the report screen, which
/// asks for the offers again (see [`Store::label_offers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LabelsRead {
    pub installation_id: Uuid,
    pub media_id: Uuid,
    /// How many codes the photo holds (0: none found).
    pub codes: u32,
}

impl Store {
    /// The next label search due (see [`WaitingLabelSearch::depth`]).
    pub fn next_label_search(&self) -> Result<Option<WaitingLabelSearch>> {
        media_codes::next_waiting(&self.conn)
    }

    /// Records a photo's search of `depth`. Returns whether the photo's
    /// search is finished: false after a quick look that found nothing (the
    /// rest is due), and when the photo was removed meanwhile (nothing is
    /// recorded then).
    pub fn record_label_search(
        &mut self,
        media_id: Uuid,
        depth: SearchDepth,
        search: &LabelSearch,
    ) -> Result<bool> {
        in_transaction(self, |tx, _| {
            media_codes::record_search(tx, media_id, depth, search, Utc::now())
        })
    }
}

/// Runs label searches until one photo's search is finished and returns
/// it; `None` when nothing is waiting. Every waiting photo gets the quick
/// look before any gets the rest of the search (about `budget` of work,
/// see [`fieldbook_media::label_codes::search_codes_to`]), so a label
/// photo is read at once even behind photos without a code. A photo whose
/// file cannot be read is recorded as searched without codes, so it is not
/// tried forever. The store's lock is not held during a search.
pub fn run_next_label_search(store: &Mutex<Store>, budget: Duration) -> Result<Option<LabelsRead>> {
    loop {
        let Ok(guard) = store.lock() else {
            return Ok(None);
        };
        let Some(waiting) = guard.next_label_search()? else {
            return Ok(None);
        };
        let media = guard.media.clone();
        drop(guard);
        // A decoder panic on a strange photo costs its codes, not the reader.
        let searched = std::panic::catch_unwind(AssertUnwindSafe(|| {
            media.search_label_codes(&waiting.sha256, waiting.depth, budget)
        }));
        let search = match searched {
            Ok(Ok(search)) => search,
            Ok(Err(error)) => {
                tracing::warn!(media_id = %waiting.media_id, %error, "the photo's label could not be searched");
                LabelSearch::default()
            }
            Err(_) => {
                tracing::warn!(media_id = %waiting.media_id, "the barcode decoder failed on this photo");
                LabelSearch::default()
            }
        };
        let Ok(mut guard) = store.lock() else {
            return Ok(None);
        };
        if guard.record_label_search(waiting.media_id, waiting.depth, &search)? {
            return Ok(Some(LabelsRead {
                installation_id: waiting.installation_id,
                media_id: waiting.media_id,
                codes: search.codes.len() as u32,
            }));
        }
    }
}
