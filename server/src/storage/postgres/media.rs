//! Media records, and which records still wait for their blob.

use fieldbook_domain::{InstallationMedia, Sha256Hex};
use fieldbook_protocol::{EntityKind, TombstoneReason, Versioned};
use uuid::Uuid;

use super::rows::{parse_uuid, to_json};
use super::versions::TombstoneAudience;
use super::{timestamp, PgDb, PgTx};
use crate::storage::{MediaReads, MediaWrites, StorageError};

impl MediaReads for PgDb<'_> {
    fn media(&self, id: Uuid) -> Result<Option<Versioned<InstallationMedia>>, StorageError> {
        self.body_by_id("SELECT body, seq FROM media WHERE id = $1", &id.to_string())
    }

    fn media_hashes_of(&self, installation: Uuid) -> Result<Vec<Sha256Hex>, StorageError> {
        self.rows(
            "SELECT sha256 FROM media WHERE installation_id = $1",
            &[&installation.to_string()],
        )?
        .into_iter()
        .map(|r| {
            let s: String = r.try_get(0)?;
            s.parse()
                .map_err(|_| StorageError::Corrupt(format!("sha256 {s:?}")))
        })
        .collect()
    }

    fn awaiting_blobs(
        &self,
        limit: usize,
    ) -> Result<Vec<(EntityKind, Uuid, Sha256Hex)>, StorageError> {
        let mut out = Vec::new();
        for (kind, sql) in [
            (
                EntityKind::Media,
                "SELECT id, sha256 FROM media WHERE blob_present = 0 LIMIT $1",
            ),
            (
                EntityKind::Report,
                "SELECT id, signature_sha256 FROM reports WHERE signature_blob_present = 0 LIMIT $1",
            ),
        ] {
            for r in self.rows(sql, &[&(limit as i64)])? {
                let (id, hash): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                let hash = hash
                    .parse()
                    .map_err(|_| StorageError::Corrupt(format!("sha256 {hash:?}")))?;
                out.push((kind, parse_uuid(&id)?, hash));
            }
        }
        Ok(out)
    }
}

impl MediaWrites for PgTx<'_> {
    fn save_media(&mut self, media: &InstallationMedia) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            "INSERT INTO media (id, installation_id, sha256, body, received_at, seq, uploaded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, seq = excluded.seq, \
               uploaded_by = excluded.uploaded_by",
            &[
                &media.id.to_string(),
                &media.installation_id.to_string(),
                &media.file.sha256.as_str(),
                &to_json(media)?,
                &timestamp(self.now),
                &(seq as i64),
                &media.uploaded_by.to_string(),
            ],
        )?;
        self.make_user_visible_with(media.uploaded_by, media.installation_id)?;
        Ok(seq)
    }

    fn mark_media_blob_present(&mut self, media_id: Uuid) -> Result<u64, StorageError> {
        let seq = self.next_seq()?;
        self.db.execute(
            "UPDATE media SET blob_present = 1, seq = $1 WHERE id = $2",
            &[&(seq as i64), &media_id.to_string()],
        )?;
        Ok(seq)
    }

    fn delete_media(&mut self, media: &InstallationMedia) -> Result<u64, StorageError> {
        self.db
            .execute("DELETE FROM media WHERE id = $1", &[&media.id.to_string()])?;
        self.tombstone(
            EntityKind::Media,
            media.id,
            TombstoneReason::Deleted,
            TombstoneAudience::EveryoneInScope,
            Some(media.installation_id),
        )
    }
}
