//! Push: the outbox in order, in batches. Each answer is applied on its
//! own: `applied` acknowledges the entry, `rejected` / `conflict` parks it in
//! needs-attention with the server's reason (a refused entry never blocks the
//! ones behind it), `held` moves it to the job's held work (received,
//! waiting for Central Ops), network errors and 5xx stop the push with the entries
//! still pending, to be sent again (the server answers a resent mutation id
//! with its stored answer, so nothing applies twice).

use std::sync::Mutex;

use fieldbook_protocol::{
    MutationEnvelope, MutationOutcome, PushRequest, RejectCode, MAX_PUSH_BATCH,
};
use fieldbook_store::OutboxEntry;

use crate::client::ApiClient;
use crate::error::SyncError;
use crate::recovery;
use crate::settings::{Settings, SettingsFile};
use crate::{lock_store, with_store, SharedStore};

/// Mutations per request: the server's maximum.
pub const PUSH_BATCH: usize = MAX_PUSH_BATCH;

/// How often one push may renumber after a `sequence_gap` before giving up
/// (each repair is exact, so a second gap for the same entry means the
/// server is confused and retrying later is the safe move).
const MAX_SEQUENCE_REPAIRS: u32 = 3;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushSummary {
    pub applied: u64,
    pub refused: u64,
    /// Received by the server and held for Central Ops to decide on.
    pub held: u64,
    /// The server had lost mutations this device sent before (restored or
    /// reset): the caller pulls everything again.
    pub server_lost_history: bool,
}

/// This device's sequence offsets and where they are saved.
#[derive(Debug)]
pub struct SequenceOffsets<'a> {
    pub settings: &'a Mutex<Settings>,
    pub file: &'a SettingsFile,
}

impl SequenceOffsets<'_> {
    fn get(&self, device_id: uuid::Uuid) -> i64 {
        self.settings
            .lock()
            .expect("settings lock poisoned")
            .sequence_offset(device_id)
    }

    fn set(&self, device_id: uuid::Uuid, offset: i64) -> Result<(), SyncError> {
        let mut settings = self.settings.lock().expect("settings lock poisoned");
        let mut updated = settings.clone();
        updated.sequence_offsets.insert(device_id, offset);
        // Saved before it is used: a crash after sending under the new
        // numbering must not come back with the old one.
        self.file.save(&updated)?;
        *settings = updated;
        Ok(())
    }
}

fn envelope(entry: &OutboxEntry, offset: i64) -> Result<MutationEnvelope, SyncError> {
    let device_seq = u64::try_from(entry.sequence - offset)
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| {
            SyncError::Protocol(format!(
                "outbox entry {} maps to device sequence {}",
                entry.sequence,
                entry.sequence - offset
            ))
        })?;
    Ok(MutationEnvelope {
        mutation_id: entry.mutation_id,
        device_id: entry.device_id,
        device_seq,
        base_version: entry.base_version.and_then(|v| u64::try_from(v).ok()),
        mutation: entry.mutation.clone(),
    })
}

