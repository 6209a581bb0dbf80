//! Which blobs a caller may download: a blob is reachable through the media
//! records, report signatures and completion certificates that name it, and
//! a technician only through those of installations in their teams' scope.

use super::scope::in_scope_sql;
use super::PgDb;
use crate::storage::{BlobAccessReads, Scope, StorageError};

impl BlobAccessReads for PgDb<'_> {
    fn blob_mime_in_scope(
        &self,
        sha256: &str,
        scope: Scope,
    ) -> Result<Option<String>, StorageError> {
        let sql = format!(
            "SELECT m.body::jsonb #>> '{{file,mime}}' FROM media m \
               WHERE m.sha256 = :sha AND {media_scope} \
             UNION ALL \
             SELECT 'image/png' FROM reports r \
               WHERE r.signature_sha256 = :sha AND {report_scope} \
             UNION ALL \
             SELECT 'application/pdf' FROM report_certificates c \
               WHERE c.sha256 = :sha AND {certificate_scope} \
             LIMIT 1",
            media_scope = in_scope_sql("m.installation_id"),
            report_scope = in_scope_sql("r.installation_id"),
            certificate_scope = in_scope_sql("c.installation_id"),
        );
        let rows = self.named_rows(
            &sql,
            &[
                (":sha", &sha256),
                (":all", &(scope.everything as i64)),
                (":user", &scope.user_id.to_string()),
            ],
        )?;
        rows.first()
            .map(|r| {
                Ok(r.try_get::<_, Option<String>>(0)?
                    .unwrap_or_else(|| "application/octet-stream".to_owned()))
            })
            .transpose()
    }
}