/// Pushes every pending outbox entry. `progress(done, total)` counts
/// answered entries.
pub async fn push_all(
    client: &ApiClient,
    token: &str,
    store: &SharedStore,
    offsets: &SequenceOffsets<'_>,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<PushSummary, SyncError> {
    let total = with_store(store, |s| s.outbox_counts())?.pending;
    let mut summary = PushSummary::default();
    let mut repairs = 0;
    let mut done = 0;
    loop {
        let batch = with_store(store, |s| s.pending_outbox(PUSH_BATCH))?;
        if batch.is_empty() {
            return Ok(summary);
        }
        let envelopes = batch
            .iter()
            .map(|entry| envelope(entry, offsets.get(entry.device_id)))
            .collect::<Result<Vec<_>, _>>()?;
        let request = PushRequest {
            mutations: envelopes,
        };
        let span = tracing::info_span!(
            "push_batch",
            entries = batch.len(),
            first_sequence = batch.first().map(|e| e.sequence),
        );
        let response =
            match tracing::Instrument::instrument(client.push(token, &request), span.clone()).await
            {
                Ok(response) => response,
                Err(e) => {
                    if e.is_retryable() {
                        let message = e.to_string();
                        with_store(store, |s| {
                            for entry in &batch {
                                s.record_push_failure(entry.mutation_id, &message)?;
                            }
                            Ok(())
                        })?;
                    }
                    return Err(e);
                }
            };
        // The answers are applied without an await: the span can be entered.
        let _entered = span.enter();
        tracing::debug!(answers = response.results.len(), "push answered");
        let mut renumbered = false;
        {
            let mut lock = lock_store(store);
            let mut store = lock.side();
            for ((entry, sent), result) in
                batch.iter().zip(&request.mutations).zip(&response.results)
            {
                match &result.outcome {
                    MutationOutcome::Applied { version } => {
                        let version = i64::try_from(*version).map_err(|_| {
                            SyncError::Protocol(format!("version {version} is out of range"))
                        })?;
                        store.acknowledge_outbox(entry.mutation_id, version)?;
                        summary.applied += 1;
                    }
                    MutationOutcome::Rejected {
                        code: RejectCode::SequenceGap,
                        reason,
                        expected_device_seq,
                    } => {
                        // Nothing from here on in this batch was recorded
                        // (every later number is off by the same amount).
                        let repair = recovery::expected_sequence(*expected_device_seq, reason)
                            .and_then(|expected| {
                                recovery::repair_sequence(entry.sequence, sent.device_seq, expected)
                            })
                            .ok_or_else(|| {
                                SyncError::Protocol(format!("unreadable sequence gap: {reason}"))
                            })?;
                        repairs += 1;
                        if repairs > MAX_SEQUENCE_REPAIRS {
                            return Err(SyncError::Protocol(format!(
                                "the server keeps refusing this device's sequence: {reason}"
                            )));
                        }
                        tracing::warn!(
                            local_sequence = entry.sequence,
                            sent = sent.device_seq,
                            offset = repair.offset,
                            lost_history = repair.server_lost_history,
                            "the server expects another device sequence; renumbering"
                        );
                        // The store is not needed while the offset is saved.
                        drop(lock);
                        offsets.set(entry.device_id, repair.offset)?;
                        summary.server_lost_history |= repair.server_lost_history;
                        renumbered = true;
                        break;
                    }
                    MutationOutcome::Rejected {
                        code: RejectCode::ForeignDevice,
                        ..
                    } => return Err(SyncError::ForeignDevice),
                    MutationOutcome::Rejected { code, reason, .. } => {
                        tracing::info!(
                            mutation = %entry.mutation_id,
                            kind = entry.kind.as_str(),
                            code = ?code,
                            reason = %reason,
                            "mutation rejected; parked for the technician"
                        );
                        store.move_to_needs_attention(entry.mutation_id, reason)?;
                        summary.refused += 1;
                    }
                    MutationOutcome::Conflict { server_state } => {
                        tracing::info!(
                            mutation = %entry.mutation_id,
                            kind = entry.kind.as_str(),
                            message = %server_state.message,
                            "mutation in conflict with the server; parked for the technician"
                        );
                        store.move_to_needs_attention(entry.mutation_id, &server_state.message)?;
                        summary.refused += 1;
                    }
                    // Received and kept for Central Ops: not an error, not
                    // for needs-attention; the decision comes with a pull.
                    MutationOutcome::Held {
                        held_work_id,
                        message,
                    } => {
                        store.hold_outbox_entry(entry.mutation_id, *held_work_id, message)?;
                        summary.held += 1;
                    }
                }
                done += 1;
                progress(done, total.max(done));
            }
        }
        if !renumbered && batch.len() < PUSH_BATCH {
            // Entries recorded while this batch was in flight wait for the
            // next round of the loop (the caller's next sync).
            return Ok(summary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use fieldbook_domain::{InstallationStatus, Mutation, MutationKind};
    use fieldbook_store::OutboxState;
    use uuid::Uuid;

    fn entry(sequence: i64) -> OutboxEntry {
        let mutation = Mutation::InstallationFinish {
            installation_id: Uuid::new_v4(),
            expected_from: InstallationStatus::InProgress,
            at: Utc::now(),
        };
        OutboxEntry {
            mutation_id: Uuid::new_v4(),
            device_id: Uuid::new_v4(),
            sequence,
            kind: MutationKind::InstallationFinish,
            installation_id: mutation.installation_id(),
            mutation,
            base_version: Some(41),
            created_at: Utc::now(),
            state: OutboxState::Pending,
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn envelopes_carry_the_entry_under_the_servers_numbering() {
        let e = entry(12);
        let sent = envelope(&e, 0).unwrap();
        assert_eq!(sent.device_seq, 12);
        assert_eq!(sent.mutation_id, e.mutation_id);
        assert_eq!(sent.base_version, Some(41));
        assert_eq!(envelope(&e, 11).unwrap().device_seq, 1);
        assert_eq!(envelope(&e, 12).unwrap_err().code(), "protocol");
    }
}
